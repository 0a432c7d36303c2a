"""The console's shell in a real browser: login, navigation, language, logout."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fix_browser import ConsoleUp, Shots, open_console

pytestmark = pytest.mark.browser


def test_a_token_logs_in_and_the_navigation_is_in_chinese(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(console_up.base_url + "/")
        page.wait_for_selector("[data-testid=login-form]")
        shots.take(page, "login")
        page.fill("#token", console_up.token())
        page.click("button[type=submit]")
        nav = page.locator("[data-testid=nav]")
        nav.wait_for()
        assert nav.inner_text().split() == ["地图", "隐患", "工单"]
        page.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
        # The default page is the map; the token stays out of the URL.
        assert page.url.endswith("/") or "#/map" in page.url
        assert "token" not in page.url
        shots.take(page, "signed-in")
    finally:
        page.close()


def test_a_wrong_token_is_refused_with_the_apis_message(
    browser: Any, console_up: ConsoleUp
) -> None:
    page = browser.new_page()
    try:
        page.goto(console_up.base_url + "/")
        page.fill("#token", "not-a-token")
        page.click("button[type=submit]")
        alert = page.locator("[role=alert]")
        alert.wait_for()
        assert "登录失败" in alert.inner_text()
        assert page.locator("[data-testid=nav]").count() == 0
    finally:
        page.close()


def test_english_is_remembered_and_logout_returns_to_login(
    browser: Any, console_up: ConsoleUp
) -> None:
    page = open_console(browser, console_up.base_url, console_up.token())
    try:
        page.get_by_role("button", name="English").click()
        nav = page.locator("[data-testid=nav]")
        assert nav.inner_text().split() == ["Map", "Hazards", "Cases"]
        page.reload()
        page.locator("[data-testid=nav]").wait_for()
        assert page.locator("[data-testid=nav]").inner_text().split()[0] == "Map"
        page.locator("[data-testid=logout]").click()
        page.wait_for_selector("[data-testid=login-form]")
        assert page.evaluate("sessionStorage.getItem('firegrid.token')") is None
    finally:
        page.context.close()
