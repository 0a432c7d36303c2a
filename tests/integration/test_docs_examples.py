"""Every marked example in docs/ and README.md, executed for real (issue 10 point 4).

MQTT payloads are published to the test broker and read back from PostgreSQL (stored, or
rejected with the reason the docs give); registry and grid files go through the import code;
``curl`` lines become requests against a real uvicorn serving the app; ``firegrid`` lines run
the CLI in a subprocess. How examples are marked and which runner takes each:
``tests/docs_examples.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from api.settings import ApiSettings
from devices.flows import parse_registry, store_registry, unreadable
from devices.geo import Crs
from firegrid import cli
from grids import service as grid_service
from grids.exceptions import GridImportError
from grids.locator import GridLocator
from grids.models import parse_grids
from tests import docs_examples as docs
from tests.docs_examples import Example
from tests.fix_api import bearer, free_port, open_hazard, serve
from tests.fix_ingest import IngestHarness, wait_until

# Sender kinds an MQTT example's ``register=`` may ask for; without it a device topic registers
# a hydrant and a terminal topic a terminal (``no``: leave it unregistered).
_KINDS = {"hydrant", "smoke", "transmission", "terminal", "no"}


def _of(runner: str) -> list[Example]:
    return [e for e in docs.examples() if docs.runner_of(e) == runner]


def _ids(examples: list[Example]) -> list[str]:
    return [e.name for e in examples]


# ---------------------------------------------------------------------------------------------
# The examples themselves: named once, each with a runner.


def test_every_marked_example_has_a_runner_and_a_unique_name() -> None:
    found = docs.examples()
    assert found, "no marked example in docs/: the marker or the extractor is broken"
    orphans = [e.where for e in found if docs.runner_of(e) is None]
    assert not orphans, f"marked examples no runner executes: {orphans}"
    names = [e.name for e in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"example names used twice: {twice}"
    # A documented answer is checked by the runner of the command it answers.
    commands = {e.name for e in found if docs.runner_of(e) in {docs.HTTP, docs.CLI}}
    stray = [e.where for e in _of(docs.RESPONSE) if e.attrs["response"] not in commands]
    assert not stray, f"answers to no curl or firegrid example: {stray}"
    files = [e.attrs["file"] for e in found if "file" in e.attrs]
    assert len(files) == len(set(files)), f"file names used twice: {files}"


def test_the_extractor_finds_markers_and_refuses_an_unrunnable_one(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```json example=a topic=fg/v1/d/X/telemetry expect=readings:1\n{}\n```\n"
        "```python example=b\nprint(1)\n```\n"
        "```bash\nfiregrid up\n```\n",
        encoding="utf-8",
    )
    found = docs.examples([page])
    assert [(e.name, e.line, docs.runner_of(e)) for e in found] == [
        ("a", 1, docs.MQTT),
        ("b", 4, None),
    ]


# ---------------------------------------------------------------------------------------------
# MQTT payloads: published to the real broker, read back from the database.

_COUNTS: dict[str, tuple[str, str]] = {
    # expectation -> (table, column naming the sender)
    "readings": ("readings", "device_id"),
    "events": ("device_events", "device_id"),
    "fixes": ("fixes", "terminal_id"),
    "case_actions": ("terminal_case_actions", "terminal_id"),
}


def _expectations(example: Example) -> list[tuple[str, str]]:
    items = [tuple(item.split(":", 1)) for item in example.attrs["expect"].split(",")]
    assert all(len(i) == 2 for i in items), f"{example.where}: expect=what:value[,what:value]"
    return [(i[0], i[1]) for i in items]


def _payload(example: Example) -> bytes:
    if example.lang == "hex":
        return bytes.fromhex(example.body)
    if example.lang == "text":
        # NMEA as a receiver sends it: CR LF after every sentence.
        return "".join(line + "\r\n" for line in example.body.splitlines()).encode("ascii")
    json.loads(example.body)  # a documented JSON payload must at least be JSON
    return example.body.encode("utf-8")


def _sender(topic: str) -> tuple[str, str]:
    parts = topic.split("/")
    assert parts[:2] == ["fg", "v1"], f"not under the prefix fg/v1: {topic}"
    assert parts[2] in {"d", "t"}, f"neither a device nor a terminal topic: {topic}"
    return parts[2], parts[3]


def _register(ingest: IngestHarness, example: Example, topic: str) -> None:
    scope, sender = _sender(topic)
    kind = example.attrs.get("register", "terminal" if scope == "t" else "hydrant")
    assert kind in _KINDS, f"{example.where}: register={kind}"
    if kind == "no":
        return
    known = ingest.scalar("SELECT count(*) FROM devices WHERE device_id = %s", sender)
    if not known:  # a registry example may have registered it already, with its real fields
        ingest.register(sender, kind=kind)


def _publish_and_wait(ingest: IngestHarness, topic: str, payload: bytes, qos: int = 1) -> str:
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


def _check_stored(ingest: IngestHarness, example: Example, topic: str, routed: str) -> None:
    _, sender = _sender(topic)
    rejected: list[str] = []
    for what, value in _expectations(example):
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


@pytest.mark.parametrize("example", _of(docs.MQTT), ids=_ids(_of(docs.MQTT)))
def test_mqtt_payload_example(ingest: IngestHarness, example: Example) -> None:
    topic = example.attrs["topic"]
    _register(ingest, example, topic)
    routed = _publish_and_wait(ingest, topic, _payload(example))
    _check_stored(ingest, example, topic, routed)


def _mosquitto_pub(command: str) -> tuple[str, bytes, int]:
    words = docs.command_words(command)
    assert words[0] == "mosquitto_pub"
    options: dict[str, str] = {}
    i = 1
    while i < len(words):
        flag = words[i]
        assert flag in {"-h", "-p", "-q", "-t", "-m", "-u", "-P"}, f"option {flag} not run here"
        options[flag] = words[i + 1]
        i += 2
    return options["-t"], options["-m"].encode("utf-8"), int(options.get("-q", "0"))


@pytest.mark.parametrize("example", _of(docs.MQTT_PUB), ids=_ids(_of(docs.MQTT_PUB)))
def test_mosquitto_pub_example(ingest: IngestHarness, example: Example) -> None:
    for command in docs.commands(example.body):
        topic, payload, qos = _mosquitto_pub(command)
        assert qos == 1, f"{example.where}: devices publish with QoS 1"
        _register(ingest, example, topic)
        routed = _publish_and_wait(ingest, topic, payload, qos)
        _check_stored(ingest, example, topic, routed)


# ---------------------------------------------------------------------------------------------
# Registry and grid files: through the import code the CLI and the API share.


def _pairs(text: str) -> list[tuple[str, str]]:
    """Parse ``a:b,c:d`` (a value may itself hold colons: split at the last one)."""
    if not text:
        return []
    return [(item.rsplit(":", 1)[0], item.rsplit(":", 1)[1]) for item in text.split(",")]


def _import_registry(db_url: str, example: Example) -> None:
    kind = example.attrs["import"]
    assert kind in {"devices", "units", "staff"}, f"{example.where}: import={kind}"
    fmt = "json" if example.lang == "json" else "csv"
    parsed = parse_registry(kind, example.body.encode("utf-8"), fmt=fmt)  # type: ignore[arg-type]
    assert unreadable(parsed) is None, f"{example.where}: {parsed.errors}"
    with psycopg.connect(db_url) as conn:
        outcome = store_registry(conn, kind=kind, parsed=parsed)  # type: ignore[arg-type]
    expected = dict(_pairs(example.attrs["expect"]))
    stored = outcome.counts.created + outcome.counts.updated
    assert stored == int(expected["rows"]), f"{example.where}: {stored} rows stored"
    errors = sorted((str(e.row), e.field) for e in outcome.errors)
    assert errors == sorted(_pairs(example.attrs.get("errors", ""))), f"{example.where}: {errors}"
    warnings = sorted((w.device_id, w.field) for w in outcome.warnings)
    documented = sorted(_pairs(example.attrs.get("warnings", "")))
    assert warnings == documented, f"{example.where}: warnings {warnings}"


def _import_grids(db_url: str, example: Example) -> None:
    try:
        grid_set = parse_grids(example.body.encode("utf-8"))
    except GridImportError as exc:
        got = [(p.where, p.reason) for p in exc.problems]
        documented = _pairs(example.attrs.get("problems", ""))
        assert got == documented, f"{example.where}: refused with {got}"
        return
    assert "problems" not in example.attrs, f"{example.where}: imported, the docs say refused"
    expected = _pairs(example.attrs["expect"])
    with psycopg.connect(db_url) as conn:
        result = grid_service.import_grids(conn, grid_set=grid_set, source=example.name)
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


@pytest.mark.parametrize("example", _of(docs.FILE_IMPORT), ids=_ids(_of(docs.FILE_IMPORT)))
def test_file_import_example(db_url: str, example: Example) -> None:
    if example.attrs["import"] == "grids":
        _import_grids(db_url, example)
        return
    if example.attrs["import"] == "devices":
        # Devices are placed by their unit's position: the units come first, as the docs say.
        for units in _of(docs.FILE_IMPORT):
            if units.attrs["import"] == "units":
                _import_registry(db_url, units)
    _import_registry(db_url, example)


# ---------------------------------------------------------------------------------------------
# curl lines: sent to the app served by a real uvicorn, over HTTP.

_DOCUMENTED_BASE = "http://127.0.0.1:8080"


@dataclass
class Curl:
    """One curl command as the test sends it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    stream: bool


