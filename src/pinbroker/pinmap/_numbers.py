"""Parsing of the numeric attribute syntaxes of pin maps: counts, site lists, channel ranges.

Each parser returns the value or raises :class:`NumberSyntaxError` with a message that names the
bad token; callers turn that into a located pin map problem.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_CHANNELS",
    "NumberSyntaxError",
    "decimal_or_none",
    "parse_channel_ranges",
    "parse_count",
    "parse_site_list",
]

MAX_CHANNELS = 65_536
"""Largest ``numberOfChannels`` / ``numberOfControlLines`` accepted (real instruments: <= 64)."""

# At most 9 digits: keeps int() cheap and far below Python's int-from-str digit limit.
_DECIMAL = re.compile(r"[0-9]{1,9}")
_RANGE = re.compile(r"([0-9]{1,9})\s*[-:]\s*([0-9]{1,9})")


class NumberSyntaxError(ValueError):
    """Raised when a numeric attribute is malformed; the message says why."""


def parse_count(text: str, what: str) -> int:
    """Parse a positive decimal count such as ``numberOfChannels``.

    Args:
        text: The attribute value.
        what: The attribute name, for the message.

    Returns:
        The count (at least 1).

    Raises:
        NumberSyntaxError: ``text`` is not a positive decimal integer.
    """
    value = text.strip()
    if _DECIMAL.fullmatch(value) is None or int(value) < 1:
        raise NumberSyntaxError(f"{what}='{text}' is not a positive whole number")
    if int(value) > MAX_CHANNELS:
        raise NumberSyntaxError(f"{what}='{text}' is more than {MAX_CHANNELS}")
    return int(value)


def parse_site_list(text: str) -> tuple[int, ...]:
    """Parse a ``siteNumber`` value: one site or a comma-separated list (``0,1,3``).

    Returns:
        The sites in the order written.

    Raises:
        NumberSyntaxError: A token is not a non-negative decimal integer, or a site repeats.
    """
    sites: list[int] = []
    for token in text.split(","):
        value = token.strip()
        if _DECIMAL.fullmatch(value) is None:
            raise NumberSyntaxError(
                f"siteNumber='{text}' is not a site number or comma-separated list"
            )
        site = int(value)
        if site in sites:
            raise NumberSyntaxError(f"siteNumber='{text}' lists site {site} twice")
        sites.append(site)
    return tuple(sites)


def parse_channel_ranges(text: str, number_of_channels: int) -> tuple[int, ...]:
    """Parse a DCPower ``ChannelGroup@channels`` value.

    Accepts comma-separated items, each a channel number or an inclusive range written with ``-``
    or ``:`` (``0,1,3``, ``0-3``, ``0:1,3``).

    Args:
        text: The attribute value.
        number_of_channels: The instrument's channel count; every channel must be below it.

    Returns:
        The channels, in the order written, without repeats.

    Raises:
        NumberSyntaxError: An item is malformed, a range runs backwards, a channel is out of
            range, or a channel repeats.
    """
    channels: list[int] = []
    seen: set[int] = set()
    for token in text.split(","):
        item = token.strip()
        single = _DECIMAL.fullmatch(item)
        if single is not None:
            first = last = int(item)
        else:
            ranged = _RANGE.fullmatch(item)
            if ranged is None:
                raise NumberSyntaxError(
                    f"channels='{text}': '{item}' is not a channel number or range like 0-3"
                )
            first, last = int(ranged.group(1)), int(ranged.group(2))
            if last < first:
                raise NumberSyntaxError(f"channels='{text}': range '{item}' runs backwards")
        if last >= number_of_channels:
            raise NumberSyntaxError(
                f"channels='{text}': channel {last} is out of range "
                f"(numberOfChannels={number_of_channels})"
            )
        for channel in range(first, last + 1):
            if channel in seen:
                raise NumberSyntaxError(f"channels='{text}' lists channel {channel} twice")
            seen.add(channel)
            channels.append(channel)
    return tuple(channels)


def decimal_or_none(text: str) -> int | None:
    """Return ``int(text)`` if ``text`` is a plain decimal number (no sign or spaces), else None."""
    return int(text) if _DECIMAL.fullmatch(text) is not None else None
