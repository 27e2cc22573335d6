"""Commands from the dashboard in a real browser: an operator switches an actuator, sets a range and presses
a button, the reference simulator carries them out, and each card shows its command's status and new value."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from controller.simulator import Simulator
from tests.browser.helpers import browser_page, save_screenshot, sign_in

pytestmark = pytest.mark.usefixtures("users")

PUMP = {"public_id": "evt_pump01", "name": "Coolant pump", "type": "actuator"}
HEATER = {"public_id": "evt_heat01", "name": "Heater", "type": "range", "unit": "°C", "min_value": 0, "max_value": 100}
VENT = {"public_id": "evt_vent01", "name": "Purge vent", "type": "cmd_button"}
ACKED_WITHIN = 10_000  # ms: the simulator acks at once; polling and the stream add a second or so


def card(page: Page, event: dict):
    return page.locator(f'[data-event="{event["public_id"]}"]')


async def command_via_api(server, event: dict, value: float) -> dict:
    """Send a command through the API as an admin and wait until its controller acks it."""
    admin = server.token("admin")
    status, command = await server.api("POST", f"/events/{event['public_id']}/commands", {"value": value}, token=admin)
    assert status == 202, command

    async def acked() -> bool:
        nonlocal command
        status, command = await server.api("GET", f"/commands/{command['command_id']}", token=admin)
        assert status == 200 and command["status"] in ("pending", "delivered", "acked"), command
        return command["status"] == "acked"

    await server.wait_for(acked, timeout=ACKED_WITHIN / 1000)
    return command


async def create_events(server, *events: dict) -> None:
    for event in events:
        status, created = await server.api("POST", "/events", event, token=server.token("admin"))
        assert status == 201, created


@contextlib.asynccontextmanager
async def simulating(server, *events: dict) -> AsyncIterator[Simulator]:
    """The reference simulator as a controller registered for these events, in this process, until the block ends."""
    ids = [event["public_id"] for event in events]
    status, created = await server.api("POST", "/controllers", {"name": "Test rig", "events": ids},
                                       token=server.token("admin"))
    assert status == 201, created
    url = server.url("/ws/controller/telemetry?token=" + created["access_token"])
    simulator = Simulator(url, ids, rate=5.0, batch=1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    try:
        await server.wait_for(lambda: simulator.acked >= len(ids))  # connected, and its readings are stored
        yield simulator
    finally:
        stop.set()
        await running
        assert simulator.fatal is None, simulator.fatal


@pytest.mark.gen_test(timeout=90)
async def test_an_operator_switches_an_actuator_on_and_sets_a_range_and_each_command_is_acked(server, chromium):
    await create_events(server, PUMP, HEATER, VENT)
    async with simulating(server, PUMP, HEATER, VENT), browser_page(chromium) as page:
        await command_via_api(server, PUMP, 0)  # the simulator's pump reads a wave until it is told a state
        await page.set_viewport_size({"width": 1366, "height": 900})
        await sign_in(page, server.url("", "http"))
        pump = card(page, PUMP)
        switch = page.get_by_role("button", name="Set Coolant pump")
        await expect(pump.locator(".value")).to_have_text("0")
        await expect(switch).to_have_attribute("aria-pressed", "false")

        await switch.focus()
        await page.keyboard.press("Space")  # from the keyboard
        await expect(pump.get_by_test_id("command-status")).to_have_text("acked", timeout=ACKED_WITHIN)
        await expect(pump.locator(".value")).to_have_text("1")  # the acked value, stored and streamed
        await expect(switch).to_have_attribute("aria-pressed", "true")
        await expect(switch).to_be_focused()
        await expect(switch).to_have_accessible_description("acked")
        await expect(pump.get_by_test_id("command-announcement")).to_have_text("Coolant pump on: acked.")

        heater = card(page, HEATER)
        setpoint = page.get_by_role("spinbutton", name="Setpoint of Heater")
        await setpoint.fill("42")
        await setpoint.press("Enter")
        await expect(heater.get_by_test_id("command-status")).to_have_text("acked", timeout=ACKED_WITHIN)
        await expect(page.get_by_role("slider", name="Setpoint of Heater")).to_have_value("42")
        await expect(heater.locator(".value")).to_have_text("42")  # the simulator's signal follows its setpoint
        await expect(heater.get_by_test_id("command-announcement")).to_have_text("Heater set to 42: acked.")

        await page.get_by_role("button", name="Send Purge vent").click()
        await expect(card(page, VENT).get_by_test_id("command-status")).to_have_text("acked", timeout=ACKED_WITHIN)

        status, listed = await server.api("GET", f"/events/{PUMP['public_id']}/commands", token=server.token("admin"))
        assert status == 200, listed
        newest = listed["commands"][0]  # newest first; the one before it is the setup's 0
        assert (newest["value"], newest["status"], newest["created_by"]) == (1, "acked", "op@lab.example")
        assert [command["value"] for command in listed["commands"]] == [1, 0]
        await save_screenshot(page, "commands.png")

        # Outside the event's bounds: the page checks before sending, and says what it takes.
        await setpoint.fill("150")
        await page.get_by_role("button", name="Set Heater").click()
        await expect(heater.get_by_test_id("command-error")).to_have_text("Enter a value from 0 to 100.")
        await expect(setpoint).to_have_attribute("aria-invalid", "true")

        # The server's word wins: bounds narrowed since the page loaded refuse 42 with a 400, shown beside it.
        status, _ = await server.api("PUT", f"/events/{HEATER['public_id']}", {"max_value": 40},
                                     token=server.token("admin"))
        assert status == 200
        await setpoint.fill("42")
        await setpoint.press("Enter")
        await expect(heater.get_by_test_id("command-error")).to_have_text(
            "Not sent: value must be within the event's range, 0 to 40")
        await expect(heater.get_by_test_id("command-status")).to_have_text("")

        # On a phone: loaded at 390 px (Live charts keep the width they were drawn at), the pump switched off.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.reload()
        await expect(switch).to_have_attribute("aria-pressed", "true")  # from the pump's newest reading
        await switch.focus()
        await page.keyboard.press("Enter")
        await expect(pump.get_by_test_id("command-status")).to_have_text("acked", timeout=ACKED_WITHIN)
        await expect(pump.locator(".value")).to_have_text("0")
        await expect(switch).to_have_attribute("aria-pressed", "false")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        for control in (switch, setpoint, page.get_by_role("slider", name="Setpoint of Heater"),
                        page.get_by_role("button", name="Set Heater")):
            box = await control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await save_screenshot(page, "commands-390.png")


@pytest.mark.gen_test(timeout=60)
async def test_a_viewer_sees_the_values_but_no_controls(server, chromium):
    await create_events(server, PUMP, HEATER)
    status, _ = await server.api("POST", "/datapoints", {"event_public_id": PUMP["public_id"], "value": 1},
                                 token=server.token("admin"))
    assert status == 201
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        await expect(card(page, PUMP).locator(".value")).to_have_text("1")
        await expect(card(page, HEATER)).to_be_visible()
        await expect(page.locator(".command")).to_have_count(0)
        await expect(page.get_by_role("button", name="Set Coolant pump")).to_have_count(0)
        await expect(page.get_by_role("spinbutton")).to_have_count(0)
