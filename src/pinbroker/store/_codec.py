"""JSON text for the nested fields the SQLite store keeps in one column each."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pinbroker.pinmap._results import ChannelMapping

__all__ = [
    "decode_annotations",
    "decode_channel_mappings",
    "encode_annotations",
    "encode_channel_mappings",
]


def encode_channel_mappings(mappings: Sequence[ChannelMapping]) -> str:
    """Return a JSON array with one object per mapping, keyed by field name."""
    return _dumps(
        [
            {
                "pin_or_relay_name": m.pin_or_relay_name,
                "site": m.site,
                "channel": m.channel,
                "multiplexer_resource_name": m.multiplexer_resource_name,
                "multiplexer_route": m.multiplexer_route,
                "multiplexer_type_id": m.multiplexer_type_id,
            }
            for m in mappings
        ]
    )


def decode_channel_mappings(text: str) -> tuple[ChannelMapping, ...]:
    """Parse :func:`encode_channel_mappings` output; absent multiplexer fields become "".

    Raises:
        ValueError: If the text is not such a JSON array.
    """
    items: Any = json.loads(text)
    if not isinstance(items, list):
        raise ValueError(f"channel mappings are not a JSON array: {text[:80]!r}")
    try:
        return tuple(
            ChannelMapping(
                pin_or_relay_name=str(item["pin_or_relay_name"]),
                site=int(item["site"]),
                channel=str(item["channel"]),
                multiplexer_resource_name=str(item.get("multiplexer_resource_name", "")),
                multiplexer_route=str(item.get("multiplexer_route", "")),
                multiplexer_type_id=str(item.get("multiplexer_type_id", "")),
            )
            for item in items
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed channel mapping in {text[:80]!r}: {exc!r}") from exc


def encode_annotations(annotations: Mapping[str, str]) -> str:
    """Return a JSON object of the annotations."""
    return _dumps(dict(annotations))


def decode_annotations(text: str) -> dict[str, str]:
    """Parse :func:`encode_annotations` output.

    Raises:
        ValueError: If the text is not a JSON object of strings.
    """
    value: Any = json.loads(text)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"annotations are not a JSON object of strings: {text[:80]!r}")
    return value


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
