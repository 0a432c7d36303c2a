"""The console's detail pages in a real browser: a case with its history, photos and positions;
a key unit's file; a device's readings chart; a terminal's day replayed; the indicators; the
units and devices lists.

Everything is seeded as it happens in service: the registry through the API's imports, a
hydrant's telemetry, a grid worker's walk (NMEA) and hazard report (with its photo) over MQTT
to FireGrid's ingest and rules, the case actions through the API as the worker. Only the unit's
past false alarms and monthly checks, months of history, are written to the database directly.
Screenshots of every page go to test-artifacts/console/.
"""

from __future__ import annotations

import hashlib
import math
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from api.tokens import create_token
from simulators.models import SimMessage
from simulators.publish import Publisher
from simulators.sensors import batch
from simulators.terminal import TerminalSim, make_photo, offset_m, walk_route
from tests.fix_browser import ConsoleUp, Shots, open_console

pytestmark = pytest.mark.browser

T = TypeVar("T")
CHINA = timedelta(hours=8)


def _poll(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    """Call ``probe`` until it returns something; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def _status(up: ConsoleUp, path: str, token: str) -> int:
    request = urllib.request.Request(
        up.base_url + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as answer:
        return answer.code


def _register(up: ConsoleUp, admin: str, grid: str, tag: str) -> dict[str, str]:
    lat, lon = up.grids[grid]
    ids = {
        "unit": f"U-{tag}",
        "smoke": f"SMK-{tag}",
        "hydrant": f"HYD-{tag}",
        "terminal": f"T-{tag}",
        "worker": f"W-{tag}",
    }
    up.api(
        "POST",
        "/api/v1/units/import",
        admin,
        [
            {
                "unit_id": ids["unit"],
                "name": "双塔商场",
                "lat": lat,
                "lon": lon,
                "level": 1,
                "responsible": "张经理",
                "address": "双塔街道凤凰街 88 号",
            }
        ],
    )
    up.api(
        "POST",
        "/api/v1/devices/import",
        admin,
        [
            {"device_id": ids["smoke"], "kind": "smoke", "unit_id": ids["unit"], "lat": lat,
             "lon": lon},
            {"device_id": ids["hydrant"], "kind": "hydrant", "unit_id": ids["unit"], "lat": lat,
             "lon": lon, "heartbeat_s": 900},
            {"device_id": ids["terminal"], "kind": "terminal"},
        ],
    )  # fmt: skip
    up.api(
        "POST",
        "/api/v1/staff/import",
        admin,
        [
            {
                "staff_id": ids["worker"],
                "name": "王网格",
                "role": "grid_worker",
                "area": grid,
                "terminal_id": ids["terminal"],
            }
        ],
    )
    return ids


def _hydrant_day(device: str, prefix: str, now: datetime) -> SimMessage:
    """A day of pressure every 15 minutes, with a dip of an hour and a half: a curve worth
    drawing."""
    samples: list[tuple[datetime, int | None, dict[str, float]]] = []
    for i in range(96):
        ts = now - timedelta(minutes=15 * (96 - i))
        pressure = 0.32 + 0.03 * math.sin(i / 8) - (0.12 if 60 <= i < 66 else 0.0)
        samples.append(
            (ts, i + 1, {"pressure_mpa": round(pressure, 3), "battery_pct": 90 - i // 24})
        )
    return batch(device, samples, prefix=prefix)


def _history(db_url: str, unit: str, grid: str, now: datetime) -> None:
    """Months of the unit's past: false alarms in two months, monthly checks overdue then done."""
    month_ago = now - timedelta(days=35)
    rows = [
        ("unit_false_alarms", "false_alarms", month_ago, None),
        ("unit_false_alarms", "false_alarms", month_ago + timedelta(days=1), None),
        ("unit_false_alarms", "false_alarms", now - timedelta(days=2), None),
        ("extinguisher_monthly_check", "silence", month_ago, month_ago + timedelta(days=3)),
        ("extinguisher_monthly_check", "silence", now - timedelta(days=3), None),
    ]
    with psycopg.connect(db_url) as conn:
        for n, (rule, kind, opened, cleared) in enumerate(rows):
            conn.execute(
                "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
                " key, unit_id, opened_at, cleared_at, episode, grid_code, community_code,"
                " street_code) VALUES (%s, %s, 'warning', %s, 'unit', %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s)",
                (
                    rule,
                    kind,
                    "cleared" if cleared or kind == "false_alarms" else "open",
                    unit,
                    f"{unit}/{rule}/{n}",
                    unit,
                    opened,
                    cleared or (opened if kind == "false_alarms" else None),
                    n + 1,  # the episode: one subject's hazards of one rule are numbered
                    grid,
                    grid[:12],
                    grid[:9],
                ),
            )


def _walk(lat: float, lon: float, start: datetime) -> list[Any]:
    """Two laps of a 160 m square around the grid's centre: about 16 minutes, a fix a second."""
    corners = [offset_m(lat, lon, n, e) for n, e in ((-80, -80), (-80, 80), (80, 80), (80, -80))]
    return walk_route([*corners, *corners, corners[0]], start=start, seed=7)


@pytest.fixture(scope="module")
def world(console_up: ConsoleUp) -> dict[str, Any]:
    """A unit with a smoke detector and a hydrant, a grid worker who walked their grid, reported
    a blocked exit there and handled the case it opened (signed, then feedback with a photo)."""
    up = console_up
    tag = uuid.uuid4().hex[:6].upper()
    grid = up.grids_of(up.communities()[1])[3]
    admin = up.token()
    ids = _register(up, admin, grid, tag)
    lat, lon = up.grids[grid]
    now = datetime.now(UTC)
    walk_start = now - timedelta(minutes=40)
    terminal = TerminalSim(ids["terminal"], prefix=up.prefix, seed=3)
    report, report_photos = terminal.report(
        ts=now - timedelta(minutes=20),
        position=offset_m(lat, lon, 30, -40),
        category="blocked_exit",
        description="商场东侧安全出口被货物堵塞",
        unit_id=ids["unit"],
    )
    at_exit = offset_m(lat, lon, 25, -35)
    evidence = make_photo(seed=99, taken_at=now, gps=at_exit, size=(320, 240))
    evidence_sha = hashlib.sha256(evidence).hexdigest()
    walk = terminal.nmea(_walk(lat, lon, walk_start))
    publisher = Publisher(up.broker_url, client_id=f"details-{tag}")
    try:
        publisher.publish_all(
            [
                _hydrant_day(ids["hydrant"], up.prefix, now),
                *walk,
                *report_photos,
                report,
                (terminal.topic(f"photo/{evidence_sha}"), evidence),
            ]
        )
    finally:
        publisher.close()
    _history(up.db_url, ids["unit"], grid, now)

    def the_case() -> dict[str, Any] | None:
        cases = up.api("GET", f"/api/v1/cases?grid={grid}", admin)["items"]
        return next((c for c in cases if c["unit_id"] == ids["unit"]), None)

    case = _poll("the report's case", the_case)
    _poll(
        "the evidence photo",
        lambda: _status(up, f"/api/v1/photos/{evidence_sha}", admin) == 200,
    )
    # The grid's worker: ours, unless another test's worker of this grid was registered first
    # (the browser tests share one FireGrid); the steps are taken by whoever has the case.
    assignee = case["assignee"]
    assert assignee is not None, case
    with psycopg.connect(up.db_url) as conn:
        worker = create_token(conn, role="grid_worker", areas=[grid], staff_id=assignee)
    steps = [
        {"action": "sign", "note": "收到，马上过去", "position": offset_m(lat, lon, -60, 20)},
        {
            "action": "feedback",
            "note": "已督促商场清理货物，出口恢复畅通",
            "photos": [evidence_sha],
            "position": at_exit,
        },
    ]
    for step in steps:
        point = step.pop("position")
        body = {
            **step,
            "action_id": uuid.uuid4().hex,
            "position": {"lat": point[0], "lon": point[1]},
        }
        up.api("POST", f"/api/v1/cases/{case['id']}/actions", worker, body)
    _poll(
        "the walk's patrol segment",
        lambda: up.api("GET", f"/api/v1/terminals/{ids['terminal']}/patrols", admin)["items"],
    )
    # Every fix of the walk stored, not only enough of it for a segment (a loaded machine
    # drew the track page with 610 of its 976 fixes).
    walked = len({f.ts for m in walk for f in m.expected_fixes})
    _poll(
        "every fix of the walk",
        lambda: (
            len(
                up.api("GET", f"/api/v1/terminals/{ids['terminal']}/track?limit=1000", admin)[
                    "items"
                ]
            )
            == walked
        ),
    )
    day = (walk_start + CHINA).date().isoformat()
    return {
        **ids,
        "grid": grid,
        "admin": admin,
        "case": case["id"],
        "assignee": assignee,
        "worker_token": worker,
        "evidence": evidence_sha,
        "report_photos": [m.expected_photos[0] for m in report_photos],
        "day": day,
    }


@pytest.fixture
def page(browser: Any, console_up: ConsoleUp, world: dict[str, Any]) -> Iterator[Any]:
    tab = open_console(browser, console_up.base_url, world["admin"])
    try:
        yield tab
    finally:
        tab.context.close()


def _chart_drawn(page: Any, testid: str) -> None:
    """Wait for a uPlot chart's canvas, and check it is not blank."""
    canvas = page.locator(f"[data-testid={testid}] canvas")
    canvas.wait_for()
    inked = page.evaluate(
        """(id) => {
          const c = document.querySelector(`[data-testid=${id}] canvas`);
          const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n += 1;
          return n;
        }""",
        testid,
    )
    assert inked > 500, f"{testid} draws almost nothing ({inked} pixels)"


def test_a_cases_page_shows_every_step_its_photos_and_where_each_was(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/cases/{world['case']}")
    history = page.locator("[data-testid=case-history]")
    history.locator("tr[data-step]", has_text="处置反馈").wait_for()
    rows = history.locator("tr[data-step]")
    stored = console_up.api("GET", f"/api/v1/cases/{world['case']}", world["admin"])["history"]
    assert rows.count() == len(stored)
    # Steps found by what they say: another test of the module may have added one since.
    seq = {s["action"]: s["seq"] for s in stored}
    signed = history.locator(f"tr[data-step='{seq['sign']}']").inner_text()
    assert "签收" in signed
    assert "收到，马上过去" in signed
    assert world["assignee"] in signed
    fed_back = history.locator(f"tr[data-step='{seq['feedback']}']").inner_text()
    assert "处置反馈" in fed_back
    assert "已督促商场清理货物" in fed_back
    assert "安全出口堵塞" in page.locator("[data-testid=case-report]").inner_text()
    # The report's photo and the feedback's, each fetched with the token and shown.
    thumbs = page.locator("[data-testid=photo-thumb] img")
    _poll("two thumbnails", lambda: thumbs.count() == 2, 10)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=photo-thumb] img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=photo-thumb] img')]"
        ".map((img) => img.naturalWidth)"
    )
    assert sorted(sizes) == [96, 320]  # the simulator's report photo, the feedback's evidence
    # The two steps taken somewhere are numbered on the map, with the case's own place, over
    # the grids of the case's community (4 of them).
    page.wait_for_function(
        "() => document.querySelector('[data-testid=case-map]').dataset.grids === '4'"
    )
    page.locator("[data-testid=case-map] .leaflet-tooltip").nth(1).wait_for()
    tips = page.locator("[data-testid=case-map] .leaflet-tooltip").all_inner_texts()
    assert any(tip.startswith(f"{seq['sign']} 签收") for tip in tips), tips
    assert any(tip.startswith(f"{seq['feedback']} 处置反馈") for tip in tips), tips
    shots.take(page, "case")
    # Click a thumbnail: the photo full size above the page; a click closes it.
    page.locator("[data-testid=photo-thumb]").last.click()
    lightbox = page.locator("[data-testid=lightbox]")
    lightbox.wait_for()
    shots.take(page, "case-photo")
    lightbox.click()
    lightbox.wait_for(state="detached")


