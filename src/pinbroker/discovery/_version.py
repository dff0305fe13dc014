"""Service versions: ``major.minor.patch`` or ``major.minor.patch.build``, compared numerically.

NI's Measurement Plug-In SDK registers the ``version`` of a ``.serviceconfig`` (or of the
deprecated constructor argument) as it is written; NI's own examples have used both three-part
versions (``1.0.1``) and four-part ones (``0.1.0.0``). A missing fourth part counts as 0, so
``1.0.0`` and ``1.0.0.0`` are the same version.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["INTERNAL_VERSION", "Version", "parse_version"]

_VERSION_RE: Final = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?", re.ASCII)


class Version(NamedTuple):
    """A parsed version; tuples order the way versions do."""

    major: int
    minor: int
    patch: int
    build: int = 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}.{self.build}" if self.build else text


INTERNAL_VERSION: Final = Version(0, 0, 1)
"""Version the registry records for a service registered without one; reserved, never accepted."""


def parse_version(text: str) -> Version | None:
    """Parse ``major.minor.patch`` or ``major.minor.patch.build`` (non-negative decimal integers).

    Returns:
        The version, or None when ``text`` has neither format.
    """
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, build = (int(part) if part else 0 for part in match.groups())
    return Version(major, minor, patch, build)
