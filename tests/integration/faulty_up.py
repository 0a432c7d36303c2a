"""``firegrid up`` with faults injected into its real roles: run as a subprocess by the tests.

    python -m tests.integration.faulty_up TRIGGER_DIR

Settings come from the environment as for ``firegrid up``. The roles are the real ones, built
by the runtime's own factories; the runtime's ``role_hook`` wraps each so that, inside the
role's own thread, the next round of work raises ``RuntimeError("injected")`` when the file
``TRIGGER_DIR/<role>`` exists. The file is removed when the fault fires (one failure), unless
it says ``always`` (every instance fails: the supervisor must give up).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firegrid.runtime import run
from firegrid.settings import Settings
from infra.roles import Role, RoleFactory


def _fault(trigger: Path, name: str) -> None:
    """Raise if the role's trigger file says so."""
    try:
        mode = trigger.read_text().strip()
    except FileNotFoundError:
        return
    if mode != "always":
        trigger.unlink(missing_ok=True)
    print(f"faulty_up: injecting a failure into {name}", flush=True)
    raise RuntimeError(f"injected into {name}")


def _before(work: Callable[..., Any], trigger: Path, name: str) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _fault(trigger, name)
        return work(*args, **kwargs)

    return wrapped


def hook(trigger_dir: Path) -> Callable[[str, RoleFactory], RoleFactory]:
    """Return a role hook that makes ingest, rules and maintenance fail on request."""

    def wrap(name: str, factory: RoleFactory) -> RoleFactory:
        trigger = trigger_dir / name

        def build() -> Role:
            role: Any = factory()
            if name == "ingest":  # the decoder thread's every round takes from the buffer
                role.buffer.take = _before(role.buffer.take, trigger, name)
            elif name == "rules":  # every round of the rules thread reloads the rules file
                role.reload_rules = _before(role.reload_rules, trigger, name)
            elif name == "maintenance":  # hourly in production; a fault must not wait that long
                role._interval_s = 0.2
                role.work = _before(role.work, trigger, name)
            return role  # type: ignore[no-any-return]

        return build

    return wrap


def main() -> int:
    """Run FireGrid's ingest, rules and API roles with the fault hook."""
    trigger_dir = Path(sys.argv[1])
    return run(
        Settings(), roles=["ingest", "rules", "api"], simulate=False, role_hook=hook(trigger_dir)
    )


if __name__ == "__main__":
    sys.exit(main())
