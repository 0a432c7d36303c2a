"""Case scenarios: a hazard becomes a case that simulated workers carry to its end.

The timeline only raises the hazard; the rest is the workers' terminals answering their inbox
(``simulators.terminal_cases``), so whoever runs the scenario starts one ``CaseTerminal`` per
``Scenario.terminals`` entry and waits for the ``expected_cases``.
"""

from __future__ import annotations

from typing import Any

from simulators.scenarios.base import Context, device_row, layout, minutes, publish_event, unit_row
from simulators.scenarios.models import ExpectedCase, ExpectedHazard, Scenario, TerminalPlan

SYSTEM = "system"  # the actor of the steps FireGrid takes itself
CREATED = (("report", SYSTEM), ("file", SYSTEM), ("dispatch", SYSTEM))


def _street(
    ctx: Context,
    behaviours: tuple[str, str],
    roles: tuple[str, str] = ("grid_worker", "grid_worker"),
) -> dict[str, Any]:
    """A smoke detector in a unit of grid 0 and two staff of that grid (grid workers unless
    ``roles`` says otherwise), each with a terminal, as Scenario fields."""
    grid = layout(ctx)
    code = grid.codes[0]
    unit, smoke = ctx.id("U-CASE"), ctx.id("SMK-CASE")
    at = grid.point(0)
    staff, devices, plans = [], [device_row(smoke, "smoke", unit_id=unit, at=at)], []
    for i, (behaviour, role) in enumerate(zip(behaviours, roles, strict=True), start=1):
        worker, terminal = ctx.id(f"W{i}"), ctx.id(f"T-W{i}")
        staff.append(
            {
                "staff_id": worker,
                "name": f"网格员{i}",
                "role": role,
                "area": code,
                "terminal_id": terminal,
                "phone": f"1380000000{i}",
            }
        )
        devices.append(
            device_row(terminal, "terminal", unit_id=None, at=grid.point(0, east_m=20.0 * i))
        )
        plans.append(TerminalPlan(terminal, worker, behaviour))
    return {
        "tag": ctx.tag,
        "base": ctx.base,
        "units": [unit_row(unit, at, "枫桥商务楼")],
        "devices": devices,
        "staff": staff,
        "grids": grid.grids,
        "timeline": [publish_event(ctx, smoke, -minutes(2), "smoke_alarm", {"smoke_pct": 12.5})],
        "expected_hazards": [ExpectedHazard("smoke_alarm", smoke, "major", grid_code=code)],
        "terminals": plans,
    }


def case_unsigned(ctx: Context) -> Scenario:
    """A smoke alarm → a case for a forgetful worker, who never signs: it stays dispatched.

    The start of every escalation scenario: the sign deadline passes with no one acting, and
    the dispatch role's sweeps (on its clock) must supervise and escalate the case by itself.
    """
    fields = _street(ctx, ("forgetful", "prompt"))
    worker, unit = fields["staff"][0]["staff_id"], fields["units"][0]["unit_id"]
    return Scenario(
        name="case_unsigned",
        description=(case_unsigned.__doc__ or "").split("\n")[0],
        expected_cases=[ExpectedCase(unit, "fire", "dispatched", assignee=worker, steps=CREATED)],
        **fields,
    )


def case_escalated(ctx: Context) -> Scenario:
    """A smoke alarm → a case for a forgetful worker → past the sign deadline the case is
    supervised (督办) and escalated to the grid head, who signs and handles it → the worker (who
    forgets to sign, not to check) verifies on site → closed.

    The deadline passes on the dispatch role's clock: whoever runs it against a live FireGrid
    waits out the sign deadline (10 minutes for a fire); a test moves an injected clock.
    """
    fields = _street(ctx, ("forgetful", "prompt"), roles=("grid_worker", "grid_head"))
    worker, head = (row["staff_id"] for row in fields["staff"])
    return Scenario(
        name="case_escalated",
        description=(case_escalated.__doc__ or "").split("\n")[0],
        waits_for_sign=("fire", "urgent"),  # a smoke alarm's case (dispatch/case_rules.yaml)
        expected_cases=[
            ExpectedCase(
                unit_id=fields["units"][0]["unit_id"],
                category="fire",
                status="closed",
                assignee=head,
                handled_by=head,
                steps=(
                    *CREATED,
                    ("supervise", SYSTEM),
                    ("escalate", SYSTEM),
                    ("sign", head),
                    ("feedback", head),
                    ("verify", worker),
                    ("close", SYSTEM),
                ),
            )
        ],
        **fields,
    )


def case_closed(ctx: Context) -> Scenario:
    """A smoke alarm → a case → signed, handled with a photo, verified by another worker → closed.

    Two grid workers of the unit's grid: the first (lowest staff id) is assigned, signs and
    gives feedback with a photo taken at the case; the second is asked to verify and does so
    on site with a photo and a position. The hazard stays open: a person closed the case.
    """
    fields = _street(ctx, ("prompt", "prompt"))
    handler, verifier = (row["staff_id"] for row in fields["staff"])
    return Scenario(
        name="case_closed",
        description=(case_closed.__doc__ or "").split("\n")[0],
        expected_cases=[
            ExpectedCase(
                unit_id=fields["units"][0]["unit_id"],
                category="fire",
                status="closed",
                assignee=handler,
                handled_by=handler,
                steps=(
                    *CREATED,
                    ("sign", handler),
                    ("feedback", handler),
                    ("verify", verifier),
                    ("close", SYSTEM),
                ),
            )
        ],
        **fields,
    )
