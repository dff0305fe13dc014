"""``python -m pinbroker.ni_linux SCRIPT [ARGS...]``: run a script with the hook installed."""

from __future__ import annotations

import runpy
import sys

import pinbroker.ni_linux  # noqa: F401  (installs the hook)

if len(sys.argv) < 2:
    sys.exit("usage: python -m pinbroker.ni_linux SCRIPT [ARGS...]")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
