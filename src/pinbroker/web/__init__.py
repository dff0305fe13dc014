"""The live status page and its JSON API (``pinbroker serve --http-port``).

- :mod:`pinbroker.web._state`: the ``/api/`` JSON, built from the server's pure objects;
- :mod:`pinbroker.web._page`: the server-rendered page at ``/``;
- :mod:`pinbroker.web._app`: the Starlette routes, access rule of force release, event stream;
- :mod:`pinbroker.web._http`: uvicorn on the server's asyncio loop.

See ``docs/web.md``.
"""

from __future__ import annotations

from pinbroker.web._app import KEEP_ALIVE_SECONDS, EventStreams, create_app, is_local_client
from pinbroker.web._http import HttpServer
from pinbroker.web._state import BrokerState, SessionState

__all__ = [
    "KEEP_ALIVE_SECONDS",
    "BrokerState",
    "EventStreams",
    "HttpServer",
    "SessionState",
    "create_app",
    "is_local_client",
]
