"""Timeouts: seconds as ``float | None`` inside pinbroker, milliseconds and ``-1`` on the wire.

``0`` means "do not wait", ``None`` means "wait forever", a positive number is the longest wait
in seconds. The gRPC edge converts with :func:`timeout_from_milliseconds` and
:func:`timeout_to_milliseconds` (its inverse); nothing else deals in milliseconds.

NI's 1.2 client API, which the drop-in and ``pinbroker.client`` keep, reads ``None`` the other
way round (do not wait); its conversion is
:func:`ni_measurementlink_service._timeout.ni_timeout_to_milliseconds`, named apart on purpose.
"""

from __future__ import annotations

import math

from pinbroker.errors import InvalidTimeoutError

__all__ = ["check_timeout", "timeout_from_milliseconds", "timeout_to_milliseconds"]

_WAIT_FOREVER_MS = -1


def timeout_from_milliseconds(milliseconds: int) -> float | None:
    """Convert a wire ``timeout_in_milliseconds`` into pinbroker's seconds.

    Args:
        milliseconds: ``0`` = do not wait, ``-1`` = wait forever, ``> 0`` = wait that long.

    Returns:
        ``0.0``, ``None`` or ``milliseconds / 1000``.

    Raises:
        InvalidTimeoutError: If ``milliseconds`` is below -1.
    """
    if milliseconds == _WAIT_FOREVER_MS:
        return None
    if milliseconds < 0:
        raise InvalidTimeoutError(
            f"timeout_in_milliseconds {milliseconds} is invalid: use 0 (do not wait), "
            "-1 (wait forever) or a positive number of milliseconds"
        )
    return milliseconds / 1000


def timeout_to_milliseconds(seconds: float | None) -> int:
    """Convert pinbroker's seconds into a wire ``timeout_in_milliseconds``.

    The inverse of :func:`timeout_from_milliseconds`. ``None`` waits forever here, unlike NI's
    1.2 API (see the module docstring).

    Args:
        seconds: ``None`` or ``math.inf`` = wait forever, otherwise seconds >= 0.

    Returns:
        ``-1`` for forever, else the seconds in whole milliseconds, rounded to nearest; a
        positive timeout never becomes ``0`` (do not wait).

    Raises:
        InvalidTimeoutError: If ``seconds`` is negative or NaN.
    """
    checked = check_timeout(seconds)
    if checked is None:
        return _WAIT_FOREVER_MS
    milliseconds = round(checked * 1000)
    if checked > 0 and milliseconds == 0:
        return 1
    return milliseconds


def check_timeout(seconds: float | None) -> float | None:
    """Validate a timeout in seconds and normalize "forever" to None.

    Args:
        seconds: ``0`` = do not wait, ``> 0`` = wait up to that long, ``None`` or ``math.inf``
            = wait forever.

    Returns:
        The timeout as a float, or None for forever.

    Raises:
        InvalidTimeoutError: If ``seconds`` is negative or NaN.
    """
    if seconds is None:
        return None
    if math.isnan(seconds) or seconds < 0:
        raise InvalidTimeoutError(
            f"timeout {seconds!r} s is invalid: use 0 (do not wait), None (wait forever) "
            "or a positive number of seconds"
        )
    if math.isinf(seconds):
        return None
    return float(seconds)
