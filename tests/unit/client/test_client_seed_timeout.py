"""Seconds -> ``timeout_in_milliseconds``, as the documented 1.2 client converts them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ni_measurementlink_service._timeout import MAX_TIMEOUT_MS, ni_timeout_to_milliseconds
from ni_measurementlink_service.session_management import _ni_timeout_to_milliseconds
from pinbroker.reservation import timeout_from_milliseconds, timeout_to_milliseconds


@pytest.mark.parametrize(
    ("seconds", "milliseconds"),
    [
        (None, 0),  # 1.2 left the field unset: 0 on the wire, the service does not wait
        (0, 0),
        (0.0, 0),
        (1, 1000),
        (2.5, 2500),
        (0.0004, 0),  # rounds to nothing
        (0.0006, 1),
        (0.0015, 2),  # round() is half-to-even: 1.5 -> 2
        (0.0025, 2),  # 2.5 -> 2
        (-1, -1),
        (-1.0, -1),
        (-0.5, -1),
        (-5, -1),
        (-0.0004, 0),  # 1.2 rounds before checking the sign
        (-0.0006, -1),
        (-math.inf, -1),
        (math.inf, -1),
        (MAX_TIMEOUT_MS / 1000, MAX_TIMEOUT_MS),
    ],
)
def test_conversion(seconds: float | None, milliseconds: int) -> None:
    assert ni_timeout_to_milliseconds(seconds) == milliseconds


def test_seed_module_uses_the_conversion() -> None:
    assert _ni_timeout_to_milliseconds is ni_timeout_to_milliseconds


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        ni_timeout_to_milliseconds(math.nan)


def test_too_long_is_rejected_with_the_limit_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"too long.*2147483\.647 s"):
        ni_timeout_to_milliseconds(MAX_TIMEOUT_MS / 1000 + 1)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_result_is_never_below_minus_one_and_matches_rounding(seconds: float) -> None:
    result = ni_timeout_to_milliseconds(seconds)
    assert result >= -1
    assert result == (-1 if round(seconds * 1000) < 0 else round(seconds * 1000))


def test_none_is_do_not_wait_in_ni_api_and_wait_forever_in_pinbroker() -> None:
    # Two conventions, two names: NI's 1.2 API sends 0 for None, pinbroker's own sends -1.
    assert ni_timeout_to_milliseconds(None) == 0
    assert timeout_to_milliseconds(None) == -1
    assert timeout_from_milliseconds(ni_timeout_to_milliseconds(None)) == 0.0
