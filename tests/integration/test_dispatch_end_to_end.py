"""From a smoke alarm to the grid worker's terminal, every role real: ingest stores the alarm,
the rules raise a hazard, dispatch opens a case for the unit's grid worker, and the inbox role
publishes the assignment to that worker's inbox topic over the real broker. The worker signs from
the terminal; the sign comes back as a case step, and a refused action is answered on the inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dispatch.config import InboxSettings
from dispatch.flows import DispatchService
from dispatch.inbox import InboxRole
from infra.publisher import MqttPublisher, PublisherSettings
from rules.flows import RulesService
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.dispatch_support import (
    act,
    add_staff,
    alarm,
    case_of,
    dispatch,
    grids,
    rules,
)
from tests.integration.messages_support import Terminal

__all__ = ["dispatch", "grids", "rules"]  # fixtures, used by name


@pytest.fixture
def inbox(ingest: IngestHarness) -> Iterator[InboxRole]:
    """The inbox role over this test's topic prefix, with its own outbound session."""
    pub = MqttPublisher(
        ingest.broker_url,
        settings=PublisherSettings(reconnect_max_s=1),
        client_id=f"e2e-{uuid.uuid4().hex[:8]}",
    )
    pub.start()
    assert pub.connected.wait(10)
    role = InboxRole(
        db_url=ingest.db_url, publisher=pub, settings=InboxSettings(prefix=ingest.prefix)
    )
    try:
        yield role
    finally:
        role.close()
        pub.stop()


def test_a_smoke_alarm_reaches_the_grid_workers_inbox_and_the_sign_comes_back(
    ingest: IngestHarness,
    rules: RulesService,
    dispatch: DispatchService,
    inbox: InboxRole,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[1]
    lat, lon = grids[grid]
    tag = ingest.tag
    worker, other = f"W1-{tag}", f"W2-{tag}"
    t1, t2 = ingest.device("T1"), ingest.device("T2")
    add_staff(
        ingest,
        [
            {
                "staff_id": worker,
                "name": "一号",
                "role": "grid_worker",
                "area": grid,
                "terminal_id": t1,
            },
            {
                "staff_id": other,
                "name": "二号",
                "role": "grid_worker",
                "area": grid,
                "terminal_id": t2,
            },
        ],
    )
    unit, dev = f"U-{tag}", ingest.device("S1")
    ingest.register(dev, kind="smoke", unit_id=unit, lat=lat, lon=lon)
    phone = Terminal(ingest.broker_url, ingest.prefix)
    # The inbox cursor is the database's, so this test's role also sends what earlier tests'
    # cases left pending (under this test's prefix): count only this test's two terminals.
    ours = {f"{ingest.prefix}/t/{t}/inbox" for t in (t1, t2)}

    def mine() -> list[tuple[str, dict[str, Any]]]:
        return [(topic, m) for topic, m in phone.messages() if topic in ours]

    try:
        alarm(ingest, rules, dev)
        dispatch.process_pending()
        inbox.process_pending()
        wait_until(lambda: len(mine()) == 1, what="the assignment on the inbox")
        ((topic, message),) = mine()
        case_id = case_of(ingest, unit)[0]
        assert topic == f"{ingest.prefix}/t/{t1}/inbox"
        assert (message["kind"], message["case_id"], message["asks"]) == (
            "case_assigned",
            case_id,
            "sign",
        )
        assert message["case"]["assignee"] == worker
        assert message["due"].endswith("Z")
        assert str(uuid.UUID(message["message_id"])) == message["message_id"]

        # The other worker may not sign: the refusal names the action on their inbox.
        wrong = act(ingest, t2, case_id, "sign")
        dispatch.process_pending()
        inbox.process_pending()
        wait_until(lambda: len(mine()) == 2, what="the refusal on the inbox")
        topic, refusal = mine()[1]
        assert topic == f"{ingest.prefix}/t/{t2}/inbox"
        assert (refusal["kind"], refusal["action_id"]) == ("refusal", wrong)

        # The assignee signs from the terminal: the case moves on, the step is in its history.
        act(ingest, t1, case_id, "sign", note="已到现场")
        dispatch.process_pending()
        assert case_of(ingest, unit)[1] == "signed"
        history = ingest.rows(
            "SELECT action, actor FROM case_history WHERE case_id = %s ORDER BY seq", case_id
        )
        assert ("sign", worker) in history
        # Each step was sent once: processing again sends nothing new.
        inbox.process_pending()
        ids = [m["message_id"] for _, m in mine()]
        assert len(ids) == len(set(ids))
    finally:
        phone.close()
