"""Alarms on the dashboard in a real browser: an operator adds a rule from an event's card, a reading over the
threshold raises an alarm that the banner counts and the card and chart mark, the operator acknowledges it with a
comment on the Alarms page and finds that in the activity log, and edits a rule in its card; a viewer sees it all but
can neither acknowledge nor edit."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from models.activity import ACTIONS
from tests.browser.helpers import browser_page, save_screenshot, sign_in

pytestmark = pytest.mark.usefixtures("users")

BOILER = {"public_id": "evt_boil01", "name": "Boiler temperature", "unit": "°C", "min_value": 0, "max_value": 100}
RAISED_WITHIN = 10_000  # ms: the server evaluates a reading as it commits; the stream or a poll brings the alarm
COMMENT = "Burner checked: the sensor reads high"


def card(page: Page, event: dict):
    return page.locator(f'[data-event="{event["public_id"]}"]')


def chart(page: Page, event: dict):
    return page.locator(f'[data-chart="{event["public_id"]}"]')


async def create_event(server, event: dict) -> None:
    status, created = await server.api("POST", "/events", event, token=server.token("admin"))
    assert status == 201, created


async def send_reading(server, event: dict, value: float) -> None:
    status, answer = await server.api("POST", "/datapoints", {"event_public_id": event["public_id"], "value": value},
                                      token=server.token("operator"))
    assert status == 201, answer


async def fits_a_phone(page: Page) -> None:
    """No sideways scrolling at 390 px; otherwise, say which elements reach past the screen's edge."""
    too_wide = await page.evaluate("""[...document.querySelectorAll("body *")]
        .map((element) => [element, Math.round(element.getBoundingClientRect().right)])
        .filter(([, right]) => right > 390)
        .map(([element, right]) => `${element.tagName}.${element.className} ${right}`)""")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, too_wide[:10]


