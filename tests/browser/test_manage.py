"""The management pages in a real browser: an admin creates, edits and deletes an event; an operator renames and
stops an experiment; an admin adds a user with a one-time password, who must choose their own at the first sign-in,
and changes roles and resets passwords; a viewer sees it all but changes nothing; every page fits a phone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.browser.helpers import browser_page, save_screenshot, sign_in
from tests.helpers import USER_PASSWORD

pytestmark = pytest.mark.usefixtures("users")

ADMIN = "admin@lab.example"
NEWCOMER = "new@lab.example"
OWN_PASSWORD = "my own password 42"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


class Dialogs:
    """Accepts (or dismisses) each confirmation the page asks for and keeps what it said."""

    def __init__(self, page: Page, accept: bool = True) -> None:
        self.accept = accept
        self.messages: list[str] = []
        page.on("dialog", lambda dialog: asyncio.ensure_future(self._answer(dialog)))

    async def _answer(self, dialog: Dialog) -> None:
        self.messages.append(dialog.message)
        await (dialog.accept() if self.accept else dialog.dismiss())


async def open_page(page: Page, name: str) -> None:
    await page.get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


async def fits_a_phone(page: Page) -> None:
    """No sideways scrolling at 390 px; otherwise, say which elements reach past the screen's edge."""
    too_wide = await page.evaluate("""[...document.querySelectorAll("body *")]
        .map((element) => [element, Math.round(element.getBoundingClientRect().right)])
        .filter(([, right]) => right > 390)
        .map(([element, right]) => `${element.tagName}.${element.className} ${right}`)""")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, too_wide[:10]


