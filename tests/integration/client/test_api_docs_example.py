"""The worked measurement in the API reference (docs/api/measurement.rst) runs as written.

Every ``>>>`` example of the page is executed by :mod:`doctest` against a real in-process
server, from the repository root (the page loads ``examples/two_site.pinmap`` by that relative
path), with ``PINBROKER_ADDRESS`` pointing at the server as the page tells the reader to do.
"""

from __future__ import annotations

import doctest
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "api" / "measurement.rst"


def test_measurement_page_examples_run_as_shown(
    server_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PINBROKER_ADDRESS", server_address)
    result = doctest.testfile(
        str(PAGE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS,
        raise_on_error=False,
        verbose=False,
        report=True,
    )
    # The page's ``clients.close()`` revokes the lease; its keep-alive thread ends on its own
    # shortly after. Wait for it, so no later test sees a pinbroker-lease thread of this one.
    for thread in threading.enumerate():
        if thread.name.startswith("pinbroker-lease"):
            thread.join(timeout=30)
    assert result.attempted >= 15, "the page lost its examples"
    assert result.failed == 0, f"{result.failed} example(s) of {PAGE.name} failed (see above)"
