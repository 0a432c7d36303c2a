"""What the docs test needs to run each kind of example: publish and read back MQTT payloads,
import files, send curl lines and compare answers, run the CLI (``test_docs_examples.py``).

How examples are marked and which runner takes each: ``tests/docs_examples.py``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from devices.flows import parse_registry, store_registry, unreadable
from devices.geo import Crs
from grids.exceptions import GridImportError
from grids.flows import import_grid_file
from grids.locator import GridLocator
from tests import docs_examples as docs
from tests.docs_examples import Example
from tests.fix_api import free_port
from tests.fix_ingest import IngestHarness, wait_until

# Sender kinds an MQTT example's ``register=`` may ask for; without it a device topic registers
# a hydrant and a terminal topic a terminal (``no``: leave it unregistered).
_KINDS = {"hydrant", "smoke", "transmission", "terminal", "no"}


def of(runner: str) -> list[Example]:
    """Return the examples the runner ``runner`` takes, in page order."""
    return [e for e in docs.examples() if docs.runner_of(e) == runner]


def ids(examples: list[Example]) -> list[str]:
    """Return the examples' names, as test ids."""
    return [e.name for e in examples]


_COUNTS: dict[str, tuple[str, str]] = {
    # expectation -> (table, column naming the sender)
    "readings": ("readings", "device_id"),
    "events": ("device_events", "device_id"),
    "fixes": ("fixes", "terminal_id"),
    "case_actions": ("terminal_case_actions", "terminal_id"),
}


def expectations(example: Example) -> list[tuple[str, str]]:
    """Return an MQTT example's ``expect=what:value,...`` as pairs."""
    items = [tuple(item.split(":", 1)) for item in example.attrs["expect"].split(",")]
    assert all(len(i) == 2 for i in items), f"{example.where}: expect=what:value[,what:value]"
    return [(i[0], i[1]) for i in items]


def payload_of(example: Example) -> bytes:
    """Return the bytes an MQTT example stands for (hex decoded, NMEA with CR LF)."""
    if example.lang == "hex":
        return bytes.fromhex(example.body)
    if example.lang == "text":
        # NMEA as a receiver sends it: CR LF after every sentence.
        return "".join(line + "\r\n" for line in example.body.splitlines()).encode("ascii")
    json.loads(example.body)  # a documented JSON payload must at least be JSON
    return example.body.encode("utf-8")


def sender_of(topic: str) -> tuple[str, str]:
    """Return (``d`` or ``t``, sender ID) of a documented topic."""
    parts = topic.split("/")
    assert parts[:2] == ["fg", "v1"], f"not under the prefix fg/v1: {topic}"
    assert parts[2] in {"d", "t"}, f"neither a device nor a terminal topic: {topic}"
    return parts[2], parts[3]


def register(ingest: IngestHarness, example: Example, topic: str) -> None:
    """Register the example's sender unless the docs say not to, or it is registered."""
    scope, sender = sender_of(topic)
    kind = example.attrs.get("register", "terminal" if scope == "t" else "hydrant")
    assert kind in _KINDS, f"{example.where}: register={kind}"
    if kind == "no":
        return
    known = ingest.scalar("SELECT count(*) FROM devices WHERE device_id = %s", sender)
    if not known:  # a registry example may have registered it already, with its real fields
        ingest.register(sender, kind=kind)


def publish_and_wait(ingest: IngestHarness, topic: str, payload: bytes, qos: int = 1) -> str:
    """Publish, then wait until ingest has committed it; return the topic it went to."""
    routed = ingest.prefix + topic.removeprefix("fg/v1")
    ingest.publisher.publish(routed, payload, qos=qos).wait_for_publish(10)
    # A barrier: a message from an unregistered device, published after the example on the
    # same connection, is committed in the example's batch or a later one. Once its rejection
    # is visible, whatever the example produced is too.
    barrier = f"{ingest.prefix}/d/{ingest.device('BARRIER')}-{abs(hash(routed)) % 10**8}/event"
    ingest.publisher.publish(barrier, b"{}", qos=1).wait_for_publish(10)
    wait_until(
        lambda: (
            ingest.scalar("SELECT count(*) FROM rejected_messages WHERE topic = %s", barrier) > 0
        ),
        what=f"ingest to commit {routed}",
    )
    return routed


def check_stored(ingest: IngestHarness, example: Example, topic: str, routed: str) -> None:
    """Assert that what the example's ``expect=`` says is stored (or rejected) is."""
    _, sender = sender_of(topic)
    rejected: list[str] = []
    for what, value in expectations(example):
        if what == "rejected":
            rejected.append(value)
        elif what in _COUNTS:
            table, column = _COUNTS[what]
            got = ingest.scalar(f"SELECT count(*) FROM {table} WHERE {column} = %s", sender)
            assert got == int(value), f"{example.where}: {got} {what}, the docs say {value}"
        elif what == "report":
            got = ingest.scalar("SELECT count(*) FROM hazard_reports WHERE report_id = %s", value)
            assert got == 1, f"{example.where}: report {value} not stored"
        elif what == "photo":
            got = ingest.scalar("SELECT count(*) FROM photos WHERE sha256 = %s", value)
            assert got == 1, f"{example.where}: photo {value} not stored"
        else:
            pytest.fail(f"{example.where}: unknown expectation {what!r}")
    reasons = sorted(r for t, r, _d, _p in ingest.rejected() if t == routed)
    assert reasons == sorted(rejected), f"{example.where}: rejected {reasons}"


