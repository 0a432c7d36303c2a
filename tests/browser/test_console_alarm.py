"""Issue 9's browser test: a smoke alarm published over MQTT reaches the operator's console.

Every part is real: FireGrid runs with its ingest, rules, dispatch and API roles, the alarm is
published to the broker as a detector would, and Chromium shows the console. The operator of
the alarm's community sees it on the map and in the hazard list within 2 s, acknowledges it
with a note, and finds its case in the queue with the deadline counting down; the operator of
the other community, watching the same pages live, sees none of it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from simulators.publish import Publisher
from simulators.sensors import event
from tests.fix_browser import ConsoleUp, Shots, open_console
from tests.fix_ingest import wait_until

pytestmark = pytest.mark.browser

ALARM_TO_SCREEN_S = 2.0  # issue 9: "appears on the map and in the list within 2 s"


def _register(up: ConsoleUp, admin: str, grid: str, tag: str) -> tuple[str, str]:
    """Register a key unit in ``grid``, its smoke detector and the grid's worker."""
    lat, lon = up.grids[grid]
    unit, device = f"U-{tag}", f"SMOKE-{tag}"
    up.api(
        "POST",
        "/api/v1/units/import",
        admin,
        [{"unit_id": unit, "name": "双塔商场", "lat": lat, "lon": lon, "level": 1}],
    )
    up.api(
        "POST",
        "/api/v1/devices/import",
        admin,
        [{"device_id": device, "kind": "smoke", "unit_id": unit, "lat": lat, "lon": lon}],
    )
    up.api(
        "POST",
        "/api/v1/staff/import",
        admin,
        [{"staff_id": f"W-{tag}", "name": "王网格", "role": "grid_worker", "area": grid}],
    )
    return unit, device


class Watched(NamedTuple):
    """A key unit with a smoke detector in a grid of ``ours``, watched by two communities."""

    ours: str  # the community whose operator must see the alarm
    theirs: str  # the community whose operator must not
    grid: str
    tag: str
    admin: str  # an admin's token
    unit: str
    device: str


def _watched(up: ConsoleUp, grid_index: int) -> Watched:
    """Register a unit and its detector in grid ``grid_index`` of the first community."""
    ours, theirs = up.communities()
    grid = up.grids_of(ours)[grid_index]  # a grid of its own per test: alarms do not mix
    tag = uuid.uuid4().hex[:6]
    admin = up.token()
    unit, device = _register(up, admin, grid, tag)
    return Watched(ours, theirs, grid, tag, admin, unit, device)


def _alarm(up: ConsoleUp, *devices: str) -> None:
    """Publish a smoke alarm of each of ``devices``, at one instant, as detectors do."""
    publisher = Publisher(up.broker_url, client_id=f"console-{devices[0]}")
    try:
        now = datetime.now(UTC)
        publisher.publish_all([event(d, now, 1, "smoke_alarm", prefix=up.prefix) for d in devices])
    finally:
        publisher.close()


def _case_of(up: ConsoleUp, admin: str, hazard_id: int) -> dict[str, Any] | None:
    """The case opened for a hazard, as the API shows it, or None yet."""
    cases = up.api("GET", "/api/v1/cases?limit=1000", admin)["items"]
    return next((c for c in cases if hazard_id in c["hazard_ids"]), None)


# Each hazard the map draws with a smoke alarm's rule, and the device it is about.
_SMOKE_ALARMS = (
    "() => [...window.firegridMap.hazards.values()]"
    ".filter(({hazard}) => hazard.rule === 'smoke_alarm')"
    ".map(({hazard}) => ({id: hazard.id, device: hazard.device_id,"
    " ...window.firegridMap.drawn(hazard.id)}))"
)


def _drawn(page: Any, device: str | None = None) -> list[dict[str, Any]]:
    """What the map draws for smoke alarms (of ``device``): id, place, colour and grid."""
    alarms: list[dict[str, Any]] = page.evaluate(_SMOKE_ALARMS)
    return [a for a in alarms if device is None or a["device"] == device]