def _curl(command: str, *, base: str, variables: dict[str, str]) -> Curl:
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
            if data.startswith("@"):
                data = docs.files()[data[1:]].body  # a file the docs show as an example
            body = data.encode("utf-8")
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


def _same_shape(documented: Any, actual: Any, where: str) -> None:
    """Every key the docs show is in the answer, recursively (lists: their first items)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: the answer has {actual!r}, not an object"
        for key, value in documented.items():
            assert key in actual, f"{where}.{key}: not in the answer {sorted(actual)}"
            _same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented:
        assert isinstance(actual, list), f"{where}: the answer has {actual!r}, not a list"
        assert actual, f"{where}: the docs show items, the answer has none"
        _same_shape(documented[0], actual[0], f"{where}[0]")


def _at(value: Any, path: str) -> Any:
    for step in path.split("."):
        value = value[int(step)] if isinstance(value, list) else value[step]
    return value


def _check_answer(example: Example, answer: Any) -> None:
    _same_shape(json.loads(example.body), answer, example.where)
    documented = json.loads(example.body)
    for path in filter(None, example.attrs.get("values", "").split(",")):
        got, shown = _at(answer, path), _at(documented, path)
        assert got == shown, f"{example.where}: {path} is {got!r}, the docs show {shown!r}"


def _send(client: httpx.Client, curl: Curl) -> tuple[int, Any]:
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


@pytest.fixture
def served(db_url: str, ingest: IngestHarness) -> Iterator[str]:
    """The API over the test database, holding what the docs' examples stored before."""
    # The readings and fixes the API examples read back. Only data stored once by identity is
    # sent again (a case action is a new row per message), so the MQTT tests' counts hold
    # whichever runs first.
    for example in _of(docs.MQTT):
        if not {w for w, _ in _expectations(example)} <= {"readings", "events", "fixes"}:
            continue
        _register(ingest, example, example.attrs["topic"])
        _publish_and_wait(ingest, example.attrs["topic"], _payload(example))
    for example in _of(docs.MQTT_PUB):
        for command in docs.commands(example.body):
            topic, payload, qos = _mosquitto_pub(command)
            _register(ingest, example, topic)
            _publish_and_wait(ingest, topic, payload, qos)
    for example in _of(docs.FILE_IMPORT):
        if "problems" not in example.attrs:
            (_import_grids if example.attrs["import"] == "grids" else _import_registry)(
                db_url, example
            )
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with serve(app) as base:
        yield base