def mosquitto_pub(command: str) -> tuple[str, bytes, int]:
    """Return (topic, payload, QoS) of a ``mosquitto_pub -t … -m …`` line.

    The test broker is anonymous, so ``-u``/``-P`` are not sent; what the broker's ACL would
    demand is checked instead: the username is the ID the topic names (broker-auth.md), and a
    password comes with it.
    """
    words = docs.command_words(command)
    assert words[0] == "mosquitto_pub"
    options: dict[str, str] = {}
    i = 1
    while i < len(words):
        flag = words[i]
        if flag == "-V":  # the protocol version: the test's client speaks what the broker does
            i += 2
            continue
        assert flag in {"-h", "-p", "-q", "-t", "-m", "-u", "-P"}, f"option {flag} not run here"
        options[flag] = words[i + 1]
        i += 2
    topic = options["-t"]
    if "-u" in options or "-P" in options:
        assert {"-u", "-P"} <= options.keys(), f"-u and -P go together: {command}"
        _, sender = sender_of(topic)
        assert options["-u"] == sender, f"the broker lets {options['-u']} publish only as itself"
    return topic, options["-m"].encode("utf-8"), int(options.get("-q", "0"))


def pairs(text: str) -> list[tuple[str, str]]:
    """Parse ``a:b,c:d`` (a value may itself hold colons: split at the last one)."""
    if not text:
        return []
    return [(item.rsplit(":", 1)[0], item.rsplit(":", 1)[1]) for item in text.split(",")]


def file_bytes(example: Example) -> bytes:
    """Return the bytes of a file example: its text in ``encoding=`` (default UTF-8).

    A page holds UTF-8 text only; a file a city keeps in GB 18030 is shown as its text and
    re-encoded here, as Excel on a Chinese Windows machine would save it.
    """
    return example.body.encode(example.attrs.get("encoding", "utf-8"))


def import_registry(db_url: str, example: Example) -> None:
    """Import a registry example through the import code; check counts, errors, warnings."""
    kind = example.attrs["import"]
    assert kind in {"devices", "units", "staff"}, f"{example.where}: import={kind}"
    fmt = "json" if example.lang == "json" else "csv"
    parsed = parse_registry(kind, file_bytes(example), fmt=fmt)  # type: ignore[arg-type]
    assert unreadable(parsed) is None, f"{example.where}: {parsed.errors}"
    with psycopg.connect(db_url) as conn:
        outcome = store_registry(conn, kind=kind, parsed=parsed)  # type: ignore[arg-type]
    if "encoding" in example.attrs:
        got = outcome.encoding
        assert got == example.attrs["encoding"], f"{example.where}: read as {got}"
        _check_names_intact(db_url, example, kind)
    expected = dict(pairs(example.attrs["expect"]))
    stored = outcome.created + outcome.updated
    assert stored == int(expected["rows"]), f"{example.where}: {stored} rows stored"
    errors = sorted((str(e.line), e.field) for e in outcome.errors)
    assert errors == sorted(pairs(example.attrs.get("errors", ""))), f"{example.where}: {errors}"
    warnings = sorted((w.device_id, w.field) for w in outcome.warnings)
    documented = sorted(pairs(example.attrs.get("warnings", "")))
    assert warnings == documented, f"{example.where}: warnings {warnings}"


def _check_names_intact(db_url: str, example: Example, kind: str) -> None:
    """Assert that the names a re-encoded file holds are stored as the page shows them."""
    table, key = {"units": ("key_units", "unit_id"), "staff": ("staff", "staff_id")}[kind]
    with psycopg.connect(db_url) as conn:
        for row in csv.DictReader(io.StringIO(example.body)):
            stored = conn.execute(
                f"SELECT name FROM {table} WHERE {key} = %s", (row[key],)
            ).fetchone()
            assert stored == (row["name"],), f"{example.where}: stored {stored}"


