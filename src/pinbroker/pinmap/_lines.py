"""Line numbers of elements, found by position in the document rather than by the parser.

The reader runs lxml in SAX style (a parser target), which is fast but reports no positions; it
numbers elements instead (1 = the root, in document order). :class:`LineMap` turns such an
ordinal into the line libxml2 would report as ``sourceline``: the line on which the element's
start tag ends, counting newline characters. It scans the document lazily and only as far as the
highest ordinal asked for, so a valid pin map whose declarations come first pays for a short
prefix only.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable

__all__ = ["LineMap"]

# A comment, CDATA section or processing instruction is consumed whole (so a '<' inside one is
# not taken for an element); otherwise a start tag, with quoted attribute values that may hold
# '>' or newlines. End tags match nothing and are skipped by the search.
_TOKEN = re.compile(
    rb"<!--.*?-->"
    rb"|<!\[CDATA\[.*?\]\]>"
    rb"|<[?!].*?>"
    rb"|<[^\s/>!?][^\s/>]*(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>",
    re.DOTALL,
)
_LESS_THAN = ord("<")
_MARKUP = (ord("!"), ord("?"))


class LineMap:
    """Maps element ordinals to line numbers of one document."""

    def __init__(self, data: bytes) -> None:
        """Prepare to scan ``data`` (nothing is scanned yet)."""
        self._data = data
        self._tokens = _TOKEN.finditer(data)
        self._lines: array[int] = array("l", [0])  # index 0 unused: ordinals start at 1
        self._line = 1
        self._offset = 0

    def line(self, ordinal: int) -> int:
        """Return the line of element number ``ordinal`` (the last line if there is none)."""
        lines = self._lines
        if ordinal >= len(lines):
            self._scan_to(ordinal)
        return lines[ordinal] if ordinal < len(lines) else self._line

    def lookup(self, highest: int) -> Callable[[int], int]:
        """Scan as far as element ``highest`` and return a fast ordinal -> line function.

        The function accepts ordinals up to ``highest`` (and beyond, if the scan went further).
        """
        self.line(highest)
        lines = self._lines
        last = self._line

        def line(ordinal: int) -> int:
            return lines[ordinal] if ordinal < len(lines) else last

        return line if len(lines) <= highest else lines.__getitem__

    def lines(self, ordinals: Iterable[int]) -> dict[int, int]:
        """Return ordinal -> line for each of ``ordinals``."""
        wanted = sorted(set(ordinals))
        if wanted:
            self._scan_to(wanted[-1])
        return {ordinal: self.line(ordinal) for ordinal in wanted}

    def _scan_to(self, ordinal: int) -> None:
        data = self._data
        lines = self._lines
        line = self._line
        offset = self._offset
        count_newlines = data.count
        for match in self._tokens:
            end = match.end()
            line += count_newlines(b"\n", offset, end)
            offset = end
            if data[match.start() + 1] in _MARKUP:
                continue
            lines.append(line)
            if len(lines) > ordinal:
                break
        self._line = line
        self._offset = offset
