"""Size limits applied while loading a pin map (pure: no grpc, no protobuf)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ParseLimits"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Limits that bound the memory and time spent on one pin map.

    Exceeding any of them raises :class:`~pinbroker.errors.PinMapTooLargeError` naming the limit.
    The defaults admit a pin map of 2,048 pins x 256 sites (about 40-55 MB, half a million
    connections) with room to spare.

    Attributes:
        max_bytes: Largest accepted document, in bytes of UTF-8.
        max_depth: Deepest accepted element nesting (the root ``PinMap`` is depth 1; NI pin maps
            need 5).
        max_elements: Most elements accepted in one document.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 4_000_000

    def __post_init__(self) -> None:
        for field in ("max_bytes", "max_depth", "max_elements"):
            if getattr(self, field) < 1:
                raise ValueError(f"ParseLimits.{field} must be at least 1")


DEFAULT_LIMITS = ParseLimits()
"""The limits used when none are given."""
