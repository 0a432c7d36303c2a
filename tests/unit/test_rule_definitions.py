"""Rules file: shipped defaults, line-precise validation, override precedence, reload."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rules.definitions import RuleResolveError
from rules.kinds import KINDS
from rules.kinds.threshold import ThresholdParams
from rules.models import DeviceContext, Severity
from rules.rules_file import RuleFileError, RulesFile, load_rules, parse_rules

BASE = """\
version: 1
rules:
  - id: indoor_low
    kind: threshold
    severity: warning
    applies_to: {device_kind: hydrant, hydrant_class: indoor}
    params: {metric: pressure_mpa, direction: low, limit: 0.25, critical_limit: 0.1}
  - id: smoke_alarm
    kind: device_event
    severity: major
    applies_to: {device_kind: smoke}
    params: {open: [smoke_alarm], clear: [alarm_cleared]}
  - id: fire
    kind: correlation
    severity: critical
    applies_to: {device_kind: smoke}
    params: {first: [smoke_alarm], second: [smoke_alarm], window_s: 120}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        parse_rules(textwrap.dedent(text))
    return [str(p) for p in info.value.problems]


def test_the_shipped_defaults_load_and_cover_every_kind() -> None:
    rules = load_rules()
    assert {r.kind for r in rules.rules} == set(KINDS)
    low = rules.get("hydrant_municipal_low").params
    assert isinstance(low, ThresholdParams)
    assert (low.limit, low.critical_limit) == (0.14, 0.10)
    assert rules.get("smoke_confirmed_fire").severity is Severity.CRITICAL
    scrap = rules.get("extinguisher_scrap").raw_params["scrap_years"]
    assert scrap == {"water": 6, "dry_powder": 10, "clean_agent": 10, "co2": 12}


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
    version: 1
    rules:
      - id: hyd_low
        kind: threshold
        severity: warning
        applies_to: {device_kind: hydrant}
        params:
          metric: pressure_mpa
          direction: sideways
          limit: low
      - id: Bad-Id
        kind: nonsense
        severity: fatal
        applies_to: {device_kind: toaster, colour: red}
        params: {}
      - id: drop
        kind: sudden_drop
        severity: major
        applies_to: {device_kind: hydrant}
        params: {metric: pressure_mpa, drop_pct: 130, window_s: 300, window_s: 60}
    """
    assert problems(text) == [
        "rules.yaml:9: rules[hyd_low].params.direction: must be one of low, high",
        "rules.yaml:10: rules[hyd_low].params.limit: must be a number",
        "rules.yaml:11: rules[1].id: must match [a-z][a-z0-9_]{0,63}",
        "rules.yaml:12: rules[1].kind: must be one of " + ", ".join(KINDS),
        "rules.yaml:13: rules[1].severity: must be one of info, warning, major, critical",
        "rules.yaml:14: rules[1].applies_to.colour: unknown key",
        "rules.yaml:14: rules[1].applies_to.device_kind: must be one of smoke, hydrant, "
        "extinguisher, water_tank, terminal, transmission",
        "rules.yaml:20: rules[drop].params.window_s: duplicate key",
        "rules.yaml:20: rules[drop].params.drop_pct: must be in (0, 100]",
    ]


def test_cross_field_and_missing_params_are_located() -> None:
    text = BASE.replace("critical_limit: 0.1", "critical_limit: 0.3") + (
        "  - id: tilt\n"
        "    kind: device_event\n"
        "    severity: critical\n"
        "    applies_to: {device_kind: hydrant}\n"
        "    params:\n"
        "      clear: [cap_closed]\n"
    )
    assert problems(text) == [
        "rules.yaml:7: rules[indoor_low].params.critical_limit: must be at or below limit 0.25",
        "rules.yaml:23: rules[tilt].params.open: is required",
    ]


def test_override_problems_and_syntax_errors() -> None:
    text = BASE + textwrap.dedent("""\
    overrides:
      - unit: U-1
        rules:
          indoor_low: {limit: "0.35"}
          nope: {limit: 1}
      - model: M1
        unit: U-2
        rules: {}
    """)
    assert problems(text) == [
        "rules.yaml:21: overrides[unit=U-1].rules.indoor_low.limit: must be a number",
        "rules.yaml:22: overrides[unit=U-1].rules.nope: no rule with this id",
        "rules.yaml:23: overrides[1]: must name exactly one of hydrant_class, model, unit, device",
    ]
    assert problems("version: 1\nrules: [\n") == [
        "rules.yaml:3: file: not YAML: expected the node content, but found '<stream end>'"
    ]


def test_override_precedence_device_unit_model_class() -> None:
    text = BASE + textwrap.dedent("""\
    overrides:
      - device: H-1
        rules: {indoor_low: {limit: 0.40}}
      - unit: U-1
        rules: {indoor_low: {limit: 0.35, severity: major}}
      - model: M-HI
        rules: {indoor_low: {limit: 0.30}}
      - hydrant_class: indoor
        rules: {indoor_low: {limit: 0.27}}
      - model: M-OFF
        rules: {indoor_low: {enabled: false}}
    """)
    rules = parse_rules(text)

    def limit(**kw: Any) -> tuple[float, str] | None:
        fields: dict[str, Any] = {"device_id": "H-9", "kind": "hydrant", "hydrant_class": "indoor"}
        ctx = DeviceContext(**(fields | kw))
        found = [r for r in rules.resolve(ctx) if r.rule_id == "indoor_low"]
        return (found[0].params.limit, found[0].severity.value) if found else None

    assert limit() == (0.27, "warning")
    assert limit(model="M-HI") == (0.30, "warning")
    assert limit(model="M-HI", unit_id="U-1") == (0.35, "major")
    assert limit(device_id="H-1", model="M-HI", unit_id="U-1") == (0.40, "major")
    # The registry's own threshold sits above unit and below this file's device override.
    assert limit(unit_id="U-1", thresholds={"indoor_low": 0.33}) == (0.33, "major")
    assert limit(device_id="H-1", thresholds={"indoor_low": 0.33}) == (0.40, "warning")
    assert limit(model="M-OFF") is None
    assert limit(hydrant_class="municipal") is None  # the rule does not apply


def test_resolution_separates_device_and_unit_rules() -> None:
    rules = parse_rules(BASE)
    smoke = DeviceContext("S-1", "smoke", unit_id="U-1")
    assert [r.rule_id for r in rules.resolve(smoke)] == ["smoke_alarm"]
    assert [r.rule_id for r in rules.resolve_unit("U-1")] == ["fire"]


def test_combined_overrides_the_kind_refuses_raise_for_that_device() -> None:
    text = BASE + "overrides:\n  - device: H-1\n    rules: {indoor_low: {critical_limit: 0.2}}\n"
    rules = parse_rules(text)
    ctx = DeviceContext("H-1", "hydrant", hydrant_class="indoor", thresholds={"indoor_low": 0.15})
    with pytest.raises(RuleResolveError, match=r"params\.critical_limit"):
        rules.resolve(ctx)


def test_rules_file_reloads_and_keeps_the_last_good_set(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BASE)
    watched = RulesFile(path)
    first = watched.current
    assert watched.check().changed is False
    path.write_text(BASE.replace("limit: 0.25", "limit: 0.3"))
    os.utime(path, ns=(1, 1))  # mtime alone may not tick within one test
    result = watched.check()
    assert result.changed
    assert result.errors == []
    assert watched.current.digest != first.digest
    good = watched.current
    path.write_text(BASE.replace("limit: 0.25", "limit: x"))
    os.utime(path, ns=(2, 2))
    result = watched.check()
    assert not result.changed
    assert [str(e) for e in result.errors] == [
        "rules.yaml:7: rules[indoor_low].params.limit: must be a number"
    ]
    assert watched.current is good
    path.unlink()
    assert watched.check().errors[0].message.startswith("cannot read")
    assert watched.current is good


def test_a_value_yaml_cannot_read_is_a_located_problem_not_a_crash() -> None:
    # 2026-13-01 looks like a date to YAML but is none: its constructor raises ValueError.
    text = BASE.replace("limit: 0.25,", "limit: 0.25, since: 2026-13-01,") + textwrap.dedent("""\
    overrides:
      - unit: U-1
        rules:
          smoke_alarm: {until: 2026-13-01}
    """)
    invalid = "holds a value that is not valid YAML"
    assert problems(text) == [
        f"rules.yaml:7: rules[indoor_low].params: {invalid}",
        f"rules.yaml:21: overrides[unit=U-1].rules.smoke_alarm: {invalid}",
    ]
    with pytest.raises(RuleFileError, match=r"^2 problem\(s\) in rules file: "):
        parse_rules(text)
