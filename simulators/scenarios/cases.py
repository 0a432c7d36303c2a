"""Case scenarios: a hazard becomes a case that simulated workers carry to its end.

The timeline only raises the hazard; the rest is the workers' terminals answering their inbox
(``simulators.terminal_cases``), so whoever runs the scenario starts one ``CaseTerminal`` per
``Scenario.terminals`` entry and waits for the ``expected_cases``.
"""

from __future__ import annotations

from simulators.scenarios.base import Context, device_row, layout, minutes, publish_event, unit_row
from simulators.scenarios.models import ExpectedCase, ExpectedHazard, Scenario, TerminalPlan

SYSTEM = "system"  # the actor of the steps FireGrid takes itself


def case_closed(ctx: Context) -> Scenario:
    """A smoke alarm → a case → signed, handled with a photo, verified by another worker → closed.

    Two grid workers of the unit's grid: the first (lowest staff id) is assigned, signs and
    gives feedback with a photo taken at the case; the second is asked to verify and does so
    on site with a photo and a position. The hazard stays open: a person closed the case.
    """
    grid = layout(ctx)
    code = grid.codes[0]
    unit, smoke = ctx.id("U-CASE"), ctx.id("SMK-CASE")
    handler, verifier = ctx.id("W1"), ctx.id("W2")
    t_handler, t_verifier = ctx.id("T-W1"), ctx.id("T-W2")
    at = grid.point(0)
    staff = [
        {
            "staff_id": handler,
            "name": "网格员甲",
            "role": "grid_worker",
            "area": code,
            "terminal_id": t_handler,
            "phone": "13800000001",
        },
        {
            "staff_id": verifier,
            "name": "网格员乙",
            "role": "grid_worker",
            "area": code,
            "terminal_id": t_verifier,
            "phone": "13800000002",
        },
    ]
    return Scenario(
        name="case_closed",
        description=(case_closed.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, at, "枫桥商务楼")],
        devices=[
            device_row(smoke, "smoke", unit_id=unit, at=at),
            device_row(t_handler, "terminal", unit_id=None, at=grid.point(0, east_m=20.0)),
            device_row(t_verifier, "terminal", unit_id=None, at=grid.point(0, north_m=20.0)),
        ],
        staff=staff,
        grids=grid.grids,
        timeline=[publish_event(ctx, smoke, -minutes(2), "smoke_alarm", {"smoke_pct": 12.5})],
        expected_hazards=[ExpectedHazard("smoke_alarm", smoke, "major", grid_code=code)],
        terminals=[
            TerminalPlan(t_handler, handler, "prompt"),
            TerminalPlan(t_verifier, verifier, "prompt"),
        ],
        expected_cases=[
            ExpectedCase(
                unit_id=unit,
                category="fire",
                status="closed",
                assignee=handler,
                handled_by=handler,
                steps=(
                    ("report", SYSTEM),
                    ("file", SYSTEM),
                    ("dispatch", SYSTEM),
                    ("sign", handler),
                    ("feedback", handler),
                    ("verify", verifier),
                    ("close", SYSTEM),
                ),
            )
        ],
    )