@pytest.mark.gen_test(timeout=120)
async def test_an_operator_adds_a_rule_sees_its_alarm_and_acknowledges_it_with_a_comment(server, chromium):
    await create_event(server, BOILER)
    await send_reading(server, BOILER, 20)
    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 1366, "height": 900})
        await sign_in(page, server.url("", "http"))
        boiler = card(page, BOILER)
        await expect(boiler.locator(".value")).to_have_text("20")
        banner = page.get_by_test_id("alarm-banner")
        await expect(banner).to_have_count(0)  # nothing open

        # The rule, from the card, by keyboard: open the rules, fill the form, press Enter.
        rules = boiler.get_by_test_id("rules")
        await rules.locator("summary").focus()
        await page.keyboard.press("Enter")
        await expect(rules.locator("summary")).to_have_text("Alarm rules of Boiler temperature (0)")
        form = boiler.get_by_role("form", name="New alarm rule for Boiler temperature")
        await form.get_by_label("Name").fill("Boiler too hot")
        await form.get_by_label("Condition").select_option("above")
        await form.get_by_label("Name").press("Enter")
        await expect(form.get_by_test_id("rule-error")).to_have_text("Enter a threshold.")  # checked before sending
        await form.get_by_label("Threshold").fill("50")
        await form.get_by_label("Severity").select_option("critical")
        await form.get_by_label("Threshold").press("Enter")
        await expect(rules.locator("[data-rule]")).to_have_count(1)
        await expect(form.get_by_test_id("rule-error")).to_have_count(0)
        await expect(rules.locator("[data-rule]")).to_contain_text("Boiler too hot: above 50 critical")
        await expect(form.get_by_label("Name")).to_have_value("")  # ready for the next
        await expect(chart(page, BOILER).locator("figcaption")).to_contain_text("alarm thresholds: above 50")

        # The event's own limits, in one click: a second rule, drawn as two more lines.
        await boiler.get_by_role("button", name="Alarm outside 0 to 100 for Boiler temperature").click()
        await expect(rules.locator("[data-rule]")).to_have_count(2)
        await expect(chart(page, BOILER).locator("figcaption")).to_contain_text(
            "alarm thresholds: above 50, below 0, above 100")
        status, listed = await server.api("GET", f"/rules?event_public_id={BOILER['public_id']}",
                                          token=server.token("admin"))
        assert status == 200, listed
        assert [(rule["name"], rule["condition"], rule["threshold"], rule["low"], rule["high"], rule["severity"],
                 rule["created_by"]) for rule in listed["rules"]] == [
            ("Boiler too hot", "above", 50, None, None, "critical", "op@lab.example"),
            ("Boiler temperature outside its limits", "outside", None, 0, 100, "warning", "op@lab.example")]

        # A reading over the threshold, over the API: the banner counts it, the card and chart say it in words.
        await send_reading(server, BOILER, 80)
        await expect(banner).to_contain_text("1 open alarm: 1 critical", timeout=RAISED_WITHIN)
        await expect(banner).to_have_attribute("data-severity", "critical")
        await expect(boiler.get_by_test_id("alarm-note")).to_have_text("⚠ critical alarm: above 50")
        await expect(boiler).to_have_accessible_description("critical alarm: above 50")
        await expect(chart(page, BOILER).get_by_test_id("chart-alarm")).to_contain_text("critical alarm: above 50")
        announcement = page.get_by_test_id("alarm-announcement")
        await expect(announcement).to_have_text("Critical alarm: Boiler too hot, above 50.")
        await chart(page, BOILER).scroll_into_view_if_needed()  # charts off screen are redrawn when they come back
        await expect(chart(page, BOILER)).to_have_attribute("data-points", "2")
        await page.wait_for_timeout(500)  # a redraw, at most every 250 ms
        await save_screenshot(page, "alarms-dashboard.png")

        # The Alarms page, from the banner: acknowledged with a comment, from the keyboard.
        await banner.get_by_role("link").click()
        await expect(page.get_by_role("link", name="Alarms", exact=True)).to_have_attribute("aria-current", "page")
        alarm = page.locator("article.alarm")
        await expect(alarm).to_have_count(1)
        await expect(alarm.get_by_role("heading", name="Boiler too hot")).to_be_visible()
        await expect(alarm).to_contain_text("Boiler temperature: above 50")
        await expect(alarm.get_by_test_id("alarm-state")).to_have_text("⚠ active")
        await expect(alarm.get_by_test_id("ack-state")).to_have_text("not acknowledged")
        comment = alarm.get_by_label("Comment on Boiler too hot")
        await comment.fill(COMMENT)
        await comment.press("Enter")
        await expect(alarm.get_by_test_id("ack-state")).to_have_text("acknowledged")
        await expect(alarm.get_by_test_id("acknowledgement")).to_contain_text("by op@lab.example")
        await expect(alarm.get_by_test_id("acknowledgement")).to_contain_text(COMMENT)
        await expect(alarm.get_by_role("button", name="Acknowledge Boiler too hot")).to_have_count(0)
        await expect(alarm.get_by_role("heading", name="Boiler too hot")).to_be_focused()
        status, stored = await server.api("GET", "/alarms?state=acknowledged", token=server.token("admin"))
        assert status == 200, stored
        [acknowledged] = stored["alarms"]
        alarm_id = acknowledged["alarm_id"]
        assert (acknowledged["state"], acknowledged["acknowledged_by"], acknowledged["ack_comment"]) == (
            "active", "op@lab.example", COMMENT)
        # Acknowledged but still active: it still wants attention.
        await expect(banner).to_contain_text("1 open alarm: 1 critical")
        await expect(banner).to_contain_text("1 still active")
        await save_screenshot(page, "alarms.png")

        await page.set_viewport_size({"width": 390, "height": 844})
        await expect(alarm.get_by_test_id("acknowledgement")).to_be_visible()
        await fits_a_phone(page)
        await save_screenshot(page, "alarms-390.png")
        await page.set_viewport_size({"width": 1366, "height": 900})

        # Back under the threshold: cleared and acknowledged, it needs no one, so it leaves the banner and the
        # list of open alarms; it stays in the history.
        await send_reading(server, BOILER, 20)
        await expect(banner).to_have_count(0, timeout=RAISED_WITHIN)
        await expect(page.get_by_text("No alarms match.")).to_be_visible(timeout=RAISED_WITHIN)
        await page.get_by_label("State").select_option("cleared")
        await page.get_by_role("button", name="Show", exact=True).click()
        await expect(alarm.get_by_test_id("alarm-state")).to_have_text("✓ cleared")
        await expect(alarm).to_contain_text("condition no longer holds")
        await expect(alarm.get_by_test_id("acknowledgement")).to_contain_text(COMMENT)

        # The alarm's own entries in the activity log: the acknowledgement, who and what they said.
        await alarm.get_by_role("link", name="Activity of Boiler too hot alarm").click()
        await expect(page.get_by_test_id("activity-filter")).to_have_text(f": about {alarm_id}")
        entries = page.locator("tr[data-entry]")
        await expect(entries).to_have_count(1)
        await expect(entries).to_have_attribute("data-action", "alarm.acknowledged")
        await expect(entries).to_contain_text("op@lab.example")
        await expect(entries).to_contain_text(f"comment: {COMMENT}")
        # All of it, newest first: the acknowledgement after the two rules the operator added.
        await page.get_by_role("button", name="Show all").click()
        await expect(entries).to_have_count(3)
        actions = await entries.evaluate_all("rows => rows.map(row => row.dataset.action)")
        assert actions == ["alarm.acknowledged", "rule.created", "rule.created"], actions
        # The action filter offers what the server records (its own list, through env.js), and narrows by one.
        action = page.get_by_label("Action")
        assert await action.locator("option").all_text_contents() == ["any", *ACTIONS]
        await action.select_option("rule.created")
        await page.get_by_role("button", name="Show", exact=True).click()
        await expect(page.get_by_test_id("activity-filter")).to_have_text(": rule.created")
        await expect(entries).to_have_count(2)
        await page.set_viewport_size({"width": 390, "height": 844})
        await fits_a_phone(page)