def _http_pages() -> list[Path]:
    return sorted({e.path for e in _of(docs.HTTP)})


@pytest.mark.parametrize("page", _http_pages(), ids=[p.name for p in _http_pages()])
def test_curl_examples(db_url: str, served: str, page: Path) -> None:
    token = bearer(db_url)["Authorization"].removeprefix("Bearer ")
    variables = {"TOKEN": token, "HAZARD_ID": str(open_hazard(db_url))}
    answers = {e.attrs["response"]: e for e in _of(docs.RESPONSE) if e.path == page}
    ran: set[str] = set()
    with httpx.Client() as client:
        # In page order: a later example may use what an earlier one answered (a cursor).
        for example in [e for e in _of(docs.HTTP) if e.path == page]:
            if "$TICKET" in example.body:
                issued = client.post(
                    f"{served}/api/v1/stream/tickets", headers={"Authorization": f"Bearer {token}"}
                )
                variables["TICKET"] = issued.json()["ticket"]
            for command in docs.commands(example.body):
                curl = _curl(command, base=served, variables=variables)
                status, answer = _send(client, curl)
                wanted = int(example.attrs.get("status", "200"))
                assert status == wanted, f"{example.where}: {status} {answer}"
            if isinstance(answer, dict) and answer.get("next_cursor"):
                variables["NEXT_CURSOR"] = answer["next_cursor"]
            if example.name in answers:
                _check_answer(answers[example.name], answer)
                ran.add(example.name)
    unanswered = sorted(set(answers) - ran)
    assert not unanswered, f"answers shown for no curl example of {page.name}: {unanswered}"