def test_a_smoke_alarm_reaches_its_operator_and_no_other(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    up = console_up
    ours, theirs, grid, tag, admin, unit, device = _watched(up, 1)

    # Both operators watch the map and the hazard list before the alarm: the other community's
    # pages would draw it if the feed leaked.
    op_a, op_b = up.token("operator", [ours]), up.token("operator", [theirs])
    map_a = open_console(browser, up.base_url, op_a)
    list_a = open_console(browser, up.base_url, op_a)
    map_b = open_console(browser, up.base_url, op_b)
    list_b = open_console(browser, up.base_url, op_b)
    try:
        list_a.goto(up.base_url + "/#/hazards")
        list_b.goto(up.base_url + "/#/hazards")
        for page in (map_a, map_b):
            page.locator("[data-testid=map-status]").filter(has_text="网格 4 个").wait_for()
        for page in (map_a, list_a, map_b, list_b):
            page.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
        list_a.locator("[data-testid=hazard-list]").wait_for()
        shots.take(map_a, "map-before")

        publisher = Publisher(up.broker_url, client_id=f"console-{tag}")
        try:
            published = time.monotonic()
            publisher.publish_all(
                [event(device, datetime.now(UTC), 1, "smoke_alarm", prefix=up.prefix)]
            )
            map_a.wait_for_function(
                f"(device) => ({_SMOKE_ALARMS})().some((a) => a.device === device)",
                arg=device,
                timeout=ALARM_TO_SCREEN_S * 1000,
            )
            row = list_a.locator(
                "[data-testid=hazard-list] tr[data-rule=smoke_alarm]", has_text=device
            )
            row.first.wait_for(timeout=ALARM_TO_SCREEN_S * 1000)
            elapsed = time.monotonic() - published
        finally:
            publisher.close()
        print(f"alarm published -> on the map and in the list: {elapsed * 1000:.0f} ms")
        assert elapsed < ALARM_TO_SCREEN_S

        (drawn,) = _drawn(map_a, device)
        lat, lon = up.grids[grid]
        assert (round(drawn["lat"], 6), round(drawn["lon"], 6)) == (round(lat, 6), round(lon, 6))
        assert drawn["grid"] == grid
        assert drawn["color"] == "#f07c00"  # major: one detector, not yet a confirmed fire
        tint = map_a.evaluate(
            "(code) => window.firegridMap.grids.get(code).layer.options.fillColor", grid
        )
        assert tint == "#f07c00"  # its grid takes the colour of its worst open hazard
        hazard_id = int(row.first.get_attribute("data-hazard") or 0)
        assert hazard_id == drawn["id"]
        recent = map_a.locator(f"[data-testid=map-recent] li[data-hazard='{hazard_id}']")
        assert recent.count() == 1
        assert "烟感报警" in recent.inner_text()
        assert "待处理" in row.first.inner_text()
        recent.first.click()  # its details, with the unit's and the device's pages linked
        details = map_a.locator("[data-testid=details]")
        assert f"#/devices/{device}" in (
            details.locator(f"a:has-text('{device}')").get_attribute("href") or ""
        )
        assert details.locator("[data-testid=ack-form]").count() == 1
        shots.take(map_a, "map-alarm")
        shots.take(list_a, "list-alarm")

        # Acknowledge with a note, from the list.
        row.first.locator("[data-testid=ack]").click()
        row.first.locator("[data-testid=ack-form] input").fill("已电话联系商场值班员")
        row.first.locator("[data-testid=ack-form] button").click()
        row.first.locator("[data-testid=hazard-status]").filter(has_text="已确认").wait_for()
        shots.take(list_a, "list-acknowledged")
        stored = up.api("GET", f"/api/v1/hazards/{hazard_id}", admin)
        assert stored["status"] == "acknowledged"
        assert stored["acknowledged_note"] == "已电话联系商场值班员"
        # The map follows live: an acknowledged hazard is drawn as a ring.
        map_a.wait_for_function(
            f"() => window.firegridMap.hazards.get({hazard_id}).hazard.status === 'acknowledged'"
        )
        # Someone has it: its grid is no longer tinted (the grid's patrol warning stays a dot).
        assert (
            map_a.evaluate(
                "(code) => window.firegridMap.grids.get(code).layer.options.fillColor", grid
            )
            == "#dfe6ee"
        )

        # Its case is in the queue, the deadline counting down.
        wait_until(lambda: _case_of(up, admin, hazard_id) is not None, what="the case opened")
        case = _case_of(up, admin, hazard_id)
        assert case is not None
        assert (case["unit_id"], case["assignee"]) == (unit, f"W-{tag}")
        list_a.goto(up.base_url + "/#/cases")
        case_row = list_a.locator(f"[data-testid=case-list] tr[data-case='{case['id']}']")
        case_row.first.wait_for(timeout=10_000)
        text = case_row.first.inner_text()
        assert f"W-{tag}" in text
        countdown = case_row.first.locator("[data-testid=countdown]")
        first = countdown.inner_text()
        time.sleep(1.1)
        second = countdown.inner_text()
        assert first != second, (first, second)
        shots.take(list_a, "case-queue")

        # The other community's operator saw nothing, live or on reload.
        assert _drawn(map_b, device) == []
        assert map_b.locator(f"[data-testid=map-recent] li[data-hazard='{hazard_id}']").count() == 0
        assert list_b.locator("[data-testid=hazard-list] tr", has_text=device).count() == 0
        list_b.reload()
        list_b.locator("[data-testid=hazard-list]").wait_for()
        assert list_b.locator(f"tr[data-hazard='{hazard_id}']").count() == 0
        assert list_b.locator("tr", has_text=device).count() == 0
        list_b.goto(up.base_url + "/#/cases")
        list_b.locator("[data-testid=case-list]").wait_for()
        assert list_b.locator(f"tr[data-case='{case['id']}']").count() == 0
        map_b.reload()
        map_b.locator("[data-testid=map-status]").filter(has_text="网格 4 个").wait_for()
        map_b.wait_for_timeout(300)  # the hazard lists load after the grids
        assert _drawn(map_b, device) == []
        places = map_b.evaluate(
            "() => [...window.firegridMap.hazards.values()].map(({hazard}) => hazard.grid_code)"
        )
        assert all(code.startswith(theirs) for code in places), places
        shots.take(map_b, "other-community-map")
        shots.take(list_b, "other-community-cases")
    finally:
        for page in (map_a, list_a, map_b, list_b):
            page.context.close()


def test_a_confirmed_fire_takes_over_the_screen_until_acknowledged(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    up = console_up
    ours, theirs, grid, tag, admin, unit, first = _watched(up, 2)
    lat, lon = up.grids[grid]
    second = f"SMOKE2-{tag}"
    up.api(
        "POST",
        "/api/v1/devices/import",
        admin,
        [{"device_id": second, "kind": "smoke", "unit_id": unit, "lat": lat, "lon": lon}],
    )
    page = open_console(browser, up.base_url, up.token("operator", [ours]))
    other = open_console(browser, up.base_url, up.token("operator", [theirs]))
    try:
        page.goto(up.base_url + "/#/cases")
        for p in (page, other):
            p.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
        assert page.locator("[data-testid=fire-takeover]").count() == 0

        # Two detectors of one unit within 120 s: a confirmed fire (rules/default_rules.yaml).
        _alarm(up, first, second)
        takeover = page.locator("[data-testid=fire-takeover]")
        takeover.wait_for(timeout=5_000)  # no click needed for it to show
        assert "确认火警" in takeover.inner_text()
        assert unit in takeover.inner_text()
        # The login click unlocked the sound: it is playing, not waiting for a gesture.
        assert page.evaluate("document.documentElement.dataset.alarm") == "sounding"
        shots.take(page, "takeover")

        # A reload (no click since) still shows it: the open fires are loaded, not only pushed.
        page.reload()
        takeover.wait_for()
        fires = takeover.locator("[data-hazard]")
        assert fires.count() == 1
        hazard_id = int(fires.first.get_attribute("data-hazard") or 0)
        fires.first.locator("input").fill("消防站已出警")
        fires.first.locator("button").click()
        takeover.wait_for(state="detached")
        # The sound stops with it (polled: the overlay goes first, the alarm state a moment after).
        page.wait_for_function(
            "document.documentElement.dataset.alarm === undefined", timeout=5_000
        )
        stored = up.api("GET", f"/api/v1/hazards/{hazard_id}", admin)
        assert (stored["rule"], stored["severity"], stored["status"]) == (
            "smoke_confirmed_fire",
            "critical",
            "acknowledged",
        )
        assert stored["acknowledged_note"] == "消防站已出警"
        shots.take(page, "after-ack")

        # The other community's operator was never interrupted.
        assert other.locator("[data-testid=fire-takeover]").count() == 0
    finally:
        page.context.close()
        other.context.close()


def test_the_console_resumes_the_feed_after_a_disconnection_without_losing_events(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    up = console_up
    ours = up.communities()[0]
    tag = uuid.uuid4().hex[:6]
    admin = up.token()
    _, before = _register(up, admin, up.grids_of(ours)[3], f"{tag}a")
    _, during = _register(up, admin, up.grids_of(ours)[3], f"{tag}b")
    page = open_console(browser, up.base_url, up.token("operator", [ours]))
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/api/v1/stream?" in r.url else None)
    rows = page.locator("[data-testid=hazard-list] tr[data-rule=smoke_alarm]")
    try:
        page.locator("[data-testid=nav] a", has_text="隐患").click()
        live = page.locator("[data-testid=live-status]")
        live.filter(has_text="实时").wait_for()
        page.locator("[data-testid=hazard-list]").wait_for()
        _alarm(up, before)
        rows.filter(has_text=before).wait_for()

        page.context.set_offline(True)
        live.filter(has_text="离线").wait_for()
        # An alarm while the console is cut off: it must arrive once the console is back.
        _alarm(up, during)
        wait_until(
            lambda: any(
                h["device_id"] == during
                for h in up.api("GET", "/api/v1/hazards?rule=smoke_alarm", admin)["items"]
            ),
            what="the hazard stored",
        )
        assert rows.filter(has_text=during).count() == 0
        shots.take(page, "offline")
        page.context.set_offline(False)
        rows.filter(has_text=during).wait_for(timeout=20_000)
        live.filter(has_text="实时").wait_for()
        # The reconnection asked for what came after the last event it had seen.
        assert "last_event_id=" in streams[-1], streams
        shots.take(page, "resumed")
    finally:
        page.context.close()


def test_a_new_case_appears_in_the_open_queue_without_a_reload(
    browser: Any, console_up: ConsoleUp, shots: Shots
) -> None:
    up = console_up
    ours = up.communities()[0]
    tag = uuid.uuid4().hex[:6]
    admin = up.token()
    _, device = _register(up, admin, up.grids_of(ours)[0], tag)
    page = open_console(browser, up.base_url, up.token("operator", [ours]))
    try:
        page.locator("[data-testid=nav] a", has_text="工单").click()
        page.locator("[data-testid=case-list]").wait_for()
        page.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        _alarm(up, device)
        row = page.locator("[data-testid=case-list] tr[data-case]", has_text=f"W-{tag}")
        row.wait_for(timeout=10_000)
        assert "火警" in row.inner_text()
        assert row.locator("[data-testid=countdown]").count() == 1
        assert navigations == []  # it came over the live feed, not a reload
        shots.take(page, "case-arrived")
    finally:
        page.context.close()
