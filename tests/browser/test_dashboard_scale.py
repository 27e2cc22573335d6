"""The dashboard at 100 events in 5 groups, in a real browser: search, folding groups from the keyboard, charts and
overlays remembered on the server for the user (another browser sees them), dark mode, and a 390 px phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import browser_page, save_screenshot, saved_preferences, sign_in

ADMIN = "admin@lab.example"
GROUPS = ["Reactor", "Utilities", "Cooling", "Power", "Vacuum"]
KINDS = [("temperature", "°C"), ("pressure", "bar"), ("flow", "l/min"), ("level", "%")]
LONG_NAME = "Reactor 1 jacket inlet temperature after the secondary heat exchanger, north side"


def event_id(group: str, n: int) -> str:
    return f"evt_{group.lower()}_{n:02d}"


def event_name(group: str, n: int) -> str:
    kind, _ = KINDS[n % len(KINDS)]
    return LONG_NAME if (group, n) == ("Reactor", 0) else f"{group} {kind} {n}"


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def hundred_events_with_readings(server) -> None:
    """20 events in each group (the fixture's two stay without one: "Other"), each with a reading every 30 s for
    the last 5 minutes, so every card has a value and a sparkline."""
    for group in GROUPS:
        for n in range(20):
            server.execute("INSERT INTO events (public_id, name, unit, group_name) VALUES (%s, %s, %s, %s)",
                           event_id(group, n), event_name(group, n), KINDS[n % len(KINDS)][1], group)
    now = datetime.now(UTC)
    readings = [{"event_public_id": event_id(group, n), "value": float(n + (k + n) % 4),
                 "timestamp": stamp(now - timedelta(seconds=30 * k))}
                for group in GROUPS for n in range(20) for k in range(10)]
    for at in range(0, len(readings), 500):
        status, answer = await server.api("POST", "/datapoints", {"datapoints": readings[at:at + 500]},
                                          token=server.token("admin"))
        assert status == 201, answer


def cards(page: Page):
    return page.locator("article.card")


def charts(page: Page):
    return page.locator("figure[data-chart]")


def saved_layout(server) -> dict:
    return saved_preferences(server, ADMIN).get("dashboard", {})


async def colours_drawn(page: Page, chart_selector: str) -> list[int]:
    """For each of the chart's series colours, how many canvas pixels are close to it (the overlay draws both)."""
    return await page.evaluate("""(selector) => {
        const figure = document.querySelector(selector);
        const canvas = figure.querySelector('canvas');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = [...figure.querySelectorAll('.legend .swatch')].map((swatch) =>
            getComputedStyle(swatch).backgroundColor.match(/\\d+/g).map(Number));
        return colours.map(([r, g, b]) => {
            let near = 0;
            for (let at = 0; at < pixels.length; at += 4) {
                if (pixels[at + 3] > 200 && Math.abs(pixels[at] - r) + Math.abs(pixels[at + 1] - g)
                    + Math.abs(pixels[at + 2] - b) < 40) near += 1;
            }
            return near;
        });
    }""", chart_selector)


async def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate("""(width) => [...document.querySelectorAll('body *')]
        .filter((node) => node.getBoundingClientRect().right > width + 0.5)
        .slice(0, 5).map((node) => node.outerHTML.slice(0, 120))""", width)
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide on a {width} px screen: {wide}"


@pytest.mark.gen_test(timeout=120)
async def test_a_hundred_events_search_fold_chart_overlay_and_follow_the_user_to_another_browser(server, chromium):
    server.add_user(ADMIN, "admin")
    await hundred_events_with_readings(server)
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await expect(cards(page)).to_have_count(102)
        await expect(page.get_by_test_id("found")).to_have_text("102 events")
        await expect(page.locator("section.group h2")).to_have_text(
            [re.compile(rf"^▾\s*{name}\s*\({count}\)$") for name, count in
             [("Cooling", 20), ("Power", 20), ("Reactor", 20), ("Utilities", 20), ("Vacuum", 20), ("Other", 2)]])
        await expect(charts(page)).to_have_count(12)  # the first twelve until the user chooses
        await expect(page.locator(f'[data-event="{event_id("Power", 3)}"] .value')).to_have_text(re.compile(r"\d"))

        # The long name: cut on screen, whole for screen readers and on hover.
        long_card = page.get_by_role("article", name=LONG_NAME)
        await expect(long_card).to_be_visible()
        await expect(long_card.locator(".name")).to_have_attribute("title", f"{LONG_NAME} (evt_reactor_00)")
        await expect(page.locator("svg.sparkline path")).to_have_count(100)  # the two without readings have none
        await save_screenshot(page, "dashboard-100.png")

        # The search narrows the cards (words in any order, any case), and says how many it found.
        search = page.get_by_role("searchbox", name="Search events")
        await search.fill("FLOW cooling")
        await expect(cards(page)).to_have_count(5)
        await expect(page.get_by_test_id("found")).to_have_text("5 of 102 events")
        await expect(page.locator("section.group")).to_have_count(1)
        await search.fill("")
        await expect(cards(page)).to_have_count(102)

        # A group folds and unfolds from the keyboard.
        reactor = page.get_by_role("button", name=re.compile(r"^.?\s*Reactor \(20\)$"))
        await reactor.focus()
        await page.keyboard.press("Enter")
        await expect(reactor).to_have_attribute("aria-expanded", "false")
        await expect(page.locator('[data-group="Reactor"] article.card')).to_have_count(0)
        await page.keyboard.press("Space")
        await expect(reactor).to_have_attribute("aria-expanded", "true")
        await expect(page.locator('[data-group="Reactor"] article.card')).to_have_count(20)
        await page.keyboard.press("Enter")  # folded again: remembered with the charts
        await expect(reactor).to_have_attribute("aria-expanded", "false")

        # Charting: one more chart from its card, then a pressure overlaid on a flow chart (two units).
        power = event_id("Power", 3)
        await page.get_by_role("checkbox", name=f"Show the chart of {event_name('Power', 3)}", exact=True).check()
        await expect(charts(page)).to_have_count(13)
        await expect(page.locator(f'figure[data-chart="{power}"]')).to_be_visible()
        # Both charted by default (the first twelve by group and name: Cooling's flows, levels, then pressures).
        pressure = event_id("Cooling", 1)  # "Cooling pressure 1", bar
        flow = event_id("Cooling", 2)  # "Cooling flow 2", l/min
        await page.get_by_role("button", name=f"Overlay {event_name('Cooling', 1)} on another chart").click()
        picker = page.get_by_role("group", name=f"Overlay {event_name('Cooling', 1)} on a chart")
        await expect(picker).to_be_visible()
        await expect(picker.get_by_role("button").first).to_be_focused()
        await picker.get_by_role("button", name=event_name("Cooling", 2), exact=True).click()
        await expect(picker).to_have_count(0)
        overlaid = f'figure[data-events="{flow} {pressure}"]'
        await expect(page.locator(overlaid)).to_have_count(1)
        await expect(charts(page)).to_have_count(12)  # the pressure's own chart joined the flow's
        for event in (flow, pressure):
            await expect(page.locator(f'{overlaid} [data-series="{event}"]')).to_have_attribute(
                "data-points", re.compile(r"^[1-9]"))
        await page.locator(overlaid).scroll_into_view_if_needed()
        await page.wait_for_timeout(600)  # a redraw or two
        drawn = await colours_drawn(page, overlaid)
        assert len(drawn) == 2 and all(count > 20 for count in drawn), drawn  # both lines are drawn

        # Looking back, the overlay is drawn from each event's buckets.
        await page.get_by_role("button", name="1 h").click()
        for event in (flow, pressure):
            await expect(page.locator(f'{overlaid} [data-series="{event}"]')).to_have_attribute(
                "data-buckets", re.compile(r"^[1-9]"))
        await page.get_by_role("button", name="Live").click()
        await expect(page.locator(overlaid)).to_have_attribute("data-points", re.compile(r"^[1-9]"))

        expected = [[flow, pressure], [power]]
        await server.wait_for(lambda: all(chart in saved_layout(server).get("charts", []) for chart in expected))
        assert saved_layout(server)["collapsed"] == ["Reactor"]

        # A reload shows the same, from the server.
        await page.reload()
        await expect(cards(page)).to_have_count(82)
        await expect(page.locator("svg.sparkline path")).to_have_count(80)
        await expect(charts(page)).to_have_count(12)
        await expect(page.locator(overlaid)).to_have_count(1)
        await expect(page.locator(f'figure[data-chart="{power}"]')).to_have_count(1)

        # Another browser, signed in as the same user: the same charts and folded group.
        browser = page.context.browser
        assert browser is not None
        other = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            second = await other.new_page()
            await sign_in(second, server.url("", "http"), email=ADMIN)
            await expect(charts(second)).to_have_count(12)
            await expect(second.locator(overlaid)).to_have_count(1)
            await expect(second.locator(f'figure[data-chart="{power}"]')).to_have_count(1)
            await expect(second.get_by_role("button", name=re.compile(r"Reactor \(20\)$"))).to_have_attribute(
                "aria-expanded", "false")
            # Taken apart there: the pressure comes off the overlay, and the first browser sees it after a reload.
            await second.get_by_role("button", name=f"Remove {event_name('Cooling', 1)} from this chart").click()
            await expect(second.locator(f'figure[data-events="{flow}"]')).to_have_count(1)
            await server.wait_for(lambda: [flow, pressure] not in saved_layout(server).get("charts", []))
        finally:
            await other.close()
        await page.reload()
        await expect(page.locator(f'figure[data-events="{flow}"]')).to_have_count(1)
        chart_box = page.get_by_role("checkbox", name=f"Show the chart of {event_name('Cooling', 1)}", exact=True)
        await expect(chart_box).not_to_be_checked()

        # Dark mode, by the toggle; back to the system's choice (light here).
        await page.get_by_role("button", name="Dark").click()
        await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(17, 24, 39)"
        await expect(charts(page)).to_have_count(12)  # made again in the dark theme's colours
        await expect(page.locator("svg.sparkline path")).to_have_count(80)
        await save_screenshot(page, "dashboard-dark.png")
        await page.get_by_role("button", name="System").click()
        await expect(page.locator("html")).not_to_have_attribute("data-theme", "dark")
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(243, 244, 246)"


@pytest.mark.gen_test(timeout=90)
async def test_dark_mode_follows_the_system_until_the_user_picks_one(server, chromium):
    server.add_user(ADMIN, "admin")
    async with browser_page(chromium) as page:
        await page.emulate_media(color_scheme="dark")
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await expect(charts(page)).to_have_count(2)
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(17, 24, 39)"
        await expect(page.get_by_role("button", name="System")).to_have_attribute("aria-pressed", "true")
        await page.get_by_role("button", name="Light").click()
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(243, 244, 246)"
        await page.reload()  # the choice is this browser's
        await expect(page.get_by_role("button", name="Light")).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(243, 244, 246)"


@pytest.mark.gen_test(timeout=90)
async def test_a_hundred_events_on_a_390_px_phone_never_scroll_sideways(server, chromium):
    server.add_user(ADMIN, "admin")
    await hundred_events_with_readings(server)
    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 390, "height": 844})
        await sign_in(page, server.url("", "http"), email=ADMIN)  # an admin: the widest top bar and toolbar
        await expect(cards(page)).to_have_count(102)
        await expect(charts(page)).to_have_count(12)
        await no_horizontal_overflow(page, 390)
        for box in [await cards(page).first.bounding_box(), await charts(page).first.bounding_box()]:
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await save_screenshot(page, "dashboard-100-390.png")
        # Every other page too, each holding the 100 events' names somewhere (filters, tables).
        for route in ("#/datapoints", "#/alarms", "#/controllers", "#/activity", "#/events", "#/experiments",
                      "#/users"):
            await page.goto(server.url("/" + route, "http"))
            await page.wait_for_timeout(500)
            await no_horizontal_overflow(page, 390)



