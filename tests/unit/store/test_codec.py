"""The JSON text of client identities, event owners and name lists."""

from __future__ import annotations

import pytest

from pinbroker.events import EventOwner
from pinbroker.reservation import ClientIdentity
from pinbroker.store._codec import (
    decode_client_identity,
    decode_event_owner,
    decode_names,
    encode_client_identity,
    encode_event_owner,
    encode_names,
)


@pytest.mark.parametrize(
    "identity",
    [ClientIdentity(), ClientIdentity("høst", "ü", 0, "python -m x", "unix:/tmp/s")],
)
def test_client_identity_round_trips(identity: ClientIdentity) -> None:
    assert decode_client_identity(encode_client_identity(identity)) == identity


def test_missing_fields_get_defaults_and_unknown_ones_are_ignored() -> None:
    assert decode_client_identity("{}") == ClientIdentity()
    assert decode_client_identity('{"pid": 5, "future": [1]}') == ClientIdentity(pid=5)
    assert decode_event_owner('{"peer": "p"}') == EventOwner(peer="p")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "not a JSON object"),
        ('{"pid": "5"}', "'pid' is not an integer"),
        ('{"pid": true}', "'pid' is not an integer"),
        ('{"hostname": 3}', "'hostname' is not a string"),
    ],
)
def test_malformed_identities_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_client_identity(text)


def test_event_owner_and_names_round_trip() -> None:
    owner = EventOwner("ipv4:1:2", "h", "u", None)
    assert decode_event_owner(encode_event_owner(owner)) == owner
    assert decode_names(encode_names(["B", "Ω"])) == ("B", "Ω")
    with pytest.raises(ValueError, match="not a JSON array of strings"):
        decode_names('["A", 1]')
