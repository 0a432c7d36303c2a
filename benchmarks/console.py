"""The console in Chromium: first render with 12,000 grids and 1,000 hazards, frame times while
panning, and an alarm published over MQTT → on the SSE feed and → drawn on the console's map.

FireGrid runs for real (``firegrid up`` with ingest, rules, dispatch and the API, as the browser
tests run it) on a scratch database holding the source documents' city (12,000 grids) and
1,000 open hazards; the broker is FireGrid's embedded Mosquitto. Alarms are published one at a
time (idle system); each is timed to its ``hazard.opened`` event on a plain SSE client and to
the moment the console's map first draws it (same machine, same wall clock). Run:
``python benchmarks/console.py --db-url postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from playwright.sync_api import sync_playwright

from firegrid.db import migrate
from firegrid.embedded.broker import start_broker
from grids.models import parse_grids
from grids.service import import_grids
from ingest.config import StorageSettings
from simulators.grid_layout import generate_city, grid_centres
from simulators.publish import Publisher
from simulators.sensors import event
from tests.fix_browser import chromium_path, launch_chromium, start_up
from tests.fix_db import create_database, drop_database


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", required=True, help="admin URL of a PostgreSQL server")
    parser.add_argument("--hazards", type=int, default=1000, help="open hazards at first render")
    parser.add_argument("--alarms", type=int, default=100, help="alarms timed to the screen")
    parser.add_argument("--renders", type=int, default=3, help="first renders measured")
    parser.add_argument("--burst", type=int, default=1000, help="alarms published at once")
    args = parser.parse_args()
    name = f"fg_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.db_url, name)
    tmp = Path(tempfile.mkdtemp(prefix="fg-console-bench-"))
    broker = start_broker(tmp / "broker")
    try:
        migrate(url, storage=StorageSettings())
        centres = _city(url, hazards=args.hazards)
        up = start_up(tmp, url, broker.url, centres)
        try:
            if not up.wait_ready(120):
                raise SystemExit(f"FireGrid did not start:\n{up.log.read_text()}")
            _run(up, centres, renders=args.renders, alarms=args.alarms, burst=args.burst)
        finally:
            up.stop()
    finally:
        broker.stop()
        drop_database(args.db_url, name)


def _city(url: str, *, hazards: int) -> dict[str, tuple[float, float]]:
    collection = generate_city(seed=1)
    centres = grid_centres(collection)
    codes = random.Random(1).sample(sorted(centres), hazards)
    with psycopg.connect(url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="console bench")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
                " key, grid_code, community_code, street_code, opened_at, episode)"
                " VALUES ('grid_patrol', 'patrol_compliance', %s, 'open', 'grid', %s, %s,"
                " %s, %s, %s, now(), 1)",
                [
                    (("warning", "major", "info")[i % 3], c, f"grid:{c}", c, c[:12], c[:9])
                    for i, c in enumerate(codes)
                ],
            )
    print(f"city: {len(centres)} grids, {hazards} open hazards")
    return centres


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {ordered[-1]:.0f} ms (n={len(ordered)})"


def _login(browser: Any, base_url: str, token: str) -> tuple[Any, float, float]:
    """Open the console and log in; return the page, s to every grid and s to every hazard."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(base_url + "/")
    page.fill("#token", token)
    start = time.perf_counter()
    page.click("button[type=submit]")
    page.wait_for_function(
        "() => window.firegridMap && window.firegridMap.grids.size === 12000", timeout=120_000
    )
    grids = time.perf_counter() - start
    page.wait_for_function("(n) => window.firegridMap.hazards.size >= n", arg=1000)
    return page, grids, time.perf_counter() - start


# Pan the map 40 times by 150 px, one step per frame; answer the frame intervals in ms.
_PAN = """async () => {
  const map = window.firegridMap.map;
  const frames = [];
  let last = performance.now();
  for (let i = 0; i < 40; i++) {
    map.panBy([i % 2 ? -150 : 150, 90], { animate: false });
    await new Promise((done) => requestAnimationFrame(done));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  return frames;
}"""


def _run(
    up: Any, centres: dict[str, tuple[float, float]], *, renders: int, alarms: int, burst: int
) -> None:
    admin = up.token()
    executable = chromium_path()
    if executable is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, executable)
        for _ in range(renders):
            page, grids_s, hazards_s = _login(browser, up.base_url, admin)
            print(
                f"first render: 12,000 grids in {grids_s:.2f} s, 1,000 hazards in {hazards_s:.2f} s"
            )
            page.context.close()
        page, _, _ = _login(browser, up.base_url, admin)
        page.wait_for_timeout(2000)
        frames = page.evaluate(_PAN)
        # The first pan after the load also finishes the load's last redraw: said apart.
        print(f"panning: first frame {frames[0]:.0f} ms, then {_percentiles(frames[1:])}")
        _alarms(up, page, admin, centres, alarms)
        if burst:
            _burst(up, page, admin, centres, burst)
        browser.close()


