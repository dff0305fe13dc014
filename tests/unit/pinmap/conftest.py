"""Fixtures of the pin map engine tests: our own pin maps, and NI's corpus when it is present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pinbroker.pinmap import PinMap, load_pinmap_file

REPO = Path(__file__).resolve().parents[3]
CORPUS = (Path(__file__).parents[3] / ".." / "shared" / "pinmaps").resolve()
DATA = REPO / "tests" / "data"
EXAMPLE = REPO / "examples" / "two_site.pinmap"
NI_PYTHON = "ni__measurement-plugin-python__"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The NI pin map corpus folder; skips the test when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"NI pin map corpus not available at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def ni_map(corpus: Path) -> Callable[[str], PinMap]:
    """Load ``ni__measurement-plugin-python__<name>.pinmap`` from the corpus."""
    cache: dict[str, PinMap] = {}

    def load(name: str) -> PinMap:
        if name not in cache:
            path = corpus / f"{NI_PYTHON}{name}.pinmap"
            if not path.is_file():
                pytest.skip(f"{path.name} is not in the corpus")
            cache[name] = load_pinmap_file(path)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def two_site() -> PinMap:
    """``examples/two_site.pinmap``."""
    return load_pinmap_file(EXAMPLE)


@pytest.fixture(scope="session")
def legacy() -> PinMap:
    """``tests/data/legacy_tolerant.pinmap`` (old-style map, BOM, CRLF, odd section order)."""
    return load_pinmap_file(DATA / "legacy_tolerant.pinmap")
