"""The hazard lifecycle (pure): episodes, occurrences, clears, retractions, flapping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hazards.lifecycle import HazardOp, InMemorySink, subject_of
from rules.engine.keystate import Emitted, KeyState, decode_state, diff_transitions, encode_state
from rules.kinds.correlation import CorrelationState
from rules.models import Severity, Transition

W = Severity.WARNING


def op(kind: str, ts: int, action: str = "apply", flap: bool | None = None) -> HazardOp:
    return HazardOp(action, "r", "threshold", "D-1/pressure_mpa", ts, kind, W, None, {}, flap)  # type: ignore[arg-type]


def test_subjects_of_keys() -> None:
    assert subject_of("D-1/pressure_mpa") == ("device", "D-1")
    assert subject_of("D-1") == ("device", "D-1")
    assert subject_of("unit:U-9") == ("unit", "U-9")
    assert subject_of("grid:310115005003007") == ("grid", "310115005003007")


def test_open_again_is_an_occurrence_and_clear_ends_the_episode() -> None:
    sink = InMemorySink()
    sink.apply([op("open", 1), op("open", 2), op("update", 3), op("clear", 4), op("clear", 5)])
    sink.apply([op("update", 6), op("open", 7)])
    eps = sink.hazards()
    assert [(h.episode, h.status, h.opened_at, h.cleared_at, h.occurrences) for h in eps] == [
        (1, "cleared", 1, 4, 3),
        (2, "open", 7, None, 1),
    ]


def test_retract_open_and_clear() -> None:
    sink = InMemorySink()
    sink.apply([op("open", 10), op("clear", 20)])
    sink.apply([op("clear", 20, "retract")])  # a replay no longer clears at 20
    assert sink.hazards()[0].status == "open"
    sink.apply([op("open", 10, "retract")])  # nor opens at 10
    h = sink.hazards()[0]
    assert (h.status, h.cleared_at, h.detail.get("retracted")) == ("cleared", 10, True)
    sink.apply([op("clear", 10, "retract")])  # a retracted episode is never reopened
    assert sink.hazards()[0].status == "cleared"


def test_flapping_holds_the_episode_and_ends_with_its_last_transition() -> None:
    sink = InMemorySink()
    sink.apply([op("open", 1), op("clear", 2, flap=True), op("open", 3), op("clear", 4)])
    (h,) = sink.hazards()
    assert (h.status, h.flapping, h.occurrences) == ("open", True, 2)
    flagged = [e for e, r in sink.events if e == "hazard.updated" and r.flapping]
    assert flagged
    sink.apply([op("clear", 99, flap=False)])
    (h,) = sink.hazards()
    assert (h.status, h.cleared_at, h.flapping) == ("cleared", 99, False)


@given(
    st.lists(st.tuples(st.sampled_from(["open", "update", "clear"]), st.booleans()), max_size=60)
)
def test_at_most_one_live_episode_whatever_the_sequence(seq: list[tuple[str, bool]]) -> None:
    sink = InMemorySink()
    for i, (kind, retract) in enumerate(seq):
        sink.apply([op(kind, i, "retract" if retract else "apply")])
        eps = sink.hazards()
        assert sum(h.live for h in eps) <= 1
        assert [h.episode for h in eps] == list(range(1, len(eps) + 1))


def test_state_codec_round_trips_nested_tuples_and_sets() -> None:
    s = CorrelationState(5, (("a", "smoke_alarm", 1), ("b", "smoke_alarm", 2)), frozenset({"a"}))
    assert decode_state(CorrelationState, encode_state(s)) == s
    ks = KeyState.fresh(CorrelationState())
    ks.state = s
    assert KeyState.from_json(CorrelationState, ks.to_json()).state == s


def test_checkpoints_keep_one_before_the_window() -> None:
    ks = KeyState.fresh(CorrelationState())
    for t in range(0, 10_000, 100):
        ks.state = CorrelationState(t)
        ks.maybe_checkpoint(every_ms=1000)
        ks.prune(late_window_ms=3000)
    assert ks.checkpoint_before(9900 - 3000) is not None
    assert ks.checkpoints[0][0] < 9900 - 3000 <= ks.checkpoints[1][0]


def test_diff_skips_the_common_prefix() -> None:
    t = [Transition("k", "r", ts, kind, W) for ts, kind in ((1, "open"), (5, "clear"))]  # type: ignore[arg-type]
    old = [Emitted.of(x) for x in t]
    assert diff_transitions(old, t) == ([], [])
    new = [t[0], Transition("k", "r", 3, "clear", W)]
    assert diff_transitions(old, new) == ([old[1]], [new[1]])
