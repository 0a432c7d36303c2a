"""The report kind: severity by category, one open per report, validated categories."""

from __future__ import annotations

import pytest

from rules.kinds.report import LocatedReport, ReportParams, ReportState, evaluate
from rules.models import Resolved, Severity
from rules.rules_file import RuleFileError, parse_rules

RULES = """\
version: 1
rules:
  - id: worker_report
    kind: report
    severity: warning
    applies_to: {device_kind: terminal}
    params:
      severities:
        fire: critical
        EXTRA: major
"""


def _report(report_id: str, category: str, grid: str | None, ts: int) -> LocatedReport:
    return LocatedReport(report_id, "T1", ts, category, "", (), None, 31.2, 121.5, grid)


def test_severity_by_category_else_the_rules_own_and_only_opens() -> None:
    rule = Resolved("worker_report", "report", Severity.WARNING, ReportParams({"fire": "critical"}))
    reports = [_report("b", "other", None, 2), _report("a", "fire", "320000005001001", 1)]
    state, trs = evaluate(reports, ReportState(), rule)
    assert state == ReportState()
    assert [(t.key, t.kind, t.severity, t.ts) for t in trs] == [
        ("report:a", "open", Severity.CRITICAL, 1),
        ("report:b", "open", Severity.WARNING, 2),
    ]
    assert [t.detail["outside"] for t in trs] == [False, True]


def test_rules_file_names_an_unknown_category_at_its_line() -> None:
    assert parse_rules(RULES.replace("EXTRA", "blocked_exit")).get("worker_report")
    with pytest.raises(RuleFileError) as err:
        parse_rules(RULES.replace("EXTRA", "arson"))
    assert [str(p) for p in err.value.problems] == [
        "rules.yaml:9: rules[worker_report].params.severities: unknown report category 'arson'"
    ]
