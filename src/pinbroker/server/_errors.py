"""Exception → gRPC status, in one place.

A request whose bytes do not decode as the method's message is answered INVALID_ARGUMENT (grpc
itself would answer INTERNAL before any handler runs).

Every servicer method is wrapped by :class:`ErrorMappingInterceptor`: a
:class:`~pinbroker.errors.PinbrokerError` becomes the status its class names with its message;
anything else is a bug, logged with its traceback and answered with INTERNAL and a generic message
(never ``str(exc)`` of an internal error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from pinbroker.errors import PinbrokerError

__all__ = ["ErrorMappingInterceptor", "status_of"]

_logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error in pinbroker; the server log has the details"


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


def _wrap_unary(
    method: str, behavior: Callable[[Any, grpc.ServicerContext], Any]
) -> Callable[[Any, grpc.ServicerContext], Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request to {method} is not a valid protobuf message ({request.reason})",
            )
        try:
            return behavior(request, context)
        except PinbrokerError as exc:
            context.abort(status_of(exc), str(exc))
        except Exception as exc:
            # Servicers never call context.abort (they raise PinbrokerError); should one do so
            # anyway, grpc signals it with a bare Exception(): let that through untouched.
            if type(exc) is Exception and not exc.args:
                raise
            _logger.exception("unexpected error in %s", method)
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)

    return wrapped


class ErrorMappingInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Server interceptor that maps exceptions raised by unary-unary handlers to statuses."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wrap the unary-unary behaviour of the handler that serves this call."""
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(method, handler.unary_unary),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