@pytest.mark.gen_test(timeout=90)
async def test_an_operator_edits_a_rule_from_its_card_and_its_chart_line_moves(server, chromium):
    await create_event(server, BOILER)
    await send_reading(server, BOILER, 20)
    status, rule = await server.api("POST", "/rules", {"name": "Boiler too hot", "event_public_id": BOILER["public_id"],
                                                        "condition": "above", "threshold": 50},
                                    token=server.token("admin"))
    assert status == 201, rule

    async def stored() -> dict:
        status, answer = await server.api("GET", f"/rules/{rule['rule_id']}", token=server.token("admin"))
        assert status == 200, answer
        return answer

    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone: the form opens on a narrow card
        await sign_in(page, server.url("", "http"))
        boiler = card(page, BOILER)
        caption = chart(page, BOILER).locator("figcaption")
        await expect(caption).to_contain_text("alarm thresholds: above 50")
        rules = boiler.get_by_test_id("rules")
        await rules.locator("summary").click()
        edit = rules.get_by_role("button", name="Edit rule Boiler too hot")
        form = rules.get_by_role("form", name="Edit alarm rule Boiler too hot")

        # Opened from the keyboard, it holds the rule as it is, in place of the new rule's form; Escape leaves it.
        await edit.focus()
        await page.keyboard.press("Enter")
        await expect(form.get_by_label("Name")).to_be_focused()
        await expect(form.get_by_label("Name")).to_have_value("Boiler too hot")
        await expect(form.get_by_label("Condition")).to_have_value("above")
        await expect(form.get_by_label("Threshold")).to_have_value("50")
        await expect(form.get_by_label("Severity")).to_have_value("warning")
        await expect(form.get_by_role("button", name="Save rule")).to_be_visible()
        await expect(rules.get_by_role("form", name="New alarm rule for Boiler temperature")).to_have_count(0)
        await form.get_by_label("Threshold").fill("99")
        await page.keyboard.press("Escape")
        await expect(form).to_have_count(0)
        await expect(edit).to_be_focused()
        await expect(rules.get_by_role("form", name="New alarm rule for Boiler temperature")).to_be_visible()

        # Refused edits, by the form and then by the server, are said beside the form and change nothing.
        await edit.click()
        await form.get_by_label("Condition").select_option("outside")
        await form.get_by_label("Low", exact=True).fill("90")
        await form.get_by_label("High", exact=True).fill("10")
        await form.get_by_role("button", name="Save rule").click()
        await expect(form.get_by_test_id("rule-error")).to_have_text("The low bound must not be above the high one.")
        await form.get_by_label("Condition").select_option("above")
        await form.get_by_label("Threshold").fill("65")
        await form.get_by_label("For (s)").fill("9999999")  # over the server's 30 days
        await form.get_by_role("button", name="Save rule").click()
        await expect(form.get_by_test_id("rule-error")).to_have_text(
            "Not saved: invalid rule (for: must be from 0 to 2,592,000)")
        assert await stored() == rule
        await expect(caption).to_contain_text("alarm thresholds: above 50")
        await fits_a_phone(page)
        await save_screenshot(page, "alarms-rule-edit-390.png")

        # Saved: said once for screen readers, the form closes back onto its Edit button, the line moves.
        await form.get_by_label("For (s)").fill("")
        await form.get_by_label("Threshold").press("Enter")
        await expect(rules.get_by_role("status").filter(has_text="Saved")).to_have_text(
            "Saved rule Boiler too hot: above 65.")
        await expect(form).to_have_count(0)
        await expect(edit).to_be_focused()
        await expect(rules.locator("[data-rule]")).to_contain_text("Boiler too hot: above 65 warning")
        await expect(rules).not_to_contain_text("No rules yet.")
        await expect(caption).to_contain_text("alarm thresholds: above 65")
        await expect(caption).not_to_contain_text("above 50")
        edited = await stored()
        assert (edited["condition"], edited["threshold"], edited["for"], edited["severity"]) == (
            "above", 65, 0, "warning")


