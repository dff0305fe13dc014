"""pinbroker's ``sitecustomize``: put first on ``PYTHONPATH`` by ``pinbroker run``.

It makes NI's Python discovery client find pinbroker (see ``pinbroker.ni_linux._hook``), then
runs the ``sitecustomize`` this one shadows, if any: the next one on ``sys.path`` once this
directory is left out (the convention of ``opentelemetry-instrument`` and ``ddtrace-run``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _same_dir(entry: str, here: str) -> bool:
    try:
        return os.path.samefile(entry or os.getcwd(), here)
    except OSError:
        return False


def _install_hook(here: str) -> None:
    try:
        from pinbroker.ni_linux._hook import install
    except ImportError:
        # This Python has no pinbroker: load the stdlib-only hook from our own installation.
        path = os.path.join(os.path.dirname(here), "_hook.py")
        spec = importlib.util.spec_from_file_location("_pinbroker_ni_linux_hook", path)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        install = module.install
    install()


def _chain(here: str) -> None:
    others = [entry for entry in sys.path if not _same_dir(entry, here)]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_here = os.path.dirname(os.path.abspath(__file__))
_install_hook(_here)
_chain(_here)
