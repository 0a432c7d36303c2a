"""The console's shell in a real browser: login, navigation, language, logout."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest

from api.tokens import revoke_token, token_id
from tests.fix_api import open_hazard
from tests.fix_browser import ConsoleUp, Shots, open_console, watch_errors

pytestmark = pytest.mark.browser


def test_a_token_logs_in_and_the_navigation_is_in_chinese(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    page = watch_errors(browser.new_page(viewport={"width": 1440, "height": 900}))
    try:
        page.goto(console_up.base_url + "/")
        page.wait_for_selector("[data-testid=login-form]")
        shots.take(page, "login")
        page.fill("#token", console_up.token())
        page.click("button[type=submit]")
        nav = page.locator("[data-testid=nav]")
        nav.wait_for()
        assert nav.inner_text().split() == ["地图", "隐患", "工单", "重点单位", "设备", "指标"]
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
    page = watch_errors(browser.new_page())
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
        assert nav.locator("a").all_inner_texts() == [
            "Map",
            "Hazards",
            "Cases",
            "Key units",
            "Devices",
            "Indicators",
        ]
        page.reload()
        page.locator("[data-testid=nav]").wait_for()
        assert page.locator("[data-testid=nav]").inner_text().split()[0] == "Map"
        page.locator("[data-testid=logout]").click()
        page.wait_for_selector("[data-testid=login-form]")
        assert page.evaluate("sessionStorage.getItem('firegrid.token')") is None
    finally:
        page.context.close()


def test_a_map_taken_down_ignores_a_redraw_still_coming(
    browser: Any, console_up: ConsoleUp
) -> None:
    """A canvas redraw that runs after its map was removed draws nothing and throws nothing.

    Leaving a page takes its map down; a redraw Leaflet had already planned may still run (seen
    under load on CI: "reading 'save'"). The test runs that late redraw on purpose.
    """
    page = open_console(browser, console_up.base_url, console_up.token())
    try:
        thrown = page.evaluate(
            """async () => {
              const L = await import('leaflet');
              await import('/console/canvas_guard.js');
              const box = document.createElement('div');
              box.style.height = '200px';
              document.body.append(box);
              const canvas = L.canvas();
              const map = L.map(box, { renderer: canvas }).setView([31.25, 121.59], 15);
              L.circleMarker([31.25, 121.59], { renderer: canvas }).addTo(map);
              map.remove();
              try {
                canvas._redraw();
                canvas._update();
                return null;
              } catch (error) {
                return String(error);
              } finally {
                box.remove();
              }
            }"""
        )
        assert thrown is None
    finally:
        page.context.close()


def test_a_revoked_token_is_sent_back_to_login(browser: Any, console_up: ConsoleUp) -> None:
    token = console_up.token("viewer")
    page = open_console(browser, console_up.base_url, token)
    try:
        with psycopg.connect(console_up.db_url) as conn:
            digest = hashlib.sha256(token.encode()).digest()
            assert revoke_token(conn, name_or_id=token_id(digest)) == 1
        # The next request answers 401 (a hash change, not a click: the map page's own
        # requests may get their 401 first and take the navigation away).
        page.evaluate("location.hash = '#/hazards'")
        page.wait_for_selector("[data-testid=login-form]")
        assert page.evaluate("sessionStorage.getItem('firegrid.token')") is None
    finally:
        page.context.close()


def test_map_settings_ask_for_positions_in_the_tiles_crs(
    browser: Any, console_up: ConsoleUp
) -> None:
    page = open_console(browser, console_up.base_url, console_up.token())
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        page.locator("[data-testid=map-status]").filter(has_text="网格 8 个").wait_for()
        wgs84 = page.evaluate("() => window.firegridMap.bounds.getCenter()")
        page.get_by_role("button", name="地图设置").click()
        settings = page.locator("[data-testid=map-settings]")
        settings.locator("select").select_option("gcj02")
        asked.clear()  # what the console asks from now on, in GCJ-02
        settings.locator("button[type=submit]").click()
        page.locator("[data-testid=map-status]").filter(has_text="网格 8 个").wait_for()
        page.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
        gcj02 = page.evaluate("() => window.firegridMap.bounds.getCenter()")
        # GCJ-02 lies a few hundred metres from WGS-84 in Suzhou: the grids moved with it.
        shift_m = 111_000 * max(abs(gcj02["lat"] - wgs84["lat"]), abs(gcj02["lng"] - wgs84["lng"]))
        assert 100 < shift_m < 1000, shift_m
        drawn = [u for u in asked if "/api/v1/grids" in u or "/api/v1/hazards" in u]
        streams = [u for u in asked if "/api/v1/stream?" in u]
        assert drawn
        assert streams
        assert all("crs=gcj02" in u for u in drawn + streams), drawn + streams
        assert page.evaluate("JSON.parse(localStorage.getItem('firegrid.map')).crs") == "gcj02"
    finally:
        page.context.close()


def test_the_hazard_list_filters_by_what_the_api_filters(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    hazard_id = open_hazard(console_up.db_url)  # a warning of kind threshold, open
    page = open_console(browser, console_up.base_url, console_up.token())
    try:
        page.locator("[data-testid=nav] a", has_text="隐患").click()
        ours = page.locator(f"[data-testid=hazard-list] tr[data-hazard='{hazard_id}']")
        ours.wait_for()
        page.locator("[data-testid=filter-severity]").select_option("critical")
        page.wait_for_url("**/#/hazards?severity=critical")
        page.locator("[data-testid=hazard-list]").wait_for()
        assert ours.count() == 0
        page.locator("[data-testid=filter-severity]").select_option("warning")
        page.locator("[data-testid=filter-kind]").select_option("threshold")
        page.wait_for_url("**/#/hazards?severity=warning&kind=threshold")
        ours.wait_for()
        rows = page.locator("[data-testid=hazard-list] tr[data-hazard]")
        assert all("警告" in rows.nth(i).inner_text() for i in range(rows.count()))
        shots.take(page, "filtered")
        # The filter is in the address: a reload keeps it.
        page.reload()
        ours.wait_for()
        assert page.locator("[data-testid=filter-kind]").input_value() == "threshold"
        page.locator("[data-testid=filter-status]").select_option("cleared")
        page.wait_for_url("**status=cleared")
        page.locator("[data-testid=hazard-list]").wait_for()
        assert ours.count() == 0
    finally:
        page.context.close()
