"""The rules file: YAML reading, validation with line numbers, loading and reload on demand.

A rules file (YAML; ``default_rules.yaml`` ships the DOMAIN §4 defaults)::

    version: 1
    rules:
      - id: hydrant_municipal_low          # [a-z][a-z0-9_]*, unique
        kind: threshold                    # a kind of rules.kinds.KINDS
        severity: warning                  # info | warning | major | critical
        applies_to: {device_kind: hydrant, hydrant_class: municipal}   # + model, agent
        params: {metric: pressure_mpa, direction: low, limit: 0.14}
    overrides:
      - unit: U-0012                       # exactly one of device, unit, model, hydrant_class
        rules:
          indoor_hydrant_low: {limit: 0.35}            # params; also severity, enabled
          ...

Every problem of a file is reported at once as ``rules.yaml:42: where: message``. Kept apart
from ``rules.definitions`` (the validated objects and how overrides resolve for a device): this
is the YAML node walking that only runs when a file is loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from devices.models import DeviceKind
from devices.registry import Agent, HydrantClass
from hazards.models import Severity
from infra import yaml_file
from infra.yaml_file import INVALID, FileProblem, FileProblemsError, YamlReader
from rules.definitions import RULE_ID, SCOPES, Override, RuleDefinition, RuleSet, Scope
from rules.exceptions import RulesError
from rules.kinds import KINDS, parse_params
from rules.models import AppliesTo

RuleProblem = FileProblem  # one thing wrong in a rules file, located by line and by path


class RuleFileError(FileProblemsError, RulesError):
    """A rules file was refused; ``problems`` lists every problem found, not only the first."""

    what = "rules file"


class _Reader(YamlReader):
    """The rules file's YAML reader: problems raise RuleFileError; texts and kind params."""

    error = RuleFileError

    def text(
        self,
        entry: Mapping[str, tuple[yaml.Node, yaml.Node]],
        key: str,
        where: str,
        parent: yaml.Node,
        choices: tuple[str, ...] | None = None,
        *,
        optional: bool = False,
    ) -> str | None:
        if key not in entry:
            if not optional:
                self.problem(parent, where, f"{key}: is required")
            return None
        node = entry[key][1]
        value = self.value(node)
        if not isinstance(value, str) or not value:
            self.problem(node, f"{where}.{key}", "must be a text")
            return None
        if choices is not None and value not in choices:
            self.problem(node, f"{where}.{key}", "must be one of " + ", ".join(choices))
            return None
        return value

    def params_problems(self, problems: list[tuple[str, str]], node: yaml.Node, where: str) -> None:
        """Report a kind's param problems at the line of each param when it is written."""
        entries = {}
        if isinstance(node, yaml.MappingNode):
            entries = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        for name, message in problems:
            at = entries.get(name, node)
            self.problem(at, f"{where}.{name}", message)


def _read_rule(r: _Reader, node: yaml.Node, where: str) -> RuleDefinition | None:
    entry = r.mapping(node, where)
    if not entry:
        return None
    for key in entry.keys() - {"id", "kind", "severity", "applies_to", "params"}:
        r.problem(entry[key][0], f"{where}.{key}", "unknown key")
    rule_id = r.text(entry, "id", where, node)
    if rule_id is not None and not RULE_ID.fullmatch(rule_id):
        r.problem(entry["id"][1], f"{where}.id", "must match [a-z][a-z0-9_]{0,63}")
        rule_id = None
    where = f"rules[{rule_id}]" if rule_id else where
    kind = r.text(entry, "kind", where, node, tuple(KINDS))
    severity = r.text(entry, "severity", where, node, tuple(Severity))
    applies = _read_applies(r, entry, where, node)
    params_node = entry["params"][1] if "params" in entry else yaml.MappingNode("", [])
    r.mapping(params_node, f"{where}.params")  # reports duplicate params
    params_raw = r.value(params_node) if "params" in entry else {}
    if params_raw is INVALID:  # a scalar YAML cannot read, e.g. a date like 2026-13-01
        r.problem(params_node, f"{where}.params", "holds a value that is not valid YAML")
        return None
    if not isinstance(params_raw, dict):
        return None  # reported by r.mapping above
    if kind is None:
        return None
    params, problems = parse_params(KINDS[kind].params, params_raw)
    r.params_problems(problems, entry.get("params", (node, node))[1], f"{where}.params")
    if params is None or rule_id is None or severity is None or applies is None:
        return None
    line = node.start_mark.line + 1
    return RuleDefinition(rule_id, kind, Severity(severity), applies, params_raw, params, line)


def _read_applies(
    r: _Reader, entry: Mapping[str, tuple[yaml.Node, yaml.Node]], where: str, node: yaml.Node
) -> AppliesTo | None:
    if "applies_to" not in entry:
        r.problem(node, where, "applies_to: is required")
        return None
    n_before = len(r.problems)
    a_node = entry["applies_to"][1]
    a = r.mapping(a_node, f"{where}.applies_to")
    for key in a.keys() - {"device_kind", "hydrant_class", "model", "agent"}:
        r.problem(a[key][0], f"{where}.applies_to.{key}", "unknown key")
    w = f"{where}.applies_to"
    kind = r.text(a, "device_kind", w, a_node, tuple(DeviceKind))
    hydrant = r.text(a, "hydrant_class", w, a_node, tuple(HydrantClass), optional=True)
    model = r.text(a, "model", w, a_node, optional=True)
    agent = r.text(a, "agent", w, a_node, tuple(Agent), optional=True)
    return AppliesTo(kind, hydrant, model, agent) if kind and len(r.problems) == n_before else None


