"""Point NI's Python discovery client at pinbroker on Linux.

NI's discovery client (``ni.measurementlink.discovery.v1.client``, used by NI's Measurement
Plug-In SDK and NI's Pin Map and Session Management clients) finds the discovery service through
``_support._get_discovery_service_address()``: a key file under ``NIPUBAPPDATADIR`` and, if
needed, NI's Windows service started from ``NISHAREDDIR64``. Elsewhere that function raises
``NotImplementedError: Platform not supported: linux``. :func:`install` wraps it so that this
``NotImplementedError`` is answered with pinbroker's address instead; NI's own behaviour is kept
whenever it works.

The wrap happens when NI's module is imported (an import hook on ``sys.meta_path``), so
programs that never import NI's client pay nothing, and a program that has no NI client is not
changed at all. On Windows :func:`install` does nothing.

This module uses only the standard library (``sitecustomize`` may load it by file path in a
Python that does not have pinbroker installed); pinbroker's key file lookup is imported only when
``PINBROKER_ADDRESS`` is not set.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = [
    "ADDRESS_ENV_VAR",
    "SUPPORT_MODULE",
    "install",
    "patch_support_module",
    "pinbroker_address",
]

ADDRESS_ENV_VAR = "PINBROKER_ADDRESS"
"""The environment variable ``pinbroker run`` sets to the server's ``host:port``."""

SUPPORT_MODULE = "ni.measurementlink.discovery.v1.client._support"
"""NI's module whose ``_get_discovery_service_address`` is wrapped."""

CLIENT_MODULE = "ni.measurementlink.discovery.v1.client._client"
"""NI's module that imports ``_get_discovery_service_address`` by name (rebound too)."""

_FUNCTION = "_get_discovery_service_address"
_MARK = "__pinbroker_wrapped__"


def pinbroker_address() -> str:
    """Return pinbroker's ``host:port``: ``$PINBROKER_ADDRESS``, else its discovery key file.

    Raises:
        pinbroker.client.ServerNotFoundError: If neither gives an address (the message lists
            what was tried).
        RuntimeError: If ``PINBROKER_ADDRESS`` is unset and pinbroker is not importable.
    """
    address = os.environ.get(ADDRESS_ENV_VAR, "").strip()
    if address:
        return address
    try:
        from pinbroker.client import locate_server
    except ImportError as error:
        raise RuntimeError(
            f"pinbroker: ${ADDRESS_ENV_VAR} is not set and pinbroker is not installed in this "
            "Python, so its discovery key file cannot be read"
        ) from error
    return locate_server().address


def patch_support_module(module: ModuleType) -> bool:
    """Wrap ``module._get_discovery_service_address`` (NI's ``_support`` module) in place.

    The wrapper calls NI's function and, only if it raises ``NotImplementedError`` (an
    unsupported platform), returns :func:`pinbroker_address` instead. NI's ``_client`` module, if
    already imported, is rebound to the wrapper too. Wrapping twice does nothing.

    Returns:
        True if the module was wrapped now, False if it was already wrapped or has no such
        function.
    """
    original = getattr(module, _FUNCTION, None)
    if original is None or getattr(original, _MARK, False):
        return False

    def _get_discovery_service_address() -> str:
        try:
            return str(original())
        except NotImplementedError:
            return pinbroker_address()

    setattr(_get_discovery_service_address, _MARK, True)
    _get_discovery_service_address.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(module, _FUNCTION, _get_discovery_service_address)
    client = sys.modules.get(CLIENT_MODULE)
    if client is not None and getattr(client, _FUNCTION, None) is original:
        setattr(client, _FUNCTION, _get_discovery_service_address)
    return True


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then applies ``after`` to the fresh module."""

    def __init__(self, inner: importlib.abc.Loader, after: Callable[[ModuleType], object]) -> None:
        self._inner = inner
        self._after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        self._after(module)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_filename, is_package, ... of the real loader (tracebacks, inspect).
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds NI's ``_support`` module with the other finders and wraps its loader."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != SUPPORT_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, patch_support_module)
                return spec  # type: ignore[no-any-return]
        return None


def install() -> bool:
    """Make NI's discovery client find pinbroker where it would raise ``NotImplementedError``.

    If NI's ``_support`` module is already imported it is wrapped now; otherwise an import hook
    wraps it when (and if) it is imported. Idempotent.

    Returns:
        False on Windows (nothing is changed: NI's client works there), else True.
    """
    if sys.platform == "win32":
        return False
    loaded = sys.modules.get(SUPPORT_MODULE)
    if loaded is not None:
        patch_support_module(loaded)
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    return True