def test_a_units_file_shows_devices_hazards_cases_and_months(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/units/{world['unit']}")
    page.locator("[data-testid=page-unit]").wait_for()
    assert page.locator("[data-testid=unit-level]").inner_text() == "一级"
    assert page.locator("[data-testid=unit-responsible]").inner_text() == "张经理"
    devices = page.locator("[data-testid=unit-devices]")
    assert devices.locator(f"a[href='#/devices/{world['hydrant']}']").count() == 1
    assert "在线" in devices.locator("tr", has_text=world["hydrant"]).inner_text()
    assert "未通信" in devices.locator("tr", has_text=world["smoke"]).inner_text()
    cases = page.locator("[data-testid=unit-cases]")
    assert cases.locator(f"a[href='#/cases/{world['case']}']").count() == 1
    hazards = page.locator("[data-testid=unit-hazards]").inner_text()
    assert "灭火器月检逾期" in hazards  # this month's check, still open
    _chart_drawn(page, "unit-trend")
    # Two months on the axis: last month's two false alarms and check, this month's.
    legend = page.locator("[data-testid=unit-trend] .u-legend").inner_text()
    assert "误报" in legend
    assert "月检逾期" in legend
    shots.take(page, "unit")
    # A device links to its page.
    devices.locator(f"a[href='#/devices/{world['hydrant']}']").click()
    page.locator("[data-testid=page-device]").wait_for()


def test_a_devices_page_charts_its_bucketed_readings(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/devices/{world['hydrant']}")
    page.locator("[data-testid=page-device]").wait_for()
    assert page.locator("h2 [data-testid=device-status]").inner_text() == "在线"
    chart = page.locator("[data-testid=readings-chart]")
    chart.wait_for()
    _chart_drawn(page, "readings-chart")
    # 24 h in 15-minute buckets: as many points as the API has buckets.
    buckets = console_up.api(
        "GET",
        f"/api/v1/devices/{world['hydrant']}/readings?metric=battery_pct&bucket=15m"
        f"&from={(datetime.now(UTC) - timedelta(hours=24)).isoformat().replace('+00:00', 'Z')}",
        world["admin"],
    )["items"]
    assert abs(int(chart.get_attribute("data-points") or 0) - len(buckets)) <= 1
    assert page.locator("[data-testid=metric]").input_value() == "battery_pct"
    page.locator("[data-testid=metric]").select_option("pressure_mpa")
    page.locator("[data-testid=range]").select_option("6h")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=readings-chart]').dataset.points) <= 25"
    )
    _chart_drawn(page, "readings-chart")
    shots.take(page, "device")


