"""Run NI's measurement plug-ins and clients on Linux against pinbroker.

``import pinbroker.ni_linux`` is the one-liner for programs that cannot be started through
``pinbroker run``: importing it makes NI's Python discovery client
(``ni.measurementlink.discovery.v1.client``) answer with pinbroker's address
(``$PINBROKER_ADDRESS``, else pinbroker's discovery key file) where it would raise
``NotImplementedError: Platform not supported: linux``. See ``docs/ni-plugins-on-linux.md``.
"""

from __future__ import annotations

from pinbroker.ni_linux._env import run_environment, site_directory
from pinbroker.ni_linux._hook import install, patch_support_module, pinbroker_address

__all__ = [
    "install",
    "patch_support_module",
    "pinbroker_address",
    "run_environment",
    "site_directory",
]

install()
