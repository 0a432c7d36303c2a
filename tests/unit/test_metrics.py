"""check_value: the per-value acceptance rules shared by every decoder."""

from __future__ import annotations

import pytest

from devices.metrics import check_value


@pytest.mark.parametrize(
    ("metric", "value", "reason"),
    [
        ("pressure_mpa", 0.3, None),
        ("pressure_mpa", 3, None),
        ("odometer", 1e300, None),  # unknown metric: only finiteness is checked
        ("pressure_mpa", 10.5, "out_of_range"),
        ("pressure_mpa", True, "not_a_number"),
        ("pressure_mpa", "0.3", "not_a_number"),
        ("pressure_mpa", float("nan"), "nan"),
        ("pressure_mpa", float("-inf"), "infinite"),
    ],
)
def test_check_value(metric: str, value: object, reason: str | None) -> None:
    assert check_value(metric, value) == reason


@pytest.mark.parametrize("metric", ["pressure_mpa", "odometer"])
@pytest.mark.parametrize("value", [10**309, -(10**400)])
def test_integer_beyond_float_range_is_out_of_range_not_an_overflow(
    metric: str, value: int
) -> None:
    assert check_value(metric, value) == "out_of_range"