@pytest.mark.gen_test(timeout=90)
async def test_a_viewer_sees_the_banner_and_the_alarms_but_cannot_acknowledge(server, chromium):
    await create_event(server, BOILER)
    status, rule = await server.api("POST", "/rules", {"name": "Boiler too hot", "event_public_id": BOILER["public_id"],
                                                        "condition": "above", "threshold": 50},
                                    token=server.token("admin"))
    assert status == 201, rule
    await send_reading(server, BOILER, 80)

    async def raised() -> bool:
        status, listed = await server.api("GET", "/alarms?state=active", token=server.token("admin"))
        return status == 200 and len(listed["alarms"]) == 1

    await server.wait_for(raised, timeout=RAISED_WITHIN / 1000)
    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 390, "height": 844})
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        banner = page.get_by_test_id("alarm-banner")
        await expect(banner).to_contain_text("1 open alarm: 1 warning")
        await expect(card(page, BOILER).get_by_test_id("alarm-note")).to_have_text("⚠ warning alarm: above 50")
        rules = card(page, BOILER).get_by_test_id("rules")
        await rules.locator("summary").click()
        await expect(rules.locator("[data-rule]")).to_contain_text("Boiler too hot: above 50 warning")
        await expect(rules.get_by_role("button", name="Edit rule Boiler too hot")).to_have_count(0)
        await expect(rules.locator("button, input, select")).to_have_count(0)  # no Delete, no form, no limits rule
        await expect(page.get_by_role("link", name="Activity", exact=True)).to_have_count(0)
        await fits_a_phone(page)
        await save_screenshot(page, "alarms-dashboard-390.png")

        await banner.get_by_role("link").click()
        alarm = page.locator("article.alarm")
        await expect(alarm.get_by_role("heading", name="Boiler too hot")).to_be_visible()
        await expect(alarm.get_by_test_id("ack-state")).to_have_text("not acknowledged")
        await expect(page.get_by_role("button", name="Acknowledge Boiler too hot")).to_have_count(0)
        await expect(alarm.get_by_role("textbox")).to_have_count(0)
        await expect(alarm.get_by_role("link")).to_have_count(0)  # the activity log is not for viewers
        await fits_a_phone(page)

        await page.goto(server.url("/#/activity", "http"))  # not offered, and not shown: the dashboard instead
        await expect(page.get_by_role("link", name="Dashboard", exact=True)).to_have_attribute("aria-current", "page")