def _read_override(
    r: _Reader, node: yaml.Node, where: str, rules: Mapping[str, RuleDefinition]
) -> list[Override]:
    entry = r.mapping(node, where)
    if not entry:
        return []
    scopes: list[Scope] = [s for s in SCOPES if s in entry]
    for key in entry.keys() - {*SCOPES, "rules"}:
        r.problem(entry[key][0], f"{where}.{key}", "unknown key")
    if len(scopes) != 1:
        r.problem(node, where, "must name exactly one of " + ", ".join(SCOPES))
        return []
    scope: Scope = scopes[0]
    match = r.value(entry[scope][1])
    if not isinstance(match, str | int) or isinstance(match, bool) or match == "":
        r.problem(entry[scope][1], f"{where}.{scope}", "must be a text")
        return []
    match = str(match)  # a YAML model name like 2030 reads as a number
    where = f"overrides[{scope}={match}]"
    if "rules" not in entry:
        r.problem(node, where, "rules: is required")
        return []
    out: list[Override] = []
    for rule_id, (key_node, value_node) in r.mapping(entry["rules"][1], f"{where}.rules").items():
        w = f"{where}.rules.{rule_id}"
        rule = rules.get(rule_id)
        if rule is None:
            r.problem(key_node, w, "no rule with this id")
            continue
        changes = r.value(value_node)
        if changes is INVALID:
            r.problem(value_node, w, "holds a value that is not valid YAML")
            continue
        if not isinstance(changes, dict):
            r.problem(value_node, w, "must be a mapping")
            continue
        severity, enabled = changes.pop("severity", None), changes.pop("enabled", None)
        ok = True
        if severity is not None and severity not in tuple(Severity):
            r.problem(value_node, f"{w}.severity", "must be one of " + ", ".join(Severity))
            ok = False
        if enabled is not None and not isinstance(enabled, bool):
            r.problem(value_node, f"{w}.enabled", "must be true or false")
            ok = False
        # Validate the override as it would apply on top of the rule's own params.
        _, problems = parse_params(KINDS[rule.kind].params, {**rule.raw_params, **changes})
        r.params_problems(problems, value_node, w)
        if ok and not problems:
            sev = Severity(severity) if severity is not None else None
            line = key_node.start_mark.line + 1
            out.append(Override(scope, match, rule_id, changes, sev, enabled, line))
    return out


def _read_rules(r: _Reader, node: yaml.Node) -> dict[str, RuleDefinition]:
    rules: dict[str, RuleDefinition] = {}
    if not isinstance(node, yaml.SequenceNode):
        r.problem(node, "rules", "must be a list of rules")
        return rules
    for i, item in enumerate(node.value):
        rule = _read_rule(r, item, f"rules[{i}]")
        if rule is not None and rule.id in rules:
            r.problem(item, f"rules[{rule.id}]", "duplicate rule id")
        elif rule is not None:
            rules[rule.id] = rule
    return rules


def parse_rules(text: str | bytes, *, source: str = "rules.yaml") -> RuleSet:
    """Parse and validate a rules file, raising RuleFileError with every problem found."""
    raw = text.encode() if isinstance(text, str) else text
    r = _Reader(source)
    root = r.compose(raw)
    top = r.mapping(root, "file")
    for key in top.keys() - {"version", "rules", "overrides"}:
        r.problem(top[key][0], key, "unknown key")
    if "version" not in top or r.value(top["version"][1]) != 1:
        r.problem(top.get("version", (root, root))[1], "version", "must be 1")
    rules = _read_rules(r, top["rules"][1] if "rules" in top else root)
    overrides: list[Override] = []
    if "overrides" in top:
        o_nodes = top["overrides"][1]
        if not isinstance(o_nodes, yaml.SequenceNode):
            r.problem(o_nodes, "overrides", "must be a list")
        else:
            for i, node in enumerate(o_nodes.value):
                overrides.extend(_read_override(r, node, f"overrides[{i}]", rules))
    r.raise_if_any()
    digest = hashlib.sha256(raw).hexdigest()
    return RuleSet(tuple(rules.values()), tuple(overrides), source, digest)


DEFAULT_RULES: Final = Path(__file__).with_name("default_rules.yaml")


def load_rules(path: str | Path = DEFAULT_RULES) -> RuleSet:
    """Read and validate a rules file (the shipped defaults when no path is given)."""
    p = Path(path)
    return parse_rules(yaml_file.read_bytes(p, RuleFileError), source=p.name)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What ``RulesFile.check`` found: whether the set changed, and why a new file was refused."""

    changed: bool
    errors: list[RuleProblem] = field(default_factory=list)


class RulesFile:
    """A rules file reloaded on demand; an invalid new version keeps the last good set."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.current = load_rules(self.path)  # the first load must succeed
        self.errors: list[RuleProblem] = []
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def check(self) -> ReloadResult:
        """Reload the file if it changed; return whether the rule set changed and any errors."""
        stamp = self._stat()
        if stamp == self._stamp and stamp is not None:
            return ReloadResult(False, list(self.errors))
        self._stamp = stamp
        try:
            new = load_rules(self.path)
        except RuleFileError as exc:
            self.errors = exc.problems
            return ReloadResult(False, list(self.errors))
        self.errors = []
        if new.digest == self.current.digest:  # touched, not changed
            return ReloadResult(False)
        self.current = new
        return ReloadResult(True)
