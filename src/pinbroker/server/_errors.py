"""Exception → gRPC status, in one place.

A request whose bytes do not decode as the method's message is answered INVALID_ARGUMENT (grpc
itself would answer INTERNAL before any handler runs).

Every servicer method is wrapped by :class:`ErrorMappingInterceptor` (a ``grpc.aio`` server
interceptor; handlers may be ``async def``, run on the event loop, or plain functions, run on
the server's thread pool): a :class:`~pinbroker.errors.PinbrokerError` becomes the status its
class names with its message; anything else is a bug, logged with its traceback and answered
with INTERNAL and a generic message (never ``str(exc)`` of an internal error).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from pinbroker.errors import PinbrokerError

__all__ = ["ErrorMappingInterceptor", "status_of"]

_logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error in pinbroker; the server log has the details"

MAX_MESSAGE_BYTES = 4000
"""Longer error messages (in UTF-8) are cut: gRPC carries them in a header with a size limit
(8 KiB by default), and a caller sent an oversized one sees RESOURCE_EXHAUSTED instead of the
status. The messages that list items (timeout obstacles, pin map problems) bound themselves."""


def _bounded(message: str) -> str:
    encoded = message.encode("utf-8", errors="replace")
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    kept = encoded[: MAX_MESSAGE_BYTES - 48].decode("utf-8", errors="ignore")
    return f"{kept} ... (message of {len(encoded):,} bytes cut)"


def status_of(exc: PinbrokerError) -> grpc.StatusCode:
    """Return the gRPC status code that ``exc`` maps to."""
    return getattr(grpc.StatusCode, exc.status, grpc.StatusCode.INTERNAL)


@dataclass(frozen=True, slots=True)
class _Undecodable:
    """Stands in for a request whose bytes the message type could not decode."""

    reason: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Wrap a request deserializer so a bad request reaches the handler instead of grpc core.

    grpc answers INTERNAL when a deserializer raises, before any interceptor could map it; bytes
    that are not a valid message (e.g. a string field that is not UTF-8) are the caller's error.
    """
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Undecodable(f"{type(exc).__name__}: {exc}")

    return deserialize


def _bad_request(method: str, request: _Undecodable) -> str:
    return f"the request to {method} is not a valid protobuf message ({request.reason})"


def _is_abort(exc: BaseException) -> bool:
    """Whether ``exc`` is grpc's own signal that a handler called ``context.abort``.

    Servicers never call ``abort`` (they raise PinbrokerError); should one do so anyway, grpc
    signals it with a bare ``Exception()`` (sync) or ``grpc.aio.AbortError`` (asyncio): both
    pass through untouched.
    """
    return isinstance(exc, grpc.aio.AbortError) or (type(exc) is Exception and not exc.args)


def _failure(method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status and message a handler's exception is answered with.

    Raises:
        Exception: ``exc`` itself if it is grpc's signal of an abort (passes through).
    """
    if isinstance(exc, PinbrokerError):
        return status_of(exc), _bounded(str(exc))
    if _is_abort(exc):
        raise exc
    _logger.error("unexpected error in %s", method, exc_info=exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def _wrap_unary(
    method: str, behavior: Callable[[Any, grpc.ServicerContext], Any]
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, _bad_request(method, request))
        try:
            return behavior(request, context)
        except Exception as exc:  # asyncio.CancelledError and the like are BaseException
            context.abort(*_failure(method, exc))

    return wrapped


def _wrap_async_unary(
    method: str, behavior: Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _bad_request(method, request))
        try:
            return await behavior(request, context)
        except Exception as exc:
            await context.abort(*_failure(method, exc))

    return wrapped


def _wrap_stream(
    method: str, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if isinstance(request, _Undecodable):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, _bad_request(method, request))
        try:
            yield from behavior(request, context)
        except Exception as exc:
            context.abort(*_failure(method, exc))

    return wrapped


def _wrap_async_stream(
    method: str, behavior: Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _bad_request(method, request))
        try:
            async for response in behavior(request, context):
                yield response
        except Exception as exc:
            await context.abort(*_failure(method, exc))

    return wrapped


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Server interceptor that maps exceptions raised by handlers to statuses.

    Wraps unary-unary and unary-stream handlers, plain and ``async def`` alike (pinbroker has
    no client-streaming methods; others pass through unwrapped).
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:  # None (unknown method) passes through too
        """Wrap the behaviour of the handler that serves this call."""
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED
            return None  # type: ignore[return-value]
        method = handler_call_details.method
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            unary = handler.unary_unary
            return grpc.unary_unary_rpc_method_handler(
                _wrap_async_unary(method, unary)  # type: ignore[arg-type]
                if inspect.iscoroutinefunction(unary)
                else _wrap_unary(method, unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and not inspect.iscoroutinefunction(
            handler.unary_stream  # a coroutine that writes with context.write: left as it is
        ):
            stream = handler.unary_stream
            return grpc.unary_stream_rpc_method_handler(
                _wrap_async_stream(method, stream)  # type: ignore[arg-type]
                if inspect.isasyncgenfunction(stream)
                else _wrap_stream(method, stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
