"""Which devices a rule watches: kinds, classes, models and agents."""

from __future__ import annotations

from rules.models import AppliesTo, DeviceContext

MUNICIPAL = AppliesTo("hydrant", hydrant_class="municipal")
INDOOR = AppliesTo("hydrant", hydrant_class="indoor")


def test_a_hydrant_without_a_class_is_watched_as_municipal() -> None:
    unclassed = DeviceContext("H-1", "hydrant")
    assert MUNICIPAL.matches(unclassed)
    assert not INDOOR.matches(unclassed)


def test_a_classed_hydrant_gets_only_its_class() -> None:
    indoor = DeviceContext("H-2", "hydrant", hydrant_class="indoor")
    assert INDOOR.matches(indoor)
    assert not MUNICIPAL.matches(indoor)


def test_the_default_applies_to_hydrants_only() -> None:
    tank = DeviceContext("T-1", "water_tank")
    assert not AppliesTo("water_tank", hydrant_class="municipal").matches(tank)
    assert AppliesTo("water_tank").matches(tank)