# ---------------------------------------------------------------------------------------------
# firegrid lines: the CLI in a subprocess, in a folder holding the docs' files.


def _cli_env(db_url: str, broker_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env.update(
        FIREGRID_DB_URL=db_url,
        FIREGRID_MQTT_URL=broker_url,
        FIREGRID_DATA_DIR=str(tmp_path / "data"),
        FIREGRID_HTTP=f"127.0.0.1:{free_port()}",
    )
    return env


def _run_until_healthy(argv: list[str], *, cwd: Path, env: dict[str, str], where: str) -> None:
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


def _stdout_answer(stdout: str) -> Any:
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return stdout


def test_cli_examples(
    db_url: str,
    broker_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, example in docs.files().items():
        (tmp_path / name).write_text(example.body, encoding="utf-8")
    env = _cli_env(db_url, broker_url, tmp_path)
    for key in [k for k in os.environ if k.startswith("FIREGRID_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("FIREGRID_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    answers = {e.attrs["response"]: e for e in _of(docs.RESPONSE)}
    for example in _of(docs.CLI):
        for command in docs.commands(example.body):
            args = docs.command_words(command)[1:]
            if example.attrs.get("runs") == "until-healthy":
                # In its own process: it runs until a signal stops it, as a service does.
                argv = [sys.executable, "-m", "firegrid.cli", *args]
                _run_until_healthy(argv, cwd=tmp_path, env=env, where=example.where)
                continue
            # In this process (a CLI start costs seconds on a busy machine): main() is the
            # console script's entry, exit code and all.
            code = cli.main(args)
            out, err = capsys.readouterr()
            wanted = int(example.attrs.get("exit", "0"))
            assert code == wanted, f"{example.where}: `{command}` exited {code}: {err[-2000:]}"
            if wanted == 2:  # CONTRACT §5: a usage or input error says why in one line
                assert len(err.strip().splitlines()) == 1, f"{example.where}: {err}"
        if example.name in answers:
            _check_answer(answers[example.name], _stdout_answer(out))
