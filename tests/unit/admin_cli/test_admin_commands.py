"""Exit codes and one-line messages of the admin commands (no server needed)."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import pytest

from pinbroker.admin_cli import ExitCode, run_events
from pinbroker.admin_cli._commands import rpc_error_message
from pinbroker.cli import build_parser
from pinbroker.client import ServerLocation

LOCATION = ServerLocation(address="10.0.0.1:5000", source="$PINBROKER_ADDRESS")


@pytest.mark.parametrize(
    ("code", "exit_code", "start"),
    [
        (grpc.StatusCode.UNAVAILABLE, ExitCode.NO_SERVER, "cannot reach the pinbroker at 10.0.0.1"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, ExitCode.NO_SERVER, "the pinbroker at 10.0.0.1"),
        (grpc.StatusCode.PERMISSION_DENIED, ExitCode.PERMISSION_DENIED, "permission denied: "),
        (grpc.StatusCode.INVALID_ARGUMENT, ExitCode.USAGE, "the server\nsaid"),
        (grpc.StatusCode.UNIMPLEMENTED, ExitCode.SERVER_ERROR, "the pinbroker at 10.0.0.1"),
        (grpc.StatusCode.INTERNAL, ExitCode.SERVER_ERROR, "the pinbroker at 10.0.0.1"),
    ],
)
def test_rpc_errors_are_one_line_with_the_servers_message(
    code: grpc.StatusCode, exit_code: ExitCode, start: str
) -> None:
    message, got = rpc_error_message(code, "the server\nsaid  no", LOCATION)
    assert got == exit_code
    assert "\n" not in message
    assert message.startswith(start.replace("\n", " "))
    assert message.endswith("the server said no")


def test_exit_codes_are_stable() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 5, 130]


def test_negative_since_is_a_usage_error() -> None:
    err = io.StringIO()
    code = run_events(-1, follow=False, as_json=False, address="x:1", out=io.StringIO(), err=err)
    assert code == ExitCode.USAGE
    assert err.getvalue() == "pinbroker: --since must be 0 or more, not -1\n"


def test_parser_knows_the_contract_flags(tmp_path: Path) -> None:
    parser = build_parser()
    status = parser.parse_args(["status", "--address", "h:1", "--json"])
    assert (status.address, status.json) == ("h:1", True)
    release = parser.parse_args(
        ["release", "a", "b", "--reason", "r", "--admin-token-file", str(tmp_path)]
    )
    assert (release.sessions, release.reason, release.admin_token_file) == (
        ["a", "b"],
        "r",
        str(tmp_path),
    )
    events = parser.parse_args(["events", "--since", "5", "--follow", "--json"])
    assert (events.since, events.follow, events.json, events.address) == (5, True, True, None)
