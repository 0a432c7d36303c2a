"""Every marked example in docs/ and README.md, executed for real (issue 10 point 4).

MQTT payloads are published to the test broker and read back from PostgreSQL (stored, or
rejected with the reason the docs give); registry and grid files go through the import code;
``curl`` lines become requests against a real uvicorn serving the app; ``firegrid`` lines run
the CLI in a subprocess. How examples are marked and which runner takes each:
``tests/docs_examples.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from devices.flows import parse_registry, store_registry, unreadable
from devices.geo import Crs
from grids import service as grid_service
from grids.exceptions import GridImportError
from grids.locator import GridLocator
from grids.models import parse_grids
from tests import docs_examples as docs
from tests.docs_examples import Example
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
    else:
        _import_registry(db_url, example)
