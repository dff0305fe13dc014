"""Shared fixtures: where NI's public pin maps are (tests skip cleanly when they are absent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_PINMAPS = Path(__file__).resolve().parents[1].parent / "shared" / "pinmaps"
NI_PYTHON_PREFIX = "ni__measurement-plugin-python__"


@pytest.fixture
def ni_pinmap() -> Callable[[str], Path]:
    """Return a function mapping ``PinMapA_...`` to its corpus path, skipping if absent."""

    def locate(name: str) -> Path:
        path = SHARED_PINMAPS / f"{NI_PYTHON_PREFIX}{name}.pinmap"
        if not path.is_file():
            pytest.skip(f"NI pin map corpus not available ({path})")
        return path

    return locate
