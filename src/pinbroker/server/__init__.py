"""gRPC edge of pinbroker: thin servicers, protobuf conversion, error mapping, app wiring."""

from __future__ import annotations

__all__: list[str] = []
