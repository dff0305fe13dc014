"""Service versions: ``major.minor.patch``, compared numerically."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["INTERNAL_VERSION", "Version", "parse_version"]

_VERSION_RE: Final = re.compile(r"(\d+)\.(\d+)\.(\d+)", re.ASCII)


class Version(NamedTuple):
    """A parsed ``major.minor.patch`` version; tuples order the way versions do."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


INTERNAL_VERSION: Final = Version(0, 0, 1)
"""Version the registry records for a service registered without one; reserved, never accepted."""


def parse_version(text: str) -> Version | None:
    """Parse ``major.minor.patch`` (three non-negative decimal integers).

    Returns:
        The version, or None when ``text`` does not have that format.
    """
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return Version(major, minor, patch)
