"""The dashboard in a real browser: sign in, live values and charts, and the fallback to polling and back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from handlers.stream import StreamHandler
from tests.browser.helpers import browser_page, save_screenshot, sign_in

pytestmark = pytest.mark.usefixtures("users")


def card_value(page: Page, event: str):
    return page.locator(f'[data-event="{event}"] .value')


def chart(page: Page, event: str):
    return page.locator(f'[data-chart="{event}"]')


def mode(page: Page):
    return page.get_by_test_id("connection-mode")


@contextlib.asynccontextmanager
async def controller_sending(server, event: str, interval: float) -> AsyncIterator[list[float]]:
    """A controller sending readings 1, 2, 3, ... until the block ends; yields the values acked so far. It stops
    between messages, so every reading it sent is acked and in the list (the page shows the last of them)."""
    peer = await server.connect_controller()
    acked: list[float] = []
    stopping = asyncio.Event()

    async def send() -> None:
        value = 0.0
        while not stopping.is_set():
            value += 1
            peer.send({"event_public_id": event, "value": value, "seq": value})
            answer = await peer.receive()
            assert answer["type"] == "ack" and answer["public_ids"][0], answer
            acked.append(value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)

    task = asyncio.ensure_future(send())
    try:
        yield acked
    finally:
        stopping.set()
        await task
        peer.close()


def stored_count(server, event: str) -> int:
    return sum(1 for row in server.rows() if row["event_public_id"] == event)


@pytest.mark.gen_test(timeout=60)
async def test_operator_signs_in_and_sees_history_then_live_values_and_charts(server, chromium):
    await server.api("POST", "/datapoints", {"event_public_id": "evt_press01", "value": 1.25},
                     token=server.token("admin"))
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))

        await expect(mode(page)).to_have_text("live")
        await expect(card_value(page, "evt_press01")).to_have_text("1.25")  # history, before anything live
        await expect(chart(page, "evt_press01")).to_have_attribute("data-points", "1")

        async with controller_sending(server, "evt_temp01", interval=0.05) as acked:
            await server.wait_for(lambda: len(acked) >= 5)
        await expect(card_value(page, "evt_temp01")).to_have_text(f"{acked[-1]:g}")
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-points", str(len(acked)))
        await expect(page.locator('[data-event="evt_temp01"] .unit')).to_have_text("°C")
        # From the keyboard: the newest point read out, then the one before it.
        await page.get_by_role("group", name=re.compile("^Live chart of Inlet temperature")).focus()
        readout = chart(page, "evt_temp01").get_by_role("status")
        await page.keyboard.press("End")
        await expect(readout).to_have_text(re.compile(rf": {acked[-1]:g} °C$"))
        await page.keyboard.press("ArrowLeft")
        await expect(readout).to_have_text(re.compile(rf": {acked[-2]:g} °C$"))
        await page.keyboard.press("Escape")
        await expect(readout).to_have_text("")

        await page.get_by_label("Experiment name").fill("Calibration run")
        await page.get_by_role("button", name="Start").click()
        await expect(page.get_by_test_id("experiment-name")).to_have_text("Calibration run")
        status, listed = await server.api("GET", "/experiments", token=server.token("admin"))
        assert [(e["name"], e["running"]) for e in listed["data"]] == [("Calibration run", True)]
        # The Live charts mark the running experiment from its start.
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-experiment", listed["data"][0]["public_id"])
        await save_screenshot(page, "dashboard.png")

        await page.get_by_role("button", name="Stop").click()
        await expect(page.get_by_test_id("experiment-name")).to_have_text("none running")
        await expect(chart(page, "evt_temp01")).not_to_have_attribute("data-experiment", listed["data"][0]["public_id"])


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def post_readings(server, readings: list[dict]) -> None:
    for at in range(0, len(readings), 100):
        status, _ = await server.api("POST", "/datapoints", {"datapoints": readings[at:at + 100]},
                                     token=server.token("admin"))
        assert status == 201


@pytest.mark.gen_test(timeout=90)
async def test_live_shows_each_events_last_15_minutes_though_another_has_1000_newer_readings(server, chromium):
    now = datetime.now(UTC)
    quiet = [{"event_public_id": "evt_press01", "value": float(n), "timestamp": stamp(now - timedelta(seconds=10 * n))}
             for n in range(1, 89)]  # every 10 s over the last 15 minutes
    busy = [{"event_public_id": "evt_temp01", "value": float(n),
             "timestamp": stamp(now - timedelta(seconds=9) + timedelta(milliseconds=7 * n))}
            for n in range(1200)]  # all newer than the quiet event's, some before the seam and some after it
    await post_readings(server, quiet + busy)

    async with browser_page(chromium) as page:
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        await sign_in(page, server.url("", "http"))
        await expect(mode(page)).to_have_text("live")
        # Every stored reading once: in a bucket or as itself, never both, never neither.
        await expect(chart(page, "evt_press01")).to_have_attribute("data-points", str(len(quiet)))
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-points", str(len(busy)))
        assert int(await chart(page, "evt_press01").get_attribute("data-buckets") or 0) == len(quiet)
        await expect(card_value(page, "evt_press01")).to_have_text("1")
        await expect(page.get_by_role("button", name="Live")).to_have_attribute("aria-pressed", "true")

        lists = [url for url in asked if re.search(r"/api/v1/datapoints\?", url)]
        assert lists and all(re.search(r"[?&](page_size=1(&|$)|from=|after=)", url) for url in lists), lists
        series = [url for url in asked if "/api/v1/datapoints/series?" in url]
        assert len(series) == 1 and "event_public_id=evt_press01" in series[0] and "evt_temp01" in series[0]

        async with controller_sending(server, "evt_press01", interval=0.05) as acked:
            await server.wait_for(lambda: len(acked) >= 5)
        await expect(chart(page, "evt_press01")).to_have_attribute("data-points", str(len(quiet) + len(acked)))
        await expect(card_value(page, "evt_press01")).to_have_text(f"{acked[-1]:g}")


@pytest.mark.gen_test(timeout=60)
async def test_viewer_sees_the_experiment_but_no_start_or_stop(server, chromium):
    await server.api("POST", "/experiments", {"name": "Overnight soak"}, token=server.token("admin"))
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        await expect(page.get_by_test_id("experiment-name")).to_have_text("Overnight soak")
        await expect(page.get_by_role("button", name="Stop")).to_have_count(0)
        await expect(page.get_by_role("button", name="Start")).to_have_count(0)


@pytest.mark.settings(reconnect_base=0.2, reconnect_cap=0.4, poll_interval=0.3, stream_retry=1.0)
@pytest.mark.gen_test(timeout=90)
async def test_dashboard_polls_while_the_stream_is_refused_and_returns_with_every_point_once(server, chromium):
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await expect(mode(page)).to_have_text("live")
        await page.evaluate("""() => {
            const node = document.querySelector('[data-testid="connection-mode"]');
            window.modesSeen = [node.textContent];
            new MutationObserver(() => window.modesSeen.push(node.textContent))
                .observe(node, { childList: true, characterData: true, subtree: true });
        }""")

        async with controller_sending(server, "evt_temp01", interval=0.05) as acked:
            await server.wait_for(lambda: len(acked) >= 5)
            server.app.config = dataclasses.replace(server.app.config, refuse_stream=True)
            StreamHandler.close_all()  # as a restarting backend or a broken proxy would
            await expect(mode(page)).to_have_text("polling", timeout=15_000)
            assert await page.evaluate("window.modesSeen") == [
                "live", "reconnecting (1/3)", "reconnecting (2/3)", "reconnecting (3/3)",
                "polling"]

            shown_while_polling = await card_value(page, "evt_temp01").text_content()
            await expect(card_value(page, "evt_temp01")).not_to_have_text(shown_while_polling)  # still updating
            await save_screenshot(page, "dashboard-polling.png")

            server.app.config = dataclasses.replace(server.app.config, refuse_stream=False)
            await expect(mode(page)).to_have_text("live", timeout=15_000)
            more = len(acked) + 5
            await server.wait_for(lambda: len(acked) >= more)  # some more, live again

        await expect(card_value(page, "evt_temp01")).to_have_text(f"{acked[-1]:g}")
        stored = stored_count(server, "evt_temp01")
        assert stored == len(acked)
        # Every stored point exactly once: a gap would leave fewer, a duplicate more.
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-points", str(stored))


@pytest.mark.gen_test(timeout=60)
async def test_datapoints_page_filters_pages_and_downloads_an_experiments_csv(server, chromium):
    admin = server.token("admin")
    await server.api("POST", "/experiments", {"name": "Ramp test", "public_id": "exp_ramp"}, token=admin)
    readings = [{"event_public_id": "evt_temp01", "value": n} for n in range(30)]
    readings += [{"event_public_id": "evt_press01", "value": 100 + n} for n in range(5)]
    status, _ = await server.api("POST", "/datapoints", {"datapoints": readings}, token=admin)
    assert status == 201

    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await page.get_by_role("link", name="Datapoints").click()
        status_line = page.get_by_test_id("page-status")
        await expect(status_line).to_have_text("page 1 of 2 (35 datapoints)")

        await page.get_by_label("Events").select_option(["evt_press01"])
        await page.get_by_role("button", name="Apply").click()
        await expect(status_line).to_have_text("page 1 of 1 (5 datapoints)")
        await expect(page.locator("tbody tr")).to_have_count(5)
        async with page.expect_download() as downloading:  # the current filter, as CSV
            await page.get_by_role("button", name="Download CSV of this selection").click()
        selected = Path(await (await downloading.value).path()).read_text(encoding="utf-8").splitlines()
        assert selected[0] == "timestamp,event,value,unit,experiment,stored_by"
        assert sorted(line.split(",")[2] for line in selected[1:]) == [str(100.0 + n) for n in range(5)]

        await page.get_by_label("Events").select_option([])
        await page.get_by_role("button", name="Apply").click()
        await page.get_by_role("button", name="Next").click()
        await expect(status_line).to_have_text("page 2 of 2 (35 datapoints)")
        await expect(page.locator("tbody tr")).to_have_count(10)

        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Download CSV").click()
        download = await downloading.value
        assert download.suggested_filename == "exp_ramp.csv"
        lines = Path(await download.path()).read_text(encoding="utf-8").splitlines()
        assert lines[0] == "timestamp,event,value,unit,stored_by" and len(lines) == 1 + 35


@pytest.mark.gen_test(timeout=90)
async def test_picking_24_h_shows_a_day_of_history_as_bands_and_dragging_zooms_in(server, chromium):
    admin = server.token("admin")
    now = datetime.now(UTC)
    history = [{"event_public_id": "evt_temp01", "value": 20 + (n % 10),
                "timestamp": (now - timedelta(minutes=5 * n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
               for n in range(1, 280)]  # a reading every 5 minutes for the last 23 hours and more
    for at in range(0, len(history), 100):
        assert (await server.api("POST", "/datapoints", {"datapoints": history[at:at + 100]}, token=admin))[0] == 201

    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await page.get_by_role("button", name="24 h").click()
        temperature = chart(page, "evt_temp01")
        await expect(temperature).to_have_attribute("data-buckets", re.compile(r"^[1-9][0-9]+$"))
        day = int(await temperature.get_attribute("data-to")) - int(await temperature.get_attribute("data-from"))
        assert day == 86_400_000
        await expect(page.get_by_role("button", name="24 h")).to_have_attribute("aria-pressed", "true")
        await save_screenshot(page, "dashboard-24h.png")

        box = await temperature.locator(".u-over").bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2, steps=5)
        await page.mouse.up()
        await expect(page.get_by_role("button", name="Reset zoom")).to_be_visible()
        zoomed = int(await temperature.get_attribute("data-to")) - int(await temperature.get_attribute("data-from"))
        assert 0 < zoomed < day / 3  # a quarter of the day, fetched again for that span

        await page.get_by_role("button", name="Reset zoom").click()
        await expect(temperature).to_have_attribute("data-from", str(int(await temperature.get_attribute("data-to"))
                                                                     - day))


# What a chart's canvas shows over its plot: for columns at these fractions of its width, the share of pixels
# tinted and nothing more (the experiment band: faint, where the rest of the canvas is transparent), and how many
# pixels are clearly red-brown (a warning threshold's line and label).
CANVAS_COLOURS = """([figure, fractions]) => {
  const canvas = figure.querySelector("canvas"), over = figure.querySelector(".u-over");
  const area = over.getBoundingClientRect(), box = canvas.getBoundingClientRect();
  const scale = canvas.width / box.width;
  const width = Math.floor(area.width * scale), height = Math.floor(area.height * scale);
  const pixels = canvas.getContext("2d").getImageData((area.left - box.left) * scale, (area.top - box.top) * scale,
                                                     width, height).data;
  const tinted = fractions.map((fraction) => {
    const x = Math.floor(fraction * (width - 1));
    let count = 0;
    for (let y = 0; y < height; y++) {
      const alpha = pixels[(y * width + x) * 4 + 3];
      if (alpha > 10 && alpha < 80) count += 1;
    }
    return count / height;
  });
  let warning = 0;
  for (let at = 0; at < pixels.length; at += 4) {
    const [red, green, blue, alpha] = pixels.slice(at, at + 4);
    if (alpha > 60 && red > green + 50 && red > blue + 50) warning += 1;
  }
  return { tinted, warning };
}"""


@pytest.mark.gen_test(timeout=90)
async def test_history_charts_shade_past_experiments_draw_thresholds_and_answer_the_keyboard(server, chromium):
    admin = server.token("admin")
    now = datetime.now(UTC)
    await post_readings(server, [{"event_public_id": "evt_temp01", "value": 20 + (n % 10),
                                  "timestamp": stamp(now - timedelta(minutes=10 * n))} for n in range(1, 140)])
    # An experiment from 12 h ago to 6 h ago: the third quarter of the day's chart.
    server.execute("INSERT INTO experiments (public_id, name, started_at, stopped_at) VALUES ('exp_soak', 'Soak',"
                   " %s, %s)", now - timedelta(hours=12), now - timedelta(hours=6))
    status, _ = await server.api("POST", "/rules", {"name": "Too hot", "event_public_id": "evt_temp01",
                                                    "condition": "above", "threshold": 50}, token=admin)
    assert status == 201

    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await page.get_by_role("button", name="24 h").click()
        temperature = chart(page, "evt_temp01")
        await expect(temperature).to_have_attribute("data-experiments", "exp_soak")
        await expect(temperature).to_have_attribute("data-buckets", re.compile(r"^[1-9][0-9]+$"))
        await expect(temperature.locator("figcaption")).to_contain_text("alarm thresholds: above 50")
        await expect(temperature.locator("figcaption")).to_contain_text("experiment Soak shaded")
        await save_screenshot(page, "dashboard-history-marks.png")
        # On the canvas: the experiment's quarter is tinted, the rest is not; the threshold line (50, above
        # every reading: the axis stretched to show it) is drawn across.
        drawn = await temperature.evaluate_handle("(figure) => figure")
        colours = await page.evaluate(CANVAS_COLOURS, [drawn, [0.6, 0.7, 0.1, 0.9]])
        inside, outside = colours["tinted"][:2], colours["tinted"][2:]
        assert min(inside) > 0.5 and max(outside) < 0.1, colours
        assert colours["warning"] > 300, colours

        # The keyboard: the arrows read the buckets out; + zooms in around the cursor.
        plot = page.get_by_role("group", name=re.compile(r"^Chart of Inlet temperature"))
        await plot.focus()
        spoken = temperature.get_by_role("status")
        await page.keyboard.press("End")
        await expect(spoken).to_contain_text("°C (average")
        newest = await spoken.text_content()
        await page.keyboard.press("ArrowLeft")
        await expect(spoken).not_to_have_text(newest or "")
        await expect(spoken).to_contain_text("°C (average")
        day = int(await temperature.get_attribute("data-to")) - int(await temperature.get_attribute("data-from"))
        await page.keyboard.press("+")
        await expect(page.get_by_role("button", name="Reset zoom")).to_be_visible()
        span = lambda: temperature.evaluate("(figure) => figure.dataset.to - figure.dataset.from")  # noqa: E731
        assert await span() == day / 2
        await page.keyboard.press("-")
        await expect(temperature).to_have_attribute("data-from", re.compile(r"\d"))
        await page.wait_for_function("() => { const f = document.querySelector('[data-chart=\"evt_temp01\"]');"
                                     f" return f.dataset.to - f.dataset.from === {day}; }}")
        # And the toolbar's buttons, for everyone.
        before = int(await temperature.get_attribute("data-from"))
        await page.get_by_role("button", name="Earlier").click()
        await expect(temperature).to_have_attribute("data-from", str(before - day // 2))
        await page.get_by_role("button", name="Zoom in").click()
        await page.wait_for_function("() => { const f = document.querySelector('[data-chart=\"evt_temp01\"]');"
                                     f" return f.dataset.to - f.dataset.from === {day // 2}; }}")
        # On a phone the history's controls wrap: nothing scrolls sideways.
        await page.set_viewport_size({"width": 390, "height": 844})
        await expect(page.get_by_role("button", name="Later")).to_be_visible()
        # (the charts follow the new width a frame later, when their ResizeObserver hears of it)
        await page.wait_for_function("document.documentElement.scrollWidth <= 390")


@pytest.mark.gen_test(timeout=60)
async def test_live_charts_shade_the_running_experiment_from_its_start(server, chromium):
    # Started 5 minutes ago: the last third of the 15-minute Live window.
    server.execute("INSERT INTO experiments (public_id, name, started_at) VALUES ('exp_run', 'Ramp',"
                   " now() - interval '5 minutes')")
    await server.api("POST", "/datapoints", {"event_public_id": "evt_temp01", "value": 20}, token=server.token("admin"))
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        temperature = chart(page, "evt_temp01")
        await expect(temperature).to_have_attribute("data-experiment", "exp_run")
        await expect(temperature.locator("figcaption")).to_contain_text("experiment Ramp running, marked from its")
        drawn = await temperature.evaluate_handle("(figure) => figure")
        colours = await page.evaluate(CANVAS_COLOURS, [drawn, [0.8, 0.95, 0.2, 0.5]])
        inside, outside = colours["tinted"][:2], colours["tinted"][2:]
        assert min(inside) > 0.5 and max(outside) < 0.1, colours
        await save_screenshot(page, "dashboard-experiment.png")


@pytest.mark.gen_test(timeout=60)
async def test_on_a_390_px_phone_cards_and_live_charts_fit_and_charts_toggle_from_the_keyboard(server, chromium):
    now = datetime.now(UTC)
    await post_readings(server, [{"event_public_id": "evt_temp01", "value": 20.0 + n % 3,
                                  "timestamp": stamp(now - timedelta(seconds=30 * n))} for n in range(30)])
    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 390, "height": 844})
        # A viewer: an operator's experiment form is still wider than a phone (issue 14), and so is the top bar.
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        temperature = chart(page, "evt_temp01")
        await expect(temperature).to_have_attribute("data-points", "30")
        for box in [await page.locator(".card").first.bounding_box(), await temperature.bounding_box()]:
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await save_screenshot(page, "dashboard-390.png")

        toggle = page.get_by_role("checkbox", name="Show the chart of Inlet temperature")
        await toggle.focus()
        await page.keyboard.press("Space")
        await expect(temperature).to_have_count(0)
        await expect(toggle).not_to_be_checked()
        await page.keyboard.press("Space")
        await expect(temperature).to_have_attribute("data-points", "30")
        await expect(page.get_by_role("article", name="Inlet temperature")).to_be_visible()


def presence(page: Page, controller: str):
    return page.locator(f'[data-controller="{controller}"] [data-testid="presence"]')


async def register_controller(server, name: str, **scope) -> dict:
    status, created = await server.api("POST", "/controllers", {"name": name, **scope}, token=server.token("admin"))
    assert status == 201, created
    return created


@pytest.mark.gen_test(timeout=60)
async def test_a_stale_event_is_marked_on_its_card_and_chart_until_a_fresh_reading_comes(server, chromium):
    admin = server.token("admin")
    status, _ = await server.api("PUT", "/events/evt_temp01", {"stale_after": 60}, token=admin)
    assert status == 200
    await post_readings(server, [{"event_public_id": "evt_temp01", "value": 21.5,
                                  "timestamp": stamp(datetime.now(UTC) - timedelta(minutes=3))}])
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        card = page.locator('[data-event="evt_temp01"]')
        await expect(card).to_have_attribute("data-stale", "true")
        await expect(card.get_by_test_id("stale-note")).to_have_text(re.compile(r"no data for 3 min$"))
        await expect(card.locator(".value")).to_have_text("21.5")
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-stale", "true")
        await expect(chart(page, "evt_temp01").locator("figcaption")).to_contain_text("no data for 3 min")
        # Screen readers: the card's description says it, and one polite announcement, not one per tick.
        await expect(page.get_by_role("article", name="Inlet temperature")).to_have_accessible_description(
            re.compile(r"no data for 3 min"))
        await expect(page.get_by_test_id("announcement")).to_have_text("No data from Inlet temperature.")
        await expect(page.locator('[data-event="evt_press01"]')).to_have_attribute("data-stale", "false")
        await save_screenshot(page, "dashboard-stale.png")

        async with controller_sending(server, "evt_temp01", interval=0.2) as acked:
            await server.wait_for(lambda: len(acked) >= 1)
            await expect(card).to_have_attribute("data-stale", "false")  # the server's word, within a second or so
        await expect(card.locator(".value")).to_have_text(f"{acked[-1]:g}")
        await expect(card.get_by_test_id("stale-note")).to_have_count(0)
        await expect(chart(page, "evt_temp01")).to_have_attribute("data-stale", "false")
        await expect(page.get_by_test_id("announcement")).to_have_text("Data again from Inlet temperature.")


@pytest.mark.gen_test(timeout=60)
async def test_an_operator_sees_controllers_come_online_and_go_offline_but_cannot_register_or_revoke(
        server, chromium):
    created = await register_controller(server, "Boiler room", events=["evt_temp01"])
    row = f'[data-controller="{created["public_id"]}"]'
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"))
        await page.get_by_role("link", name="Controllers").click()
        await expect(presence(page, created["public_id"])).to_have_text("offline")
        await expect(page.locator(row)).to_contain_text("Boiler room")
        await expect(page.locator(row)).to_contain_text("evt_temp01")  # its scope
        await expect(page.get_by_role("button", name="Register")).to_have_count(0)
        await expect(page.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)

        controller = await server.connect_controller(created["access_token"])
        await expect(presence(page, created["public_id"])).to_have_text("online", timeout=10_000)
        await expect(page.locator(row)).to_contain_text("127.0.0.1")

        await page.set_viewport_size({"width": 390, "height": 844})  # each controller stacks into lines
        box = await page.locator(row).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await save_screenshot(page, "controllers-390.png")

        controller.close()
        await expect(presence(page, created["public_id"])).to_have_text("offline", timeout=10_000)


@pytest.mark.gen_test(timeout=60)
async def test_a_viewer_has_no_controllers_view(server, chromium):
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        await expect(page.get_by_role("link", name="Datapoints")).to_be_visible()
        await expect(page.get_by_role("link", name="Controllers")).to_have_count(0)
        await page.goto(server.url("/#/controllers", "http"))
        await expect(page.locator(".cards")).to_be_visible()  # the dashboard instead
        await expect(page.locator("main.controllers")).to_have_count(0)


@pytest.mark.gen_test(timeout=60)
async def test_an_admin_registers_a_controller_sees_its_token_once_and_revokes_it(server, chromium):
    server.add_user("admin@lab.example", "admin")
    async with browser_page(chromium) as page:
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        await sign_in(page, server.url("", "http"), email="admin@lab.example")
        await page.get_by_role("link", name="Controllers").click()
        # The dashboard's own "Name" fields (experiment, alarm rules) are gone once the page has changed.
        await expect(page.locator("main.controllers")).to_be_visible()

        await page.get_by_label("Name").fill("Pump 2")
        await page.get_by_role("radio", name="these events").check()
        await page.get_by_label("Event ids").fill("evt_press01")
        await page.get_by_label("Event ids").press("Enter")  # submits from the keyboard
        panel = page.get_by_test_id("new-token")
        await expect(panel).to_contain_text("Shown only once")
        await expect(page.get_by_role("heading", name="Token of Pump 2")).to_be_focused()
        token = await page.get_by_role("textbox", name="Token").input_value()
        assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token), token
        await page.get_by_role("button", name="Copy").click()
        await expect(panel.get_by_role("status")).to_have_text("Copied to the clipboard.")
        assert await page.evaluate("navigator.clipboard.readText()") == token

        status, listed = await server.api("GET", "/controllers", token=server.token("admin"))
        [created] = listed["data"]
        assert (created["name"], created["events"]) == ("Pump 2", ["evt_press01"])
        controller = await server.connect_controller(token)  # the token shown is the controller's
        await expect(presence(page, created["public_id"])).to_have_text("online", timeout=10_000)
        await save_screenshot(page, "controllers.png")

        await page.get_by_role("button", name="Done: hide the token").click()
        await expect(panel).to_have_count(0)
        await expect(page.get_by_label("Name")).to_be_focused()
        await page.reload()
        await expect(presence(page, created["public_id"])).to_have_text("online", timeout=10_000)
        assert token not in await page.content()  # never shown again

        page.once("dialog", lambda dialog: dialog.accept())  # "Revoke controller "Pump 2" (ctl_...)? ..."
        await page.get_by_role("button", name="Revoke Pump 2").click()
        code, _ = await controller.closed()
        assert code == 1008
        row = page.locator(f'[data-controller="{created["public_id"]}"]')
        await expect(row.get_by_test_id("revoked")).to_be_visible()
        await expect(page.get_by_role("button", name="Revoke Pump 2")).to_have_count(0)
