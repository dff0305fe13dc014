"""The Starlette application: ``/`` (the status page) and the JSON API under ``/api/``.

Reads go through :class:`~pinbroker.web._state.BrokerState` (the pure objects the servers
hold), never through a gRPC call to the server itself. Plain ``def`` endpoints run in Starlette's
thread pool, so a read that takes the table's lock never blocks the event loop that also serves
gRPC. Force release (``POST /api/release``) takes the admin service's audited path and is
allowed to loopback clients or with ``Authorization: Bearer <admin token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pinbroker._local_callers import is_loopback_host as is_local_client
from pinbroker.errors import InvalidArgumentError, PinMapNotFoundError
from pinbroker.server._admin_service import audited_force_release
from pinbroker.web._page import RECENT_EVENTS, render_page
from pinbroker.web._state import BrokerState

__all__ = ["KEEP_ALIVE_SECONDS", "EventStreams", "create_app", "is_local_client"]

KEEP_ALIVE_SECONDS = 15.0
"""Seconds between keep-alive comments on an idle ``/api/events/stream``."""


class EventStreams:
    """The open ``/api/events/stream`` responses, so that stopping the server ends them."""

    def __init__(self) -> None:
        self._wakes: set[asyncio.Event] = set()
        self.closed = False

    def open(self) -> asyncio.Event:
        """A wake-up event for one stream (set on each new event and on close)."""
        wake = asyncio.Event()
        if self.closed:
            wake.set()
        self._wakes.add(wake)
        return wake

    def release(self, wake: asyncio.Event) -> None:
        """Forget a stream that ended."""
        self._wakes.discard(wake)

    def close(self) -> None:
        """End every stream (call on the event loop)."""
        self.closed = True
        for wake in self._wakes:
            wake.set()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _nonnegative_int(text: str | None, what: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgumentError(f"{what} must be a whole number, not {text!r}") from None
    if value < 0:
        raise InvalidArgumentError(f"{what} must be 0 or more, not {value}")
    return value


def create_app(
    state: BrokerState, *, admin_token: str | None = None, streams: EventStreams | None = None
) -> Starlette:
    """Build the web application over ``state``.

    Args:
        state: What the pages and the API read.
        admin_token: The admin token (``--admin-token-file``) that authorises force release
            from other hosts; None = only local clients may.
        streams: Registry of open event streams (the server closes them when it stops).
    """
    streams = streams or EventStreams()

    def authorized(request: Request) -> bool:
        if is_local_client(request.client.host if request.client else None):
            return True
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return (
            admin_token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), admin_token.encode())
        )

    def page(request: Request) -> Response:
        summaries = state.pin_maps_summary()["pin_maps"]
        grids = []
        for summary in summaries:
            try:
                grids.append((summary, state.pin_map_grid(summary["id"])))
            except PinMapNotFoundError:  # removed meanwhile
                continue
        return HTMLResponse(
            render_page(
                status=state.status(),
                pin_maps=grids,
                sessions=state.registered_sessions(),
                events=state.events_since(max(0, state.events.latest_revision - RECENT_EVENTS))[
                    "events"
                ],
                can_release=authorized(request),
            )
        )

    def status(request: Request) -> Response:
        return JSONResponse(state.status())

    def pin_maps(request: Request) -> Response:
        return JSONResponse(state.pin_maps_summary())

    def pin_map(request: Request) -> Response:
        pin_map_id = request.path_params.get("pin_map_id") or request.query_params.get("id")
        if not pin_map_id:
            return _error(400, "name the pin map: /api/pin-maps/<id> or /api/pin-maps?id=<id>")
        try:
            return JSONResponse(state.pin_map_grid(pin_map_id))
        except PinMapNotFoundError as exc:
            return _error(404, str(exc))

    def pin_maps_or_one(request: Request) -> Response:
        return pin_map(request) if "id" in request.query_params else pin_maps(request)

    def sessions(request: Request) -> Response:
        return JSONResponse(state.registered_sessions())

    def events(request: Request) -> Response:
        try:
            since = _nonnegative_int(request.query_params.get("since"), "since") or 0
        except InvalidArgumentError as exc:
            return _error(400, str(exc))
        return JSONResponse(state.events_since(since))

    async def event_stream(request: Request) -> Response:
        try:
            since = _nonnegative_int(request.headers.get("last-event-id"), "Last-Event-ID")
            if since is None:
                since = _nonnegative_int(request.query_params.get("since"), "since")
        except InvalidArgumentError as exc:
            return _error(400, str(exc))
        start = state.events.latest_revision if since is None else since
        return StreamingResponse(
            _stream(state, streams, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def release(request: Request) -> Response:
        client = request.client
        if not authorized(request):
            return _error(
                403,
                "force release is refused: call from this host, or send the admin token "
                "(--admin-token-file) as 'Authorization: Bearer <token>'",
            )
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            return _error(400, 'the body must be JSON: {"session_names": [...], "reason": ...}')
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        names = body.get("session_names")
        reason = body.get("reason")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return _error(400, "session_names must be a list of session names")
        if not isinstance(reason, str):
            return _error(400, "a force release needs a reason")
        peer = f"http:{client.host}:{client.port}" if client else "http:unknown"
        try:
            released, not_held = await asyncio.to_thread(
                audited_force_release, state.sessions.table, names, reason, peer
            )
        except InvalidArgumentError as exc:
            return _error(400, str(exc))
        return JSONResponse({"released": released, "not_held": not_held})

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/status", status, methods=["GET"]),
        Route("/api/pin-maps", pin_maps_or_one, methods=["GET"]),
        Route("/api/pin-maps/{pin_map_id:path}", pin_map, methods=["GET"]),
        Route("/api/sessions", sessions, methods=["GET"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/events/stream", event_stream, methods=["GET"]),
        Route("/api/release", release, methods=["POST"]),
    ]
    return Starlette(routes=routes)


async def _stream(state: BrokerState, streams: EventStreams, last: int) -> AsyncIterator[str]:
    """Server-sent events: one ``data:`` line per event, ``id:`` its revision."""
    loop = asyncio.get_running_loop()
    wake = streams.open()

    def on_event() -> None:
        loop.call_soon_threadsafe(wake.set)

    remove: Callable[[], None] = state.events.add_listener(on_event)
    try:
        yield ": connected\n\n"
        while not streams.closed:
            wake.clear()
            for event in state.events.since(last):
                yield f"id: {event.revision}\ndata: {json.dumps(state.event(event))}\n\n"
                last = event.revision
            if streams.closed or state.events.latest_revision > last:
                continue
            try:
                await asyncio.wait_for(wake.wait(), KEEP_ALIVE_SECONDS)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        remove()
        streams.release(wake)
