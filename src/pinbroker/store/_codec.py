"""JSON text for the nested fields the SQLite store keeps in one column each.

Decoders accept what older (and newer) pinbrokers wrote: a missing field gets its default and
an unknown field is ignored; anything else malformed raises ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pinbroker.events import EventOwner
from pinbroker.pinmap import ChannelMapping
from pinbroker.reservation import ClientIdentity

__all__ = [
    "decode_annotations",
    "decode_channel_mappings",
    "decode_client_identity",
    "decode_event_owner",
    "decode_names",
    "encode_annotations",
    "encode_channel_mappings",
    "encode_client_identity",
    "encode_event_owner",
    "encode_names",
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


def encode_client_identity(identity: ClientIdentity) -> str:
    """Return a JSON object of the identity's fields (``pid`` is null when unknown)."""
    return _dumps(
        {
            "hostname": identity.hostname,
            "username": identity.username,
            "pid": identity.pid,
            "program": identity.program,
            "peer": identity.peer,
        }
    )


def decode_client_identity(text: str) -> ClientIdentity:
    """Parse :func:`encode_client_identity` output; ``{}`` is the empty identity.

    Raises:
        ValueError: If the text is not a JSON object with fields of the right types.
    """
    fields = _object(text, "client identity")
    return ClientIdentity(
        hostname=_str(fields, "hostname", text),
        username=_str(fields, "username", text),
        pid=_optional_int(fields, "pid", text),
        program=_str(fields, "program", text),
        peer=_str(fields, "peer", text),
    )


def encode_event_owner(owner: EventOwner) -> str:
    """Return a JSON object of the owner's fields (``pid`` is null when unknown)."""
    return _dumps(
        {
            "peer": owner.peer,
            "hostname": owner.hostname,
            "username": owner.username,
            "pid": owner.pid,
        }
    )


def decode_event_owner(text: str) -> EventOwner:
    """Parse :func:`encode_event_owner` output.

    Raises:
        ValueError: If the text is not a JSON object with fields of the right types.
    """
    fields = _object(text, "event owner")
    return EventOwner(
        peer=_str(fields, "peer", text),
        hostname=_str(fields, "hostname", text),
        username=_str(fields, "username", text),
        pid=_optional_int(fields, "pid", text),
    )


def encode_names(names: Sequence[str]) -> str:
    """Return a JSON array of the names, in order."""
    return _dumps(list(names))


def decode_names(text: str) -> tuple[str, ...]:
    """Parse :func:`encode_names` output.

    Raises:
        ValueError: If the text is not a JSON array of strings.
    """
    value: Any = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"names are not a JSON array of strings: {text[:80]!r}")
    return tuple(value)


def _object(text: str, what: str) -> dict[str, Any]:
    value: Any = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object: {text[:80]!r}")
    return value


def _str(fields: Mapping[str, Any], key: str, text: str) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is not a string in {text[:80]!r}")
    return value


def _optional_int(fields: Mapping[str, Any], key: str, text: str) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field {key!r} is not an integer or null in {text[:80]!r}")
    return value


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