def test_a_terminals_day_is_drawn_with_its_segments_and_replays(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/terminals/{world['terminal']}/track?day={world['day']}")
    page.locator("[data-testid=track-map]").wait_for()
    summary = page.locator("[data-testid=track-summary]").inner_text()
    track = console_up.api(
        "GET", f"/api/v1/terminals/{world['terminal']}/track?limit=1000", world["admin"]
    )
    assert track["next_cursor"] is None  # the walk is under 1,000 fixes: one page is all
    fixes = track["items"]
    assert f"定位点 {len(fixes)} 个" in summary
    assert page.locator("[data-testid=segments] tbody tr").count() >= 1
    replay = page.locator("[data-testid=replay]")
    assert replay.get_attribute("data-fix") == "0"
    shots.take(page, "track-start")
    # Play at 300x: the marker moves along the track in time order.
    page.locator("[data-testid=replay] select").select_option("300")
    page.locator("[data-testid=play]").click()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=replay]').dataset.fix) > 100"
    )
    page.locator("[data-testid=play]").click()  # pause
    paused = int(replay.get_attribute("data-fix") or 0)
    page.wait_for_timeout(400)
    assert int(replay.get_attribute("data-fix") or 0) == paused
    # The slider's end is the day's last fix.
    slider = page.locator("[data-testid=replay-slider]")
    slider.evaluate(
        "(el) => { el.value = el.max; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=replay]').dataset.fix === '{len(fixes) - 1}'"
    )
    shots.take(page, "track-end")
    # The day after (tomorrow) has no track yet; the day before it is the walk's again.
    page.locator("[data-testid=day-after]").click()
    page.locator("[data-testid=track-empty]").wait_for()
    assert page.locator("[data-testid=day]").input_value() > world["day"]
    page.locator("[data-testid=day-before]").click()
    page.locator("[data-testid=track-map]").wait_for()
    assert page.locator("[data-testid=day]").input_value() == world["day"]
    # A day picked in the calendar.
    page.locator("[data-testid=day]").fill("2020-01-01")
    page.locator("[data-testid=day]").dispatch_event("change")
    page.locator("[data-testid=track-empty]").wait_for()
    assert page.url.endswith("?day=2020-01-01")


