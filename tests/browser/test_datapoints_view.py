"""The datapoints table in a real browser: events by name with their units, times to the millisecond in the browser's
time zone, and in UTC at a click (remembered in this browser)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.helpers import browser_page, save_screenshot, sign_in

pytestmark = pytest.mark.usefixtures("users")


@pytest.mark.gen_test(timeout=60)
async def test_datapoints_show_event_names_units_and_milliseconds_in_the_browsers_zone_or_utc(server, chromium):
    status, _ = await server.api("POST", "/datapoints", {"datapoints": [
        {"event_public_id": "evt_temp01", "value": 21.5, "timestamp": "2026-11-26T10:00:00.123Z"},
        {"event_public_id": "evt_press01", "value": 1.25, "timestamp": "2026-11-26T09:59:59.007Z"}]},
        token=server.token("admin"))
    assert status == 201
    async with browser_page(chromium) as first:
        browser = first.context.browser
        assert browser is not None
        tokyo = await browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
        page = await tokyo.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in(page, server.url("", "http"))
        await page.get_by_role("link", name="Datapoints").click()
        rows = page.locator("tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.get_by_test_id("time-heading")).to_have_text("Time (Asia/Tokyo)")
        await expect(rows.nth(0).get_by_test_id("time")).to_have_text("2026-11-26 19:00:00.123")
        await expect(rows.nth(0).get_by_test_id("event")).to_have_text("Inlet temperature")
        await expect(rows.nth(0).locator("td.number")).to_have_text("21.5 °C")
        await expect(rows.nth(1).get_by_test_id("time")).to_have_text("2026-11-26 18:59:59.007")
        await expect(rows.nth(1).get_by_test_id("event")).to_have_text("Pressure")
        await expect(page.get_by_role("option", name="Pressure (bar)")).to_have_count(1)

        utc = page.get_by_role("checkbox", name="Times in UTC")
        await utc.check()
        await expect(page.get_by_test_id("time-heading")).to_have_text("Time (UTC)")
        await expect(rows.nth(0).get_by_test_id("time")).to_have_text("2026-11-26 10:00:00.123")
        await save_screenshot(page, "datapoints.png")
        await page.reload()
        await expect(rows.nth(1).get_by_test_id("time")).to_have_text("2026-11-26 09:59:59.007")
        await expect(utc).to_be_checked()
        await tokyo.close()
        assert not errors, errors