async def no_serious_violations(page: Page) -> None:
    """axe-core (from npm) finds nothing serious or critical on the page as it is now."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found = await page.evaluate("""async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
        .filter((violation) => ["serious", "critical"].includes(violation.impact))
        .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`)""")
    assert not found, found


async def send_reading(server, event: str, value: float) -> None:
    status, answer = await server.api("POST", "/datapoints", {"event_public_id": event, "value": value},
                                      token=server.token("operator"))
    assert status == 201, answer


async def sign_in_as(page: Page, base_url: str, email: str, password: str) -> None:
    await page.goto(base_url + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.gen_test(timeout=120)
async def test_an_admin_creates_edits_and_deletes_an_event_with_its_datapoints(server, chromium):
    server.add_user(ADMIN, "admin")
    async with browser_page(chromium) as page:
        dialogs = Dialogs(page)
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await open_page(page, "Events")

        form = page.get_by_role("form", name="New event")
        await form.get_by_label("Name").fill("Boiler pressure")
        await form.get_by_label("Id").fill("evt_boil02")
        await form.get_by_label("Unit").fill("bar")
        await form.get_by_label("Group").fill("Reactor")
        await form.get_by_label("Minimum").fill("5")
        await form.get_by_label("Maximum").fill("1")
        await form.get_by_role("button", name="Create event").click()
        # Checked before sending: the field says why, and takes the keyboard.
        await expect(form.get_by_label("Minimum")).to_have_attribute("aria-invalid", "true")
        await expect(form.get_by_label("Minimum")).to_have_accessible_description("Not more than the maximum.")
        await expect(form.get_by_label("Minimum")).to_be_focused()
        await form.get_by_label("Minimum").fill("0")
        await form.get_by_label("Maximum").fill("10")
        await form.get_by_label("Maximum").press("Enter")

        row = page.locator('tr[data-event="evt_boil02"]')
        await expect(row.get_by_role("rowheader")).to_be_focused()  # the keyboard goes to the new row
        await expect(row.get_by_test_id("group")).to_have_text("Reactor")
        await expect(row.get_by_test_id("unit")).to_have_text("bar")
        await expect(row).to_contain_text("0 to 10")
        await expect(page.get_by_test_id("announcement")).to_have_text("Created Boiler pressure.")
        await expect(form.get_by_label("Name")).to_have_value("")  # ready for the next, in the same group
        await expect(form.get_by_label("Group")).to_have_value("Reactor")
        status, stored = await server.api("GET", "/events/evt_boil02", token=server.token("admin"))
        assert status == 200, stored
        assert (stored["name"], stored["unit"], stored["group"], stored["min_value"], stored["max_value"],
                stored["type"], stored["stale_after"]) == ("Boiler pressure", "bar", "Reactor", 0, 10, "sensor", None)

        # Edited in its row: the unit changes, the keyboard comes back to the Edit button.
        await row.get_by_role("button", name="Edit Boiler pressure").click()
        edit = page.get_by_role("form", name="Edit Boiler pressure")
        await expect(edit.get_by_label("Name")).to_be_focused()
        await no_serious_violations(page)
        await page.set_viewport_size({"width": 390, "height": 844})
        await fits_a_phone(page)
        await save_screenshot(page, "manage-events-390.png")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await edit.get_by_label("Unit").fill("kPa")
        await edit.get_by_label("Stale after (s)").fill("30")
        await edit.get_by_role("button", name="Save").click()
        await expect(edit).to_have_count(0)
        await expect(row.get_by_test_id("unit")).to_have_text("kPa")
        await expect(row.get_by_role("button", name="Edit Boiler pressure")).to_be_focused()
        await expect(page.get_by_test_id("announcement")).to_have_text("Saved Boiler pressure.")
        status, stored = await server.api("GET", "/events/evt_boil02", token=server.token("admin"))
        assert (stored["unit"], stored["stale_after"], stored["group"]) == ("kPa", 30, "Reactor")

        # Escape leaves an edit unsaved.
        await row.get_by_role("button", name="Edit Boiler pressure").click()
        await edit.get_by_label("Unit").fill("psi")
        await edit.get_by_label("Unit").press("Escape")
        await expect(edit).to_have_count(0)
        await expect(row.get_by_test_id("unit")).to_have_text("kPa")
        await save_screenshot(page, "manage-events.png")
        await no_serious_violations(page)

        # With a datapoint stored, deleting asks twice: once, then again for its datapoints.
        await send_reading(server, "evt_boil02", 3.5)
        await row.get_by_role("button", name="Delete Boiler pressure").click()
        await expect(row).to_have_count(0)
        assert len(dialogs.messages) == 2, dialogs.messages
        assert dialogs.messages[0].startswith('Delete event "Boiler pressure" (evt_boil02)?')
        assert "has stored datapoints" in dialogs.messages[1] and "ALL its datapoints" in dialogs.messages[1]
        await expect(page.get_by_test_id("announcement")).to_have_text("Deleted Boiler pressure.")
        # The keyboard goes to the row that took its place (grouped events first, then the others by name).
        await expect(page.locator('tr[data-event="evt_temp01"]').get_by_role("rowheader")).to_be_focused()
        status, _ = await server.api("GET", "/events/evt_boil02", token=server.token("admin"))
        assert status == 404
        assert not [row for row in server.rows() if row["event_public_id"] == "evt_boil02"]

        await page.set_viewport_size({"width": 390, "height": 844})
        await fits_a_phone(page)


@pytest.mark.gen_test(timeout=120)
async def test_an_operator_renames_and_stops_an_experiment_and_sees_its_readings(server, chromium):
    status, experiment = await server.api("POST", "/experiments", {"name": "Run 1", "public_id": "exp_run1"},
                                          token=server.token("admin"))
    assert status == 201, experiment
    for value in (1, 2, 3):
        await send_reading(server, "evt_temp01", value)
    async with browser_page(chromium) as page:
        dialogs = Dialogs(page)
        await sign_in(page, server.url("", "http"))
        await open_page(page, "Experiments")
        row = page.locator('tr[data-experiment="exp_run1"]')
        await expect(row.get_by_test_id("readings")).to_have_text("3")
        await expect(row.get_by_test_id("stopped")).to_have_text("running")
        await expect(row.get_by_test_id("duration")).to_contain_text("so far")
        await expect(page.get_by_role("form", name="Start an experiment")).to_have_count(0)  # one runs already

        await row.get_by_role("button", name="Rename Run 1").click()
        name = row.get_by_label("New name of Run 1")
        await expect(name).to_be_focused()
        await name.fill("Calibration run")
        await name.press("Enter")
        await expect(row.get_by_test_id("name")).to_have_text("Calibration run")
        await expect(row.get_by_role("button", name="Rename Calibration run")).to_be_focused()
        await expect(page.get_by_test_id("announcement")).to_have_text("Renamed to Calibration run.")

        await send_reading(server, "evt_temp01", 4)  # the count follows while the page is open
        await expect(row.get_by_test_id("readings")).to_have_text("4", timeout=10_000)

        await row.get_by_role("button", name="Stop Calibration run").click()
        await expect(row.get_by_test_id("stopped")).not_to_have_text("running")
        await expect(row.get_by_role("button", name="Stop Calibration run")).to_have_count(0)
        await expect(row.get_by_role("rowheader")).to_be_focused()
        await expect(row.get_by_test_id("duration")).not_to_contain_text("so far")
        assert dialogs.messages[0].startswith('Stop experiment "Calibration run"?'), dialogs.messages
        await expect(page.get_by_test_id("announcement")).to_contain_text("Stopped Calibration run after")
        status, stored = await server.api("GET", "/experiments/exp_run1", token=server.token("admin"))
        assert (stored["name"], stored["running"], stored["readings"]) == ("Calibration run", False, 4), stored
        await expect(page.get_by_role("form", name="Start an experiment")).to_be_visible()
        await save_screenshot(page, "manage-experiments.png")
        await no_serious_violations(page)

        # A CSV of its readings, fetched with the session's token.
        async with page.expect_download() as download:
            await row.get_by_role("button", name="Download CSV of Calibration run").click()
        assert (await download.value).suggested_filename == "exp_run1.csv"

        # Another one, started here and deleted at once: with no readings, one confirmation is enough.
        start = page.get_by_role("form", name="Start an experiment")
        await start.get_by_label("Name").fill("Run 2")
        await start.get_by_label("Name").press("Enter")
        second = page.locator("tr.running")
        await expect(second.get_by_test_id("name")).to_have_text("Run 2")
        await expect(second.get_by_role("rowheader")).to_be_focused()
        await expect(second.get_by_test_id("readings")).to_have_text("0")
        await expect(page.get_by_test_id("announcement")).to_have_text("Started Run 2.")
        asked = len(dialogs.messages)
        await second.get_by_role("button", name="Delete Run 2").click()
        await expect(page.locator("tr[data-experiment]")).to_have_count(1)
        assert dialogs.messages[asked:] == [dialogs.messages[asked]], dialogs.messages
        assert dialogs.messages[asked].startswith('Delete experiment "Run 2"'), dialogs.messages
        await expect(page.get_by_role("heading", name="Experiments")).to_be_focused()
        await expect(page.get_by_test_id("announcement")).to_have_text("Deleted Run 2.")

        await page.set_viewport_size({"width": 390, "height": 844})
        await expect(row.get_by_test_id("readings")).to_be_visible()
        await fits_a_phone(page)


@pytest.mark.gen_test(timeout=150)
async def test_a_newcomer_with_a_one_time_password_must_choose_their_own_then_reaches_the_dashboard(server, chromium):
    server.add_user(ADMIN, "admin")
    async with browser_page(chromium) as page:
        Dialogs(page)
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await open_page(page, "Users")
        form = page.get_by_role("form", name="Add a user")
        await form.get_by_label("Email").fill(NEWCOMER)
        await form.get_by_label("Role").select_option("operator")
        await form.get_by_role("button", name="Add user").click()
        secret = page.get_by_test_id("one-time-password")
        await expect(secret.get_by_role("heading", name=f"One-time password for {NEWCOMER}")).to_be_focused()
        await expect(secret).to_contain_text("they must change it when they first sign in")
        one_time = await secret.get_by_label("One-time password").input_value()
        assert len(one_time) >= 8
        newcomer = page.locator(f'tr[data-email="{NEWCOMER}"]')
        await expect(newcomer.get_by_label(f"Role of {NEWCOMER}")).to_have_value("operator")
        await expect(newcomer.get_by_test_id("password-state")).to_have_text("one-time: to be changed at sign-in")
        await page.set_viewport_size({"width": 390, "height": 844})
        await fits_a_phone(page)
        await save_screenshot(page, "manage-users-390.png")
        await no_serious_violations(page)
        await page.set_viewport_size({"width": 1280, "height": 900})
        await secret.get_by_role("button", name="Done: hide the password").click()
        await expect(secret).to_have_count(0)
        await expect(form.get_by_label("Email")).to_be_focused()

        # The newcomer, in a browser of their own: only the password page until they chose one.
        browser = page.context.browser
        assert browser is not None  # a page of a launched browser, not of a persistent context
        other = await browser.new_page()
        await sign_in_as(other, server.url("", "http"), NEWCOMER, one_time)
        await expect(other.get_by_role("heading", name="Choose your password")).to_be_focused()
        await expect(other.get_by_test_id("must-change")).to_be_visible()
        await expect(other.get_by_role("link", name="Dashboard", exact=True)).to_have_count(0)  # no way around it
        await other.goto(server.url("/#/datapoints", "http"))
        await expect(other.get_by_role("heading", name="Choose your password")).to_be_visible()  # nor by address
        await other.get_by_label("One-time password").fill(one_time)
        await other.get_by_label("New password", exact=True).fill("short")
        await other.get_by_label("New password again").fill("short")
        await other.get_by_role("button", name="Change password").click()
        await expect(other.get_by_test_id("password-error")).to_have_text(
            "The new password needs at least 8 characters.")
        await save_screenshot(other, "manage-password.png")
        await no_serious_violations(other)
        await other.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
        await other.get_by_label("New password again").fill(OWN_PASSWORD)
        await other.get_by_role("button", name="Change password").click()
        await expect(other.get_by_role("link", name="Dashboard", exact=True)).to_have_attribute("aria-current", "page")
        await expect(other.get_by_role("heading", name="Choose your password")).to_have_count(0)
        # The session goes on with the token the change answered (the old one ended with it).
        token = await other.evaluate("JSON.parse(sessionStorage.getItem('webmacs.session')).token")
        status, me = await server.api("GET", "/auth/me", token=token)
        assert (status, me["subject"]) == (200, NEWCOMER), me
        await other.close()

        # The admin sees it changed; the newcomer's own password now signs them in.
        await page.reload()
        await expect(newcomer.get_by_test_id("password-state")).to_have_text("set by the user")
        status, login = await server.api("POST", "/auth/login", {"email": NEWCOMER, "password": OWN_PASSWORD})
        assert status == 200 and login["user"]["must_change_password"] is False, login


@pytest.mark.gen_test(timeout=120)
async def test_an_admin_changes_a_role_resets_a_password_and_cannot_demote_the_last_admin(server, chromium):
    server.add_user(ADMIN, "admin")
    async with browser_page(chromium) as page:
        dialogs = Dialogs(page)
        await sign_in(page, server.url("", "http"), email=ADMIN)
        await open_page(page, "Users")
        viewer = page.locator('tr[data-email="viewer@lab.example"]')
        role = viewer.get_by_label("Role of viewer@lab.example")
        await role.select_option("operator")
        await viewer.get_by_role("button", name="Save role of viewer@lab.example").click()
        await expect(page.get_by_test_id("announcement")).to_have_text("viewer@lab.example is now operator.")
        await expect(role).to_be_focused()
        await expect(viewer.get_by_role("button", name="Save role of viewer@lab.example")).to_have_count(0)
        assert "Their sessions end" in dialogs.messages[-1]
        status, listed = await server.api("GET", "/users", token=server.token("admin"))
        assert {user["email"]: user["role"] for user in listed["users"]}["viewer@lab.example"] == "operator"

        await viewer.get_by_role("button", name="Reset password of viewer@lab.example").click()
        secret = page.get_by_test_id("one-time-password")
        await expect(secret.get_by_role("heading", name="One-time password for viewer@lab.example")).to_be_focused()
        one_time = await secret.get_by_label("One-time password").input_value()
        await expect(viewer.get_by_test_id("password-state")).to_have_text("one-time: to be changed at sign-in")
        status, login = await server.api("POST", "/auth/login", {"email": "viewer@lab.example", "password": one_time})
        assert status == 200 and login["user"]["must_change_password"] is True, login
        status, _ = await server.api("POST", "/auth/login", {"email": "viewer@lab.example", "password": USER_PASSWORD})
        assert status == 401

        # The only admin cannot make themself an operator: the server says why, the role stays.
        me = page.locator(f'tr[data-email="{ADMIN}"]')
        await me.get_by_label(f"Role of {ADMIN}").select_option("operator")
        await me.get_by_role("button", name=f"Save role of {ADMIN}").click()
        await expect(page.get_by_test_id("users-error")).to_contain_text(f"Role of {ADMIN} not changed")
        await expect(me.get_by_label(f"Role of {ADMIN}")).to_have_value("admin")


@pytest.mark.gen_test(timeout=60)
async def test_a_long_history_of_experiments_is_listed_a_page_at_a_time(server, chromium):
    # More than the API gives in one page (500): the page asks for the rest with next_before.
    server.execute("INSERT INTO experiments (public_id, name, started_at, stopped_at)"
                   " SELECT 'exp_' || n, 'Run ' || n, now() - (600 - n) * interval '1 day',"
                   " now() - (600 - n) * interval '1 day' + interval '1 hour' FROM generate_series(1, 560) n")
    async with browser_page(chromium) as page:
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        await open_page(page, "Experiments")
        rows = page.locator("tr[data-experiment]")
        await expect(rows).to_have_count(50)
        await expect(rows.first).to_have_attribute("data-experiment", "exp_560")  # newest first
        older = page.get_by_role("button", name="Show older experiments")
        await older.click()
        await expect(rows).to_have_count(100)
        # The keyboard is on the first of the older ones, not lost at the top of the page.
        await expect(page.locator('tr[data-experiment="exp_510"]').get_by_role("button").first).to_be_focused()
        for shown in range(150, 601, 50):
            await older.click()
            await expect(rows).to_have_count(min(shown, 560))
        await expect(rows.last).to_have_attribute("data-experiment", "exp_1")
        await expect(older).to_have_count(0)
        await expect(page.get_by_role("alert")).to_have_count(0)


@pytest.mark.gen_test(timeout=120)
async def test_a_viewer_sees_events_and_experiments_but_no_controls_and_no_users_page(server, chromium):
    status, created = await server.api("POST", "/events", {"public_id": "evt_flow01", "name": "Flow",
                                                            "group": "Reactor", "unit": "l/min"},
                                       token=server.token("admin"))
    assert status == 201, created
    status, experiment = await server.api("POST", "/experiments", {"name": "Run 1", "public_id": "exp_run1"},
                                          token=server.token("admin"))
    assert status == 201, experiment
    async with browser_page(chromium) as page:
        await page.set_viewport_size({"width": 390, "height": 844})
        await sign_in(page, server.url("", "http"), email="viewer@lab.example")
        await expect(page.get_by_role("link", name="Users", exact=True)).to_have_count(0)

        await open_page(page, "Events")
        row = page.locator('tr[data-event="evt_flow01"]')
        await expect(row.get_by_test_id("group")).to_have_text("Reactor")
        await expect(page.get_by_role("form", name="New event")).to_have_count(0)
        await expect(page.locator("main").get_by_role("button")).to_have_count(0)
        await fits_a_phone(page)

        await open_page(page, "Experiments")
        row = page.locator('tr[data-experiment="exp_run1"]')
        await expect(row.get_by_test_id("stopped")).to_have_text("running")
        await expect(page.locator("main").get_by_role("button")).to_have_count(1)  # the CSV download, no more
        await expect(row.get_by_role("button", name="Download CSV of Run 1")).to_be_visible()
        await expect(page.get_by_role("form", name="Start an experiment")).to_have_count(0)
        await fits_a_phone(page)

        await open_page(page, "Change my password")
        await expect(page.get_by_role("heading", name="Change my password")).to_be_visible()
        await no_serious_violations(page)
        await fits_a_phone(page)
        # Everyone changes their own password: the current one is needed, and the session goes on.
        await page.get_by_label("Current password").fill("not my password")
        await page.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
        await page.get_by_label("New password again").fill(OWN_PASSWORD)
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_test_id("password-error")).to_have_text("The current password is wrong.")
        await page.get_by_label("Current password").fill(USER_PASSWORD)
        await page.get_by_label("New password", exact=True).fill(OWN_PASSWORD)
        await page.get_by_label("New password again").fill(OWN_PASSWORD)
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_test_id("password-changed")).to_be_visible()
        await expect(page.get_by_role("heading", name="Change my password")).to_be_focused()
        await expect(page.get_by_label("Current password")).to_have_value("")
        await open_page(page, "Events")  # with the new token
        await expect(page.locator('tr[data-event="evt_flow01"]')).to_be_visible()
        status, login = await server.api("POST", "/auth/login", {"email": "viewer@lab.example",
                                                                 "password": OWN_PASSWORD})
        assert status == 200, login

        await page.goto(server.url("/#/users", "http"))  # not offered, and not shown: the dashboard instead
        await expect(page.get_by_role("link", name="Dashboard", exact=True)).to_have_attribute("aria-current", "page")
        await expect(page.get_by_role("heading", name="Users")).to_have_count(0)