def _this_china_month() -> tuple[str, str]:
    """The current calendar month in China, as the indicators page's default period."""
    china = datetime.now(UTC) + CHINA
    start = datetime(china.year, china.month, 1, tzinfo=UTC) - CHINA
    year, month = (china.year + 1, 1) if china.month == 12 else (china.year, china.month + 1)
    end = datetime(year, month, 1, tzinfo=UTC) - CHINA
    return (start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z"))


def test_indicators_per_level_as_a_table_and_a_chart(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/indicators")
    table = page.locator("[data-testid=indicator-table]")
    table.wait_for()
    start, end = _this_china_month()
    expected = console_up.api(
        "GET", f"/api/v1/indicators?level=grid&from={start}&to={end}", world["admin"]
    )["items"]
    assert table.locator("tbody tr").count() == len(expected)
    ours = next(i for i in expected if i["code"] == world["grid"])
    grids = console_up.api("GET", "/api/v1/grids?level=grid", world["admin"])["items"]
    name = next(g["name"] for g in grids if g["code"] == world["grid"])
    assert name
    table.locator(f"tr[data-code='{world['grid']}']", has_text=name).wait_for()
    row = table.locator(f"tr[data-code='{world['grid']}'] td").all_inner_texts()
    assert row[0] == f"{name} {ours['code']}"  # the grid's name, then its code
    assert row[1:4] == [str(ours["due"]), str(ours["closed"]), str(ours["closed_on_time"])]
    _chart_drawn(page, "indicator-chart")
    shots.take(page, "indicators-grid")
    page.locator("[data-testid=level-switch] button", has_text="社区").click()
    table.locator(f"tr[data-code='{world['grid'][:12]}']").wait_for()
    assert table.locator(f"tr[data-code='{world['grid']}']").count() == 0
    _chart_drawn(page, "indicator-chart")
    shots.take(page, "indicators-community")


def test_the_units_and_devices_lists_link_to_their_pages(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    nav = page.locator("[data-testid=nav]")
    assert nav.inner_text().split()[-3:] == ["重点单位", "设备", "指标"]
    nav.get_by_text("重点单位").click()
    units = page.locator("[data-testid=unit-list]")
    units.locator(f"a[href='#/units/{world['unit']}']").wait_for()
    shots.take(page, "units")
    nav.get_by_text("设备").click()
    devices = page.locator("[data-testid=device-list]")
    devices.locator(f"a[href='#/devices/{world['hydrant']}']").wait_for()
    # A terminal links to its track, and so does its device page.
    assert devices.locator(f"a[href='#/terminals/{world['terminal']}/track']").count() == 1
    page.goto(f"{console_up.base_url}/#/devices/{world['terminal']}")
    page.locator("[data-testid=track-link]").click()
    page.locator("[data-testid=page-track]").wait_for()
    nav.get_by_text("设备").click()
    page.locator("[data-testid=filter-kind]").select_option("hydrant")
    devices.locator("tbody tr").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=device-list] tbody tr')]"
        ".every((tr) => tr.innerText.includes('消火栓'))"
    )
    shots.take(page, "devices")


def test_the_detail_pages_speak_english_when_switched(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.get_by_role("button", name="English").click()
    areas = [a["name"] for a in console_up.api("GET", "/api/v1/grids", world["admin"])["items"]]
    pages = {
        f"#/cases/{world['case']}": ("[data-testid=case-history]", "Feedback"),
        f"#/units/{world['unit']}": ("[data-testid=page-unit]", "Responsible person"),
        f"#/devices/{world['hydrant']}": ("[data-testid=page-device]", "Latest values"),
        f"#/terminals/{world['terminal']}/track?day={world['day']}": (
            "[data-testid=page-track]",
            "Patrol segments",
        ),
        "#/indicators": ("[data-testid=page-indicators]", "Closure rate"),
    }
    for n, (hash_, (selector, text)) in enumerate(pages.items()):
        page.goto(f"{console_up.base_url}/{hash_}")
        page.locator(selector).filter(has_text=text).wait_for()
        if page.locator("[data-testid=case-map]").count():
            page.wait_for_function(
                "() => document.querySelector('[data-testid=case-map]').dataset.grids === '4'"
            )
        body = page.locator("main.page").inner_text()
        labels = _labels_only(body, areas)
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in labels), (hash_, labels)
        shots.take(page, f"english-{n}")


def _labels_only(text: str, areas: list[str]) -> str:
    """The page's text without what the seeded data itself says in Chinese (``areas``: the
    names of the streets, communities and grids)."""
    for said in (
        "双塔商场",
        "张经理",
        "双塔街道凤凰街 88 号",
        "商场东侧安全出口被货物堵塞",
        "收到，马上过去",
        "已督促商场清理货物，出口恢复畅通",
        "王网格",
        "商场需订购新的防火门",  # the live test's step, if it ran first
    ):
        text = text.replace(said, "")
    for name in sorted(areas, key=len, reverse=True):
        text = text.replace(name, "")
    return text


def test_a_step_taken_while_the_case_is_open_appears_without_reload(
    page: Any, console_up: ConsoleUp, world: dict[str, Any], shots: Shots
) -> None:
    page.goto(f"{console_up.base_url}/#/cases/{world['case']}")
    rows = page.locator("[data-testid=case-history] tr[data-step]")
    rows.filter(has_text="处置反馈").wait_for()
    before = rows.count()
    page.locator("[data-testid=live-status]").filter(has_text="实时").wait_for()
    case = console_up.api("GET", f"/api/v1/cases/{world['case']}", world["admin"])
    until = datetime.fromisoformat(case["deadline"]) + timedelta(days=1)
    body = {
        "action_id": uuid.uuid4().hex,
        "action": "extend",
        "note": "商场需订购新的防火门",
        "until": until.isoformat(),
    }
    console_up.api("POST", f"/api/v1/cases/{world['case']}/actions", world["worker_token"], body)
    rows.nth(before).filter(has_text="商场需订购新的防火门").wait_for(timeout=5_000)
    assert "申请延期" in rows.nth(before).inner_text()
    shots.take(page, "case-live-step")


def test_an_operator_of_another_community_sees_none_of_it(
    browser: Any, console_up: ConsoleUp, world: dict[str, Any]
) -> None:
    theirs = next(c for c in console_up.communities() if not world["grid"].startswith(c))
    other = open_console(browser, console_up.base_url, console_up.token("operator", [theirs]))
    try:
        for hash_ in (
            f"#/cases/{world['case']}",
            f"#/units/{world['unit']}",
            f"#/devices/{world['hydrant']}",
            f"#/terminals/{world['terminal']}/track?day={world['day']}",
        ):
            other.goto(f"{console_up.base_url}/{hash_}")
            alert = other.locator("main.page [role=alert]")
            alert.wait_for()
            assert "出错" in alert.inner_text(), hash_
        other.goto(f"{console_up.base_url}/#/units")
        other.locator("[data-testid=page-units]").wait_for()
        loaded = "() => !document.querySelector('main.page').innerText.includes('…')"
        other.wait_for_function(loaded)
        assert world["unit"] not in other.locator("main.page").inner_text()
    finally:
        other.context.close()


def test_the_pages_helpers(page: Any, console_up: ConsoleUp) -> None:
    """The detail pages' pure helpers, run in the browser as the console runs them."""
    found = page.evaluate(
        """async () => {
          const track = await import('/console/pages/track.js');
          const ind = await import('/console/pages/indicators.js');
          const unit = await import('/console/pages/unit.js');
          const times = [10, 20, 20, 30, 50];
          const month = ind.periodBounds('month', Date.parse('2026-12-31T17:00:00Z'));
          const last = ind.periodBounds('last_month', Date.parse('2026-01-15T00:00:00Z'));
          const week = ind.periodBounds('7d', Date.parse('2026-12-07T12:00:00Z'));
          return {
            fix: [5, 10, 19, 20, 25, 30, 49, 50, 99].map((at) => track.fixAt(times, at)),
            today: track.chinaToday(Date.parse('2026-12-07T16:30:00Z')),
            day: track.dayBounds('2026-12-08'),
            month: [month.from.toISOString(), month.to.toISOString()],
            last: [last.from.toISOString(), last.to.toISOString()],
            week: [week.from.toISOString(), week.to.toISOString()],
            series: unit.monthlySeries({
              false_alarms: [{ month: '2026-10', count: 3 }, { month: '2026-12', count: 1 }],
              inspections: [
                { overdue_since: '2026-11-02T00:00:00Z', checked_at: '2026-12-01T00:00:00Z' },
                { overdue_since: '2026-12-02T00:00:00Z', checked_at: null },
              ],
            }),
          };
        }"""
    )
    assert found["fix"] == [0, 0, 0, 2, 2, 3, 3, 4, 4]
    assert found["today"] == "2026-12-08"  # 00:30 in China
    assert found["day"] == {"from": "2026-12-07T16:00:00.000Z", "to": "2026-12-08T16:00:00.000Z"}
    # 2027-01-01 01:00 in China: this month is January, China's.
    assert found["month"] == ["2026-12-31T16:00:00.000Z", "2027-01-31T16:00:00.000Z"]
    # 2026-01-15: last month is December 2025, across the year.
    assert found["last"] == ["2025-11-30T16:00:00.000Z", "2025-12-31T16:00:00.000Z"]
    # 20:00 in China on the 7th: the 7 days up to the 8th's start, the 7th included.
    assert found["week"] == ["2026-11-30T16:00:00.000Z", "2026-12-07T16:00:00.000Z"]
    assert found["series"] == {
        "months": ["2026-10", "2026-11", "2026-12"],
        "columns": [[3, 0, 1], [0, 1, 1], [0, 0, 1]],
    }


def test_in_gcj02_the_case_and_track_are_asked_and_drawn_in_gcj02(
    page: Any, console_up: ConsoleUp, world: dict[str, Any]
) -> None:
    """With the map settings in GCJ-02 (for tiles in that system), the small maps ask for every
    position in GCJ-02: the steps land where the API's GCJ-02 positions say."""
    settings = {"tileUrl": "", "crs": "gcj02"}
    page.evaluate("(s) => localStorage.setItem('firegrid.map', JSON.stringify(s))", settings)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{console_up.base_url}/#/cases/{world['case']}")
    page.locator("[data-testid=case-map] .leaflet-tooltip").nth(1).wait_for()
    shifted = console_up.api("GET", f"/api/v1/cases/{world['case']}?crs=gcj02", world["admin"])[
        "history"
    ]
    feedback = next(s for s in shifted if s["action"] == "feedback")
    plain = console_up.api("GET", f"/api/v1/cases/{world['case']}", world["admin"])["history"]
    wgs84 = next(s for s in plain if s["action"] == "feedback")
    # Where the markers are: the feedback's at its GCJ-02 position, none at its WGS-84 one.
    drawn = page.evaluate(
        """() => {
          const points = [];
          document.querySelector('[data-testid=case-map]').leafletMap.eachLayer((layer) => {
            if (layer.getLatLng) points.push([layer.getLatLng().lat, layer.getLatLng().lng]);
          });
          return points;
        }"""
    )

    def near(point: list[float], step: dict[str, Any]) -> bool:
        return bool(abs(point[0] - step["lat"]) < 1e-9 and abs(point[1] - step["lon"]) < 1e-9)

    assert any(near(p, feedback) for p in drawn), (feedback, drawn)
    assert not any(near(p, wgs84) for p in drawn)
    page.goto(f"{console_up.base_url}/#/terminals/{world['terminal']}/track?day={world['day']}")
    page.locator("[data-testid=replay]").wait_for()
    positioned = [
        u
        for u in asked
        if f"/api/v1/cases/{world['case']}?" in u or "/track?" in u or "/api/v1/grids?" in u
    ]
    assert {"case", "track", "grids"} <= {
        "case" if "/cases/" in u else "track" if "/track?" in u else "grids" for u in positioned
    }
    assert all("crs=gcj02" in u for u in positioned), positioned
