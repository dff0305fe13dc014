"""Timeout conversion of the documented 1.2 client: seconds in, ``timeout_in_milliseconds`` out.

The only place in the drop-in (and in ``pinbroker.client``, which shares its API) where the
wire's milliseconds and its -1 ("wait forever") appear.

Two conventions exist, and the names say which is which:

- :func:`ni_timeout_to_milliseconds` (here): NI's 1.2 API, where ``None`` means **do not wait**
  (0) and a negative number means wait forever (-1).
- :func:`pinbroker.reservation.timeout_to_milliseconds`: pinbroker's own API (house style),
  where ``None`` means **wait forever** (-1) and a negative number is an error; it is the inverse
  of :func:`pinbroker.reservation.timeout_from_milliseconds`.
"""

from __future__ import annotations

import math

__all__ = ["MAX_TIMEOUT_MS", "ni_timeout_to_milliseconds"]

MAX_TIMEOUT_MS = 2**31 - 1
"""Largest value of the int32 ``timeout_in_milliseconds`` field."""


def ni_timeout_to_milliseconds(timeout: float | None) -> int:
    """Convert a timeout in seconds, as NI's 1.2 API takes it, to ``timeout_in_milliseconds``.

    Not pinbroker's own convention (there ``None`` waits forever); see the module docstring.
    Same rule as 1.2: None -> 0 (1.2 left the field unset, which is 0 on the wire); otherwise
    ``round(timeout * 1000)`` and any negative result -> -1 (wait forever). Because 1.2 rounds
    before it checks the sign, a negative timeout above -0.0005 s rounds to 0 (do not wait), and
    0.0025 s rounds half-to-even to 2 ms; both are kept for drop-in fidelity.

    Additions to 1.2, which raised OverflowError/ValueError here: ``-inf`` and ``+inf`` mean wait
    forever (-1).

    Raises:
        ValueError: If ``timeout`` is NaN, or longer than the wire can carry (about 24.8 days).
    """
    if timeout is None:
        return 0
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds, not NaN")
    if math.isinf(timeout):
        return -1
    milliseconds = round(timeout * 1000)
    if milliseconds < 0:
        return -1
    if milliseconds > MAX_TIMEOUT_MS:
        raise ValueError(
            f"timeout {timeout} s is too long; the longest finite timeout is "
            f"{MAX_TIMEOUT_MS / 1000} s, use a negative value to wait forever"
        )
    return milliseconds