def _devices(up: Any, admin: str, centres: dict[str, tuple[float, float]], count: int) -> list[str]:
    """Register ``count`` smoke detectors in random grids; return their IDs."""
    tag = uuid.uuid4().hex[:6]
    grids = random.Random(tag).sample(sorted(centres), count)
    devices = [f"BENCH-{tag}-{i:04d}" for i in range(count)]
    rows = [
        {"device_id": d, "kind": "smoke", "lat": centres[g][0], "lon": centres[g][1]}
        for d, g in zip(devices, grids, strict=True)
    ]
    up.api("POST", "/api/v1/devices/import", admin, rows)
    return devices


# Count the browser's long tasks (> 50 ms of script or rendering that blocks input).
_WATCH_LONG_TASKS = """() => {
  window.benchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.benchLongTasks.push(entry.duration);
  }).observe({ type: 'longtask' });
}"""

_SMOKE_COUNT = (
    "() => [...window.firegridMap.hazards.values()]"
    ".filter(({hazard}) => hazard.rule === 'smoke_alarm').length"
)
_SMOKE_DRAWN = f"(n) => ({_SMOKE_COUNT})() >= n"


def _burst(
    up: Any, page: Any, admin: str, centres: dict[str, tuple[float, float]], count: int
) -> None:
    already = page.evaluate(_SMOKE_COUNT)
    devices = _devices(up, admin, centres, count)
    page.evaluate(_WATCH_LONG_TASKS)
    publisher = Publisher(up.broker_url, client_id=f"bench-burst-{uuid.uuid4().hex[:6]}")
    now = datetime.now(UTC)
    try:
        start = time.perf_counter()
        publisher.publish_all([event(d, now, 1, "smoke_alarm", prefix=up.prefix) for d in devices])
        published = time.perf_counter() - start
    finally:
        publisher.close()
    page.wait_for_function(_SMOKE_DRAWN, arg=already + count, timeout=300_000)
    drawn = time.perf_counter() - start
    long_tasks = page.evaluate("window.benchLongTasks")
    print(
        f"burst of {count} alarms: published in {published:.2f} s, all drawn after {drawn:.2f} s;"
        f" browser long tasks: {len(long_tasks)}, longest {max(long_tasks, default=0):.0f} ms"
    )


_RECORD_ARRIVALS = """async () => {
  const live = await import('/console/live.js');
  window.benchArrivals = {};
  live.subscribe((type, data) => {
    if (type === 'hazard.opened' && data.device_id && !(data.device_id in window.benchArrivals)) {
      window.benchArrivals[data.device_id] = performance.timeOrigin + performance.now();
    }
  });
}"""


def _alarms(
    up: Any, page: Any, admin: str, centres: dict[str, tuple[float, float]], count: int
) -> None:
    tag = uuid.uuid4().hex[:6]
    devices = _devices(up, admin, centres, count)
    on_feed: dict[str, float] = {}
    ready = threading.Event()
    stop = threading.Event()

    def read_feed() -> None:
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.stream(
            "GET", up.base_url + "/api/v1/stream", headers=headers, timeout=None
        ) as r:
            kind = None
            for line in r.iter_lines():
                ready.set()  # the stream's first line (": connected"): it is following now
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "hazard.opened":
                    body = json.loads(line[6:])
                    if body.get("device_id") in published:
                        on_feed.setdefault(body["device_id"], time.time())

    # The browser's own moment of arrival: the console's live module, imported again by URL,
    # is the same instance the page uses, so this subscriber sees what the map sees.
    page.evaluate(_RECORD_ARRIVALS)
    published: dict[str, float] = {}
    reader = threading.Thread(target=read_feed, daemon=True)
    reader.start()
    if not ready.wait(60):
        raise SystemExit("the SSE feed did not answer within 60 s")
    publisher = Publisher(up.broker_url, client_id=f"bench-{tag}")
    try:
        for device in devices:
            published[device] = time.time()
            publisher.publish_all(
                [event(device, datetime.now(UTC), 1, "smoke_alarm", prefix=up.prefix)]
            )
            time.sleep(0.25)
    finally:
        publisher.close()
    page.wait_for_function(_SMOKE_DRAWN, arg=count, timeout=60_000)
    stop.set()
    drawn = page.evaluate(
        "() => [...window.firegridMap.hazards.values()]"
        ".filter(({hazard}) => hazard.rule === 'smoke_alarm')"
        ".map(({hazard}) => [hazard.device_id, window.firegridMap.firstDrawn.get(hazard.id)])"
    )
    arrived = page.evaluate("window.benchArrivals")
    feed_ms = [(on_feed[d] - published[d]) * 1000 for d in devices if d in on_feed]
    browser_ms = [(arrived[d] / 1000 - published[d]) * 1000 for d in devices if d in arrived]
    screen_ms = [(at / 1000 - published[d]) * 1000 for d, at in drawn if d in published]
    print(f"alarm -> SSE feed, Python client (idle): {_percentiles(feed_ms)}")
    print(f"alarm -> SSE event in the browser (idle): {_percentiles(browser_ms)}")
    print(f"alarm -> drawn on the console map (idle): {_percentiles(screen_ms)}")
    # The console's own share: from the event's arrival in the browser to its circle drawn.
    console_ms = [at - arrived[d] for d, at in drawn if d in arrived]
    print(f"SSE event in the browser -> drawn (the console's share): {_percentiles(console_ms)}")


if __name__ == "__main__":
    main()
