"""The datapoints table in a real browser: events by name with their units, times to the millisecond in the
browser's time zone, and in UTC at a click, a choice kept for the user on the server (another browser of theirs
sees it, other users do not)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.helpers import browser_page, save_screenshot, saved_preferences, sign_in

pytestmark = pytest.mark.usefixtures("users")

OPERATOR = "op@lab.example"


async def store_two_readings(server) -> None:
    status, _ = await server.api("POST", "/datapoints", {"datapoints": [
        {"event_public_id": "evt_temp01", "value": 21.5, "timestamp": "2026-11-26T10:00:00.123Z"},
        {"event_public_id": "evt_press01", "value": 1.25, "timestamp": "2026-11-26T09:59:59.007Z"}]},
        token=server.token("admin"))
    assert status == 201


async def datapoints_in_tokyo(browser: Browser, server, errors: list[str], email: str = OPERATOR) -> Page:
    """A fresh browser (a new context: its own storage) in Tokyo, where local time is not UTC, signed in as `email`
    and on the Datapoints page."""
    context = await browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, server.url("", "http"), email)
    await page.get_by_role("link", name="Datapoints").click()
    return page


def newest_time(page: Page):
    return page.locator("tbody tr").nth(0).get_by_test_id("time")


@pytest.mark.gen_test(timeout=60)
async def test_datapoints_show_event_names_units_and_milliseconds_in_the_browsers_zone_or_utc(server, chromium):
    await store_two_readings(server)
    errors: list[str] = []
    async with browser_page(chromium) as first:
        assert first.context.browser is not None
        page = await datapoints_in_tokyo(first.context.browser, server, errors)
        rows = page.locator("tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.get_by_test_id("time-heading")).to_have_text("Time (Asia/Tokyo)")
        await expect(rows.nth(0).get_by_test_id("time")).to_have_text("2026-11-26 19:00:00.123")
        await expect(rows.nth(0).get_by_test_id("event")).to_have_text("Inlet temperature")
        await expect(rows.nth(0).locator("td.number")).to_have_text("21.5 °C")
        await expect(rows.nth(1).get_by_test_id("time")).to_have_text("2026-11-26 18:59:59.007")
        await expect(rows.nth(1).get_by_test_id("event")).to_have_text("Pressure")
        await expect(page.get_by_role("option", name="Pressure (bar)")).to_have_count(1)

        await page.get_by_role("checkbox", name="Times in UTC").check()
        await expect(page.get_by_test_id("time-heading")).to_have_text("Time (UTC)")
        await expect(rows.nth(0).get_by_test_id("time")).to_have_text("2026-11-26 10:00:00.123")
        await expect(rows.nth(1).get_by_test_id("time")).to_have_text("2026-11-26 09:59:59.007")
        await save_screenshot(page, "datapoints.png")
    assert not errors, errors


@pytest.mark.gen_test(timeout=60)
async def test_the_utc_choice_follows_the_user_to_another_browser_and_not_to_other_users(server, chromium):
    await store_two_readings(server)
    errors: list[str] = []
    async with browser_page(chromium) as first:
        browser = first.context.browser
        assert browser is not None
        page = await datapoints_in_tokyo(browser, server, errors)
        await expect(page.get_by_test_id("time-heading")).to_have_text("Time (Asia/Tokyo)")
        await page.get_by_role("checkbox", name="Times in UTC").check()
        # Off to the dashboard at once, before the change is sent: it is still kept, not lost to the dashboard's
        # reading of the preferences.
        await page.get_by_role("link", name="Dashboard").click()
        await server.wait_for(lambda: saved_preferences(server, OPERATOR).get("datapoints") == {"utc": True})

        elsewhere = await datapoints_in_tokyo(browser, server, errors)
        await expect(elsewhere.get_by_test_id("time-heading")).to_have_text("Time (UTC)")
        await expect(newest_time(elsewhere)).to_have_text("2026-11-26 10:00:00.123")
        await expect(elsewhere.get_by_role("checkbox", name="Times in UTC")).to_be_checked()

        viewer = await datapoints_in_tokyo(browser, server, errors, "viewer@lab.example")
        await expect(viewer.get_by_test_id("time-heading")).to_have_text("Time (Asia/Tokyo)")
        await expect(newest_time(viewer)).to_have_text("2026-11-26 19:00:00.123")
        await expect(viewer.get_by_role("checkbox", name="Times in UTC")).not_to_be_checked()
    assert not errors, errors


@pytest.mark.gen_test(timeout=60)
async def test_a_choice_the_server_cannot_read_or_save_is_reported_and_times_start_local(server, chromium):
    await store_two_readings(server)
    errors: list[str] = []
    # A real failure of the real server: the column the choices live in is gone while the page is used.
    server.execute("ALTER TABLE users RENAME COLUMN preferences TO preferences_away")
    try:
        async with browser_page(chromium) as first:
            assert first.context.browser is not None
            page = await datapoints_in_tokyo(first.context.browser, server, errors)
            problem = page.get_by_role("alert").filter(has_text="time zone choice")
            await expect(problem).to_have_text("Could not read your time zone choice: Internal Server Error")
            await expect(page.get_by_test_id("time-heading")).to_have_text("Time (Asia/Tokyo)")
            await expect(newest_time(page)).to_have_text("2026-11-26 19:00:00.123")

            await page.get_by_role("checkbox", name="Times in UTC").check()
            await expect(newest_time(page)).to_have_text("2026-11-26 10:00:00.123")  # on this page all the same
            await expect(problem).to_have_text("Could not save your time zone choice: Internal Server Error")
    finally:
        server.execute("ALTER TABLE users RENAME COLUMN preferences_away TO preferences")
    assert not errors, errors
