"""Honest status and sessions in a real browser: the stream ends with the session, the indicator says what is
true, the session's end is said in advance, and what the user typed outlives it."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from playwright.async_api import ConsoleMessage, Page, Response, expect

from handlers.base import SocketHandler
from handlers.stream import StreamHandler
from models.tokens import issue_token, verify_token
from tests.browser.helpers import browser_page, save_screenshot, saved_preferences, sign_in
from tests.browser.test_accessibility import violations
from tests.helpers import TEST_SECRET, USER_PASSWORD, database_unreachable

pytestmark = pytest.mark.usefixtures("users")

OPERATOR = "op@lab.example"
SESSION_KEY = "webmacs.session"
WARNING_BACKGROUND = "rgb(254, 243, 199)"  # --warning-bg


def status(page: Page):
    return page.get_by_test_id("connection-mode")


def indicator(page: Page):
    return page.locator(".connection")


async def stored_session(page: Page) -> dict:
    return json.loads(await page.evaluate(f"sessionStorage.getItem('{SESSION_KEY}')"))


def short_login_token(server, email: str, ttl: int) -> str:
    """A login token of this user that ends in `ttl` seconds, as /auth/login would give it."""
    with server.sql.cursor() as cur:
        cur.execute("SELECT id, role FROM users WHERE email = %s", (email,))
        user_id, role = cur.fetchone()
    return issue_token(TEST_SECRET, email, role, ttl, user_id=user_id)


async def accessible_in_both_themes(page: Page) -> None:
    """No serious or critical axe-core violation, light or dark."""
    found = {}
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        found[scheme] = await violations(page)
    await page.emulate_media(color_scheme="light")
    assert found == {"light": [], "dark": []}, found


async def sign_in_with_token(page: Page, base_url: str, token: str) -> None:
    """Sign in, then put `token` where the page keeps its session (without its expiry) and load the page again."""
    await sign_in(page, base_url)
    await expect(status(page)).to_have_text("live")
    kept = await stored_session(page)
    await page.evaluate("([key, value]) => sessionStorage.setItem(key, value)",
                        [SESSION_KEY, json.dumps({"token": token, "user": kept["user"]})])
    await page.reload()


@pytest.mark.gen_test(timeout=60)
async def test_the_stream_opens_with_a_ticket_and_logging_out_closes_it_at_once(server, chromium):
    async with browser_page(chromium) as page:
        sockets: list[str] = []
        page.on("websocket", lambda socket: sockets.append(socket.url))
        await sign_in(page, server.url("", "http"))
        await expect(status(page)).to_have_text("live")
        await server.wait_for(lambda: server.subscribers() == 1)
        token = (await stored_session(page))["token"]
        assert sockets and all("ticket=" in url and "token" not in url and token not in url for url in sockets)
        [held] = SocketHandler.held_token_ids()
        assert held == verify_token(TEST_SECRET, token).token_id  # the socket stands for the session's token

        # A chart taken off just before signing out (sooner than the dashboard saves a burst of clicks) is kept.
        await page.get_by_role("checkbox", name="Show the chart of Pressure", exact=True).uncheck()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await server.wait_for(lambda: server.subscribers() == 0)
        assert saved_preferences(server, OPERATOR)["dashboard"]["charts"] == [["evt_temp01"]]


@pytest.mark.settings(reconnect_base=0.2, reconnect_cap=0.4, poll_interval=0.3, stream_retry=1.0)
@pytest.mark.gen_test(timeout=90)
async def test_the_indicator_says_polling_then_offline_in_a_warning_colour_and_clears_when_things_recover(
        server, chromium):
    await server.api("POST", "/datapoints", {"event_public_id": "evt_temp01", "value": 20.5},
                     token=server.token("admin"))
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await expect(status(page)).to_have_text("live")
        await expect(page.locator('[data-event="evt_temp01"] .value')).to_have_text("20.5")
        await expect(indicator(page)).to_have_attribute("data-status", "live")
        last_data = page.get_by_test_id("last-data")
        await expect(last_data).to_have_text(re.compile(r"^· last data \d+ s ago$"))

        server.app.config = dataclasses.replace(server.app.config, refuse_stream=True)
        StreamHandler.close_all()
        await expect(status(page)).to_have_text("polling", timeout=15_000)
        await expect(page.get_by_test_id("connection-problem")).to_have_count(0)  # polls work: nothing is wrong

        with database_unreachable(server):
            await expect(status(page)).to_have_text("offline", timeout=15_000)
            await expect(indicator(page)).to_have_attribute("data-status", "offline")
            colours = await indicator(page).evaluate(
                "node => [getComputedStyle(node).backgroundColor, getComputedStyle(node).color]")
            assert colours == [WARNING_BACKGROUND, "rgb(120, 53, 15)"], colours  # --warning-bg, --warning-on
            await expect(last_data).to_have_text(re.compile(r"^· last data at \d{1,2}:\d\d:\d\d.* \(\d+ s ago\)$"))
            await expect(page.get_by_test_id("connection-problem")).to_have_text(re.compile(r"HTTP 503"))
            # One polite announcement per change of status: the live region holds the status alone.
            region = page.locator(".connection [role=status]")
            await expect(region).to_have_text("Live data: offline")
            await save_screenshot(page, "status-offline.png")
            await accessible_in_both_themes(page)

        await expect(status(page)).to_have_text("polling", timeout=15_000)
        await expect(page.get_by_test_id("connection-problem")).to_have_count(0)
        server.app.config = dataclasses.replace(server.app.config, refuse_stream=False)
        await expect(status(page)).to_have_text("live", timeout=15_000)
        await expect(indicator(page)).to_have_attribute("data-status", "live")
        await expect(page.get_by_test_id("connection-problem")).to_have_count(0)
        colour = await indicator(page).evaluate("node => getComputedStyle(node).backgroundColor")
        assert colour != WARNING_BACKGROUND


@pytest.mark.gen_test(timeout=60)
async def test_a_session_about_to_end_is_warned_of_then_ends_by_itself_and_signing_in_again_resumes(
        server, chromium):
    async with browser_page(chromium) as page:
        await sign_in_with_token(page, server.url("", "http"), short_login_token(server, OPERATOR, ttl=12))
        warning = page.get_by_test_id("session-warning")
        await expect(warning).to_be_visible()  # well before the end: it is 12 s away, the warning comes 5 min before
        await expect(warning.get_by_role("alert")).to_have_text(re.compile(r"^Your session ends at \d{1,2}:\d\d:\d\d"))
        await expect(page.get_by_test_id("session-left")).to_have_text(re.compile(r"^0:(1[0-2]|0\d) left$"))
        await expect(status(page)).to_have_text("live")
        await save_screenshot(page, "session-warning.png")
        await accessible_in_both_themes(page)

        ended = page.get_by_role("dialog", name="Your session has ended")
        await expect(ended).to_be_visible(timeout=20_000)  # at its moment, without a click
        await server.wait_for(lambda: server.subscribers() == 0)  # the expired token's stream is closed
        await expect(page.get_by_label("Experiment name")).to_be_attached()  # the page stays behind the dialog
        await save_screenshot(page, "session-ended.png")
        await accessible_in_both_themes(page)

        await ended.get_by_label("Password").fill(USER_PASSWORD)
        await ended.get_by_role("button", name="Sign in again").click()
        await expect(ended).to_be_hidden()
        await expect(warning).to_have_count(0)
        await expect(status(page)).to_have_text("live", timeout=10_000)
        await server.wait_for(lambda: server.subscribers() == 1)


@pytest.mark.gen_test(timeout=60)
async def test_an_active_user_is_renewed_silently_and_the_stream_moves_to_the_new_token(server, chromium):
    async with browser_page(chromium) as page:
        old = short_login_token(server, OPERATOR, ttl=60)
        await sign_in_with_token(page, server.url("", "http"), old)
        await expect(page.get_by_test_id("session-warning")).to_be_visible()
        await expect(status(page)).to_have_text("live")
        await server.wait_for(lambda: SocketHandler.held_token_ids() == {verify_token(TEST_SECRET, old).token_id})

        await page.get_by_label("Experiment name").press("a")  # working: input near the end renews
        await expect(page.get_by_test_id("session-warning")).to_have_count(0)
        new = (await stored_session(page))["token"]
        assert new != old
        status_code, me = await server.api("GET", "/auth/me", token=new)
        assert status_code == 200 and me["subject"] == OPERATOR and me["expires_at"] > verify_token(
            TEST_SECRET, old).expires_at + 11 * 3600
        # The old token's socket would close when it expires: one of the new token's took its place.
        await server.wait_for(lambda: SocketHandler.held_token_ids() == {verify_token(TEST_SECRET, new).token_id})
        await expect(status(page)).to_have_text("live")


@pytest.mark.gen_test(timeout=60)
async def test_a_session_ended_by_the_server_asks_to_sign_in_again_and_keeps_what_was_typed(server, chromium):
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await expect(status(page)).to_have_text("live")
        await page.get_by_label("Experiment name").fill("Calibration run")

        token = (await stored_session(page))["token"]
        assert (await server.api("POST", "/auth/logout", token=token))[0] == 204  # e.g. signed out in another tab
        ended = page.get_by_role("dialog", name="Your session has ended")
        await expect(ended).to_be_visible()  # the stream closed with the session: no click needed to find out
        await expect(ended.get_by_label("Email")).to_have_value(OPERATOR)
        await server.wait_for(lambda: server.subscribers() == 0)

        await ended.get_by_label("Password").fill("wrong password")
        await ended.get_by_role("button", name="Sign in again").click()
        await expect(ended.get_by_role("alert")).to_have_text("Wrong email or password.")
        await ended.get_by_label("Password").fill(USER_PASSWORD)
        await ended.get_by_role("button", name="Sign in again").click()
        await expect(ended).to_be_hidden()
        await expect(page.get_by_label("Experiment name")).to_have_value("Calibration run")
        await page.get_by_role("button", name="Start").click()
        await expect(page.get_by_test_id("experiment-name")).to_have_text("Calibration run")
        await expect(status(page)).to_have_text("live", timeout=10_000)


@pytest.mark.gen_test(timeout=60)
async def test_the_page_loads_with_its_favicon_and_no_console_error_or_failed_request(server, chromium):
    async with browser_page(chromium) as page:
        problems: list[str] = []
        def note_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(message.text)

        def note_failure(response: Response) -> None:
            if response.status >= 400:
                problems.append(f"{response.status} {response.url}")

        page.on("console", note_console)
        page.on("response", note_failure)
        icons: list[tuple[int, str]] = []

        async def note_icon(response) -> None:
            if "favicon" in response.url:
                icons.append((response.status, await response.header_value("content-type") or ""))

        page.on("response", note_icon)
        await page.goto(server.url("/", "http"))
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await sign_in(page, server.url("", "http"))
        await expect(status(page)).to_have_text("live")
        await page.reload()
        await expect(status(page)).to_have_text("live")
        await page.wait_for_load_state("networkidle")
        assert icons and all(code == 200 for code, _ in icons), icons  # once per load, from the cache after
        assert icons[0][1].startswith("image/svg+xml"), icons
        assert problems == []
