"""axe-core (npm, package.json) on every page of the dashboard, signed in as an admin, who sees them all: no serious
or critical violation, in the light theme and the dark one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import browser_page, sign_in

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ADMIN = "admin@lab.example"
PAGES = ["#/", "#/datapoints", "#/controllers", "#/alarms", "#/activity", "#/events", "#/experiments", "#/users"]
SETTLE_MS = 800  # a page's first answers arrive and render


async def violations(page: Page) -> list[str]:
    """The serious and critical violations axe finds on the page as it is, one line each."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE))
    found = await page.evaluate("""async () => {
        const { violations } = await axe.run(document, { resultTypes: ['violations'] });
        return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.impact} ${v.id}: ${v.help}; ` + v.nodes.slice(0, 3).map((n) => n.target.join(' ')
                + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | '));
    }""")
    return list(found)


async def some_data(server) -> None:
    admin = server.token("admin")
    server.execute("UPDATE events SET group_name = 'Reactor' WHERE public_id = 'evt_temp01'")
    status, _ = await server.api("POST", "/datapoints", {"datapoints": [
        {"event_public_id": "evt_temp01", "value": 21.5}, {"event_public_id": "evt_press01", "value": 1.2}]},
        token=admin)
    assert status == 201
    status, _ = await server.api("POST", "/experiments", {"name": "Ramp test"}, token=admin)
    assert status == 201


@pytest.mark.gen_test(timeout=120)
async def test_every_page_has_no_serious_or_critical_axe_violation_in_either_theme(server, chromium):
    assert AXE.exists(), "axe-core is missing: npm ci (see the Makefile)"
    server.add_user(ADMIN, "admin")
    await some_data(server)
    async with browser_page(chromium) as page:
        await page.goto(server.url("/", "http"))
        await expect(page.get_by_label("Email")).to_be_visible()
        found = {"sign-in (light)": await violations(page)}
        await page.emulate_media(color_scheme="dark")
        found["sign-in (dark)"] = await violations(page)
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await expect(page.locator("article.card")).to_have_count(2)
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            for route in PAGES:
                await page.goto(server.url("/" + route, "http"))
                await expect(page.locator("main")).to_be_visible()
                await page.wait_for_timeout(SETTLE_MS)
                found[f"{route} ({scheme})"] = await violations(page)
            # The dashboard looking back: history charts, the buttons that move their span, a chart's cursor.
            await page.goto(server.url("/#/", "http"))
            await page.get_by_role("button", name="24 h").click()
            await expect(page.get_by_role("button", name="Zoom in")).to_be_visible()
            await page.get_by_role("group", name=re.compile("^Chart of Inlet temperature")).focus()
            await page.keyboard.press("End")
            found[f"#/ 24 h ({scheme})"] = await violations(page)
        problems = {where: lines for where, lines in found.items() if lines}
        assert not problems, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in problems.items())
