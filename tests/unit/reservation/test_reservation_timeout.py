"""Timeout conversion between the wire (milliseconds, -1) and the Python API (seconds, None)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinbroker.errors import InvalidTimeoutError
from pinbroker.reservation import (
    check_timeout,
    timeout_from_milliseconds,
    timeout_to_milliseconds,
)


@pytest.mark.parametrize(
    ("milliseconds", "seconds"),
    [(0, 0.0), (-1, None), (1, 0.001), (1500, 1.5), (10_000, 10.0)],
)
def test_from_milliseconds(milliseconds: int, seconds: float | None) -> None:
    assert timeout_from_milliseconds(milliseconds) == seconds


@pytest.mark.parametrize("milliseconds", [-2, -1000, -(2**31)])
def test_from_milliseconds_below_minus_one_is_invalid_and_named(milliseconds: int) -> None:
    with pytest.raises(InvalidTimeoutError, match=f"timeout_in_milliseconds {milliseconds} "):
        timeout_from_milliseconds(milliseconds)


@pytest.mark.parametrize(
    ("seconds", "milliseconds"),
    [(None, -1), (math.inf, -1), (0, 0), (0.0, 0), (1.5, 1500), (0.0004, 1), (0.0016, 2)],
)
def test_to_milliseconds(seconds: float | None, milliseconds: int) -> None:
    assert timeout_to_milliseconds(seconds) == milliseconds


@pytest.mark.parametrize("seconds", [-0.5, -math.inf, math.nan])
def test_negative_or_nan_seconds_are_invalid(seconds: float) -> None:
    with pytest.raises(InvalidTimeoutError, match="invalid"):
        check_timeout(seconds)
    with pytest.raises(InvalidTimeoutError):
        timeout_to_milliseconds(seconds)


def test_check_timeout_normalizes() -> None:
    assert check_timeout(None) is None
    assert check_timeout(math.inf) is None
    assert check_timeout(3) == 3.0
    assert isinstance(check_timeout(3), float)


@given(st.integers(min_value=-1, max_value=2**31 - 1))
def test_milliseconds_round_trip(milliseconds: int) -> None:
    assert timeout_to_milliseconds(timeout_from_milliseconds(milliseconds)) == milliseconds