@pytest.mark.gen_test(timeout=120)
async def test_looking_back_reads_the_history_of_the_charted_events_only(server, chromium):
    server.add_user(ADMIN, "admin")
    await hundred_events_with_readings(server)
    async with browser_page(chromium) as page:
        asked: list[list[str]] = []
        page.on("request", lambda request: asked.append(parse_qs(urlsplit(request.url).query)["event_public_id"])
                if "/datapoints/series" in request.url else None)
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await expect(charts(page)).to_have_count(12)
        charted = set(await charts(page).evaluate_all("(figures) => figures.map((f) => f.dataset.chart)"))
        asked.clear()  # the Live window's 15 minutes, read for every card (their sparklines)
        await page.get_by_role("button", name="24 h").click()
        await expect(charts(page).first).to_have_attribute("data-buckets", re.compile(r"^[1-9]"))
        assert {event for request in asked for event in request} == charted  # not the other 90 cards
        asked.clear()

        # One more chart while looking back: its own history is read, the others' kept.
        power = event_id("Power", 3)
        await page.get_by_role("checkbox", name=f"Show the chart of {event_name('Power', 3)}", exact=True).check()
        added = page.locator(f'figure[data-chart="{power}"]')
        await expect(added).to_have_attribute("data-buckets", re.compile(r"^[1-9]"))
        assert asked == [[power]]
