"""Read-only annotation mappings shared by reservations and registered sessions (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["EMPTY_ANNOTATIONS", "freeze_annotations"]

EMPTY_ANNOTATIONS: Final[Mapping[str, str]] = MappingProxyType({})


def freeze_annotations(annotations: Mapping[str, str] | None) -> Mapping[str, str]:
    """Return a read-only copy of ``annotations`` (``str`` keys and values only).

    Raises:
        TypeError: If a key or value is not a ``str``.
    """
    if not annotations:
        return EMPTY_ANNOTATIONS
    copy = dict(annotations)
    for key, value in copy.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"annotation {key!r}: {value!r} is not a str -> str pair")
    return MappingProxyType(copy)
