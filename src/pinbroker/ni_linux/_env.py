"""The environment ``pinbroker run`` gives its command."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pinbroker.ni_linux._hook import ADDRESS_ENV_VAR

__all__ = ["run_environment", "site_directory"]


def site_directory() -> Path:
    """Return the directory holding pinbroker's ``sitecustomize.py`` (for ``PYTHONPATH``)."""
    return Path(__file__).resolve().parent / "_site"


def run_environment(address: str, base: Mapping[str, str]) -> dict[str, str]:
    """Return the variables ``pinbroker run`` sets, given the current environment ``base``.

    ``PYTHONPATH`` gets :func:`site_directory` first (kept once, before what ``base`` had), and
    ``PINBROKER_ADDRESS`` is ``address``.
    """
    site = str(site_directory())
    rest = [
        entry for entry in base.get("PYTHONPATH", "").split(os.pathsep) if entry and entry != site
    ]
    return {"PYTHONPATH": os.pathsep.join([site, *rest]), ADDRESS_ENV_VAR: address}
