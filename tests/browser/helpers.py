"""Driving the dashboard in Chromium through Playwright: open it, sign in, keep a screenshot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Page, async_playwright

from tests.helpers import USER_PASSWORD

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@contextlib.asynccontextmanager
async def browser_page(chromium: str) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            await browser.close()


async def sign_in(page: Page, base_url: str, email: str = "op@lab.example") -> None:
    await page.goto(base_url + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(USER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


def saved_preferences(server, email: str) -> dict:
    """The user's preferences as the server stored them ({} if none)."""
    with server.sql.cursor() as cur:
        cur.execute("SELECT preferences FROM users WHERE email = %s", (email,))
        return cur.fetchone()[0] or {}


async def save_screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    return path
