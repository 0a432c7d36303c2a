"""Every marked example in docs/ and README.md, executed for real (issue 10 point 4).

MQTT payloads are published to the test broker and read back from PostgreSQL (stored, or
rejected with the reason the docs give); registry and grid files go through the import code;
``curl`` lines become requests against a real uvicorn serving the app; ``firegrid`` lines run
through the CLI's entry (``firegrid up`` in a process of its own). How examples are marked and
which runner takes each: ``tests/docs_examples.py``; the runners' helpers:
``tests/integration/docs_support.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from firegrid import cli
from tests import docs_examples as docs
from tests.docs_examples import Example
from tests.fix_api import bearer, open_hazard, serve
from tests.fix_db import private_database
from tests.fix_ingest import IngestHarness
from tests.integration.docs_support import (
    check_answer,
    check_stored,
    cli_env,
    expectations,
    file_bytes,
    ids,
    import_grids,
    import_registry,
    mosquitto_pub,
    of,
    parse_curl,
    payload_of,
    publish_and_wait,
    register,
    run_until_healthy,
    send,
    stdout_answer,
)


@pytest.fixture(scope="module")
def db_url(pg_admin_url: str) -> Iterator[str]:
    """A database of the docs' own: a list an example shows holds only what the docs stored."""
    yield from private_database(pg_admin_url, "fg_docs")


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
    stray = [e.where for e in of(docs.RESPONSE) if e.attrs["response"] not in commands]
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


@pytest.mark.parametrize("example", of(docs.MQTT), ids=ids(of(docs.MQTT)))
def test_mqtt_payload_example(ingest: IngestHarness, example: Example) -> None:
    topic = example.attrs["topic"]
    register(ingest, example, topic)
    routed = publish_and_wait(ingest, topic, payload_of(example))
    check_stored(ingest, example, topic, routed)


@pytest.mark.parametrize("example", of(docs.MQTT_PUB), ids=ids(of(docs.MQTT_PUB)))
def test_mosquitto_pub_example(ingest: IngestHarness, example: Example) -> None:
    for command in docs.commands(example.body):
        topic, payload, qos = mosquitto_pub(command)
        assert qos == 1, f"{example.where}: devices publish with QoS 1"
        register(ingest, example, topic)
        routed = publish_and_wait(ingest, topic, payload, qos)
        check_stored(ingest, example, topic, routed)


# ---------------------------------------------------------------------------------------------
# Registry and grid files: through the import code the CLI and the API share.


@pytest.mark.parametrize("example", of(docs.FILE_IMPORT), ids=ids(of(docs.FILE_IMPORT)))
def test_file_import_example(db_url: str, example: Example) -> None:
    if example.attrs["import"] == "grids":
        import_grids(db_url, example)
        return
    if example.attrs["import"] == "devices":
        # Devices are placed by their unit's position: the units come first, as the docs say.
        for units in of(docs.FILE_IMPORT):
            if units.attrs["import"] == "units":
                import_registry(db_url, units)
    import_registry(db_url, example)


# ---------------------------------------------------------------------------------------------
# curl lines: sent to the app served by a real uvicorn, over HTTP.


@pytest.fixture
def served(db_url: str, ingest: IngestHarness) -> Iterator[str]:
    """The API over the test database, holding what the docs' examples stored before."""
    # The readings and fixes the API examples read back. Only data stored once by identity is
    # sent again (a case action is a new row per message), so the MQTT tests' counts hold
    # whichever runs first.
    for example in of(docs.MQTT):
        if not {w for w, _ in expectations(example)} <= {"readings", "events", "fixes"}:
            continue
        register(ingest, example, example.attrs["topic"])
        publish_and_wait(ingest, example.attrs["topic"], payload_of(example))
    for example in of(docs.MQTT_PUB):
        for command in docs.commands(example.body):
            topic, payload, qos = mosquitto_pub(command)
            register(ingest, example, topic)
            publish_and_wait(ingest, topic, payload, qos)
    for example in of(docs.FILE_IMPORT):
        if "problems" not in example.attrs:
            (import_grids if example.attrs["import"] == "grids" else import_registry)(
                db_url, example
            )
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with serve(app) as base:
        yield base


def _http_pages() -> list[Path]:
    return sorted({e.path for e in of(docs.HTTP)})


@pytest.mark.parametrize("page", _http_pages(), ids=[p.name for p in _http_pages()])
def test_curl_examples(db_url: str, served: str, page: Path) -> None:
    token = bearer(db_url)["Authorization"].removeprefix("Bearer ")
    variables = {"TOKEN": token, "HAZARD_ID": str(open_hazard(db_url))}
    answers = {e.attrs["response"]: e for e in of(docs.RESPONSE) if e.path == page}
    ran: set[str] = set()
    with httpx.Client() as client:
        # In page order: a later example may use what an earlier one answered (a cursor).
        for example in [e for e in of(docs.HTTP) if e.path == page]:
            if "$TICKET" in example.body:
                issued = client.post(
                    f"{served}/api/v1/stream/tickets", headers={"Authorization": f"Bearer {token}"}
                )
                variables["TICKET"] = issued.json()["ticket"]
            for command in docs.commands(example.body):
                curl = parse_curl(command, base=served, variables=variables)
                status, answer = send(client, curl)
                wanted = int(example.attrs.get("status", "200"))
                assert status == wanted, f"{example.where}: {status} {answer}"
            if isinstance(answer, dict) and answer.get("next_cursor"):
                variables["NEXT_CURSOR"] = answer["next_cursor"]
            if example.name in answers:
                check_answer(answers[example.name], answer)
                ran.add(example.name)
    unanswered = sorted(set(answers) - ran)
    assert not unanswered, f"answers shown for no curl example of {page.name}: {unanswered}"


# ---------------------------------------------------------------------------------------------
# firegrid lines: the CLI in a subprocess, in a folder holding the docs' files.


def test_cli_examples(
    db_url: str,
    broker_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, example in docs.files().items():
        (tmp_path / name).write_bytes(file_bytes(example))
    env = cli_env(db_url, broker_url, tmp_path)
    for key in [k for k in os.environ if k.startswith("FIREGRID_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("FIREGRID_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    answers = {e.attrs["response"]: e for e in of(docs.RESPONSE)}
    for example in of(docs.CLI):
        for command in docs.commands(example.body):
            args = docs.command_words(command)[1:]
            if example.attrs.get("runs") == "until-healthy":
                # In its own process: it runs until a signal stops it, as a service does.
                argv = [sys.executable, "-m", "firegrid.cli", *args]
                run_until_healthy(argv, cwd=tmp_path, env=env, where=example.where)
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
            check_answer(answers[example.name], stdout_answer(out))