def import_grids(db_url: str, example: Example) -> None:
    """Merge a grid example into the current version, as the CLI and the API do; check its
    counts and located points, or its problems. ``after=NAME`` merges the grid example NAME
    first (merging a file twice changes nothing), so two streets are both in the map.
    """
    if "after" in example.attrs:
        import_grids(db_url, docs.by_name(example.attrs["after"]))
    try:
        with psycopg.connect(db_url) as conn:
            result = import_grid_file(conn, data=file_bytes(example), source=example.name)
    except GridImportError as exc:
        got = [(p.where, p.reason) for p in exc.problems]
        documented = pairs(example.attrs.get("problems", ""))
        assert got == documented, f"{example.where}: refused with {got}"
        return
    assert "problems" not in example.attrs, f"{example.where}: imported, the docs say refused"
    expected = pairs(example.attrs["expect"])
    assert sorted(result.counts.items()) == sorted((k, int(v)) for k, v in expected), (
        f"{example.where}: counts {result.counts}"
    )
    locator = GridLocator(connect=lambda: psycopg.connect(db_url))
    for lat, lon, grid in (p.split(":") for p in example.attrs.get("locate", "").split(",") if p):
        with psycopg.connect(db_url) as conn:
            locator.sync(conn)
        hit = locator.locate_many([float(lat)], [float(lon)], crs=Crs.WGS84, version=None).at(0)
        got = "outside" if hit is None else hit.grid_code
        assert got == grid, f"{example.where}: {lat},{lon} located in {got}, the docs say {grid}"


_DOCUMENTED_BASE = "http://127.0.0.1:8080"


@dataclass
class Curl:
    """One curl command as the test sends it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    stream: bool


def parse_curl(command: str, *, base: str, variables: dict[str, str]) -> Curl:
    """Turn a documented curl line into the request the test sends."""
    for name, value in variables.items():
        command = command.replace(f"${name}", value)
    unset = re.findall(r"\$[A-Z_]+", command)
    assert not unset, f"no value for {unset} in {command}"
    words = docs.command_words(command)
    assert words[0] == "curl"
    method, headers, body, stream, url = "", {}, None, False, ""
    i = 1
    while i < len(words):
        word = words[i]
        if word in {"-H", "--header"}:
            name, _, value = words[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 1
        elif word in {"-X", "--request"}:
            method = words[i + 1]
            i += 1
        elif word in {"-d", "--data", "--data-binary"}:
            data = words[i + 1]
            # @NAME: a file the docs show as an example, in its own encoding
            body = file_bytes(docs.files()[data[1:]]) if data.startswith("@") else data.encode()
            i += 1
        elif word in {"-N", "--no-buffer"}:
            stream = True
        elif word.startswith("http"):
            assert word.startswith(_DOCUMENTED_BASE), f"documented address is {_DOCUMENTED_BASE}"
            url = base + word.removeprefix(_DOCUMENTED_BASE)
        else:
            pytest.fail(f"curl option {word!r} is not run by this test")
        i += 1
    return Curl(method or ("POST" if body is not None else "GET"), url, headers, body, stream)


def same_shape(documented: Any, actual: Any, where: str) -> None:
    """Every key the docs show is in the answer, recursively (lists: their first items)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: the answer has {actual!r}, not an object"
        for key, value in documented.items():
            assert key in actual, f"{where}.{key}: not in the answer {sorted(actual)}"
            same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented:
        assert isinstance(actual, list), f"{where}: the answer has {actual!r}, not a list"
        assert actual, f"{where}: the docs show items, the answer has none"
        same_shape(documented[0], actual[0], f"{where}[0]")


def at(value: Any, path: str) -> Any:
    """Return the value at a dotted path (``items.0.ts``)."""
    for step in path.split("."):
        value = value[int(step)] if isinstance(value, list) else value[step]
    return value


def check_answer(example: Example, answer: Any) -> None:
    """Compare a documented answer with the real one: its keys, and ``values=`` paths."""
    same_shape(json.loads(example.body), answer, example.where)
    documented = json.loads(example.body)
    for path in filter(None, example.attrs.get("values", "").split(",")):
        got, shown = at(answer, path), at(documented, path)
        assert got == shown, f"{example.where}: {path} is {got!r}, the docs show {shown!r}"


def send(client: httpx.Client, curl: Curl) -> tuple[int, Any]:
    """Send a request (a stream: until its first frame); return status and answer."""
    if curl.stream:
        with client.stream(curl.method, curl.url, headers=curl.headers, timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line == ": connected":  # the stream's first frame: it is open
                    return response.status_code, None
        pytest.fail(f"the stream at {curl.url} ended before it said it was connected")
    response = client.request(
        curl.method, curl.url, headers=curl.headers, content=curl.body, timeout=30
    )
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status_code, response.json() if is_json else response.text


def cli_env(db_url: str, broker_url: str, tmp_path: Path) -> dict[str, str]:
    """Return the environment the CLI examples run in: the test's database and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env.update(
        FIREGRID_DB_URL=db_url,
        FIREGRID_MQTT_URL=broker_url,
        FIREGRID_DATA_DIR=str(tmp_path / "data"),
        FIREGRID_HTTP=f"127.0.0.1:{free_port()}",
    )
    return env


def run_until_healthy(argv: list[str], *, cwd: Path, env: dict[str, str], where: str) -> None:
    """Start a long-running command, wait for its API to be ready, stop it as Ctrl-C does."""
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://{env['FIREGRID_HTTP']}/healthz"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{where}: exited {process.returncode} while starting"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"{where}: {url} never answered 200"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, f"{where}: stopped with {process.returncode}: {output}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def stdout_answer(stdout: str) -> Any:
    """Return a command's output as JSON when it is JSON, else as text."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return stdout
