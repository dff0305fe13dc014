"""The operator log: event messages and fields, the JSON formatter, one-line start-up failures."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pinbroker._event_logging import MAX_NAMES_IN_TEXT, EventLogger, event_fields, event_message
from pinbroker._logging import FIELDS, LogFormat, configure_logging
from pinbroker._serve_cli import CannotStartError, one_line
from pinbroker.errors import PinbrokerError
from pinbroker.events import Event, EventKind, EventLog, EventOwner

OWNER = EventOwner(peer="ipv4:10.0.0.7:51234", hostname="bench7", username="alice", pid=42)


def test_reserved_message_names_sessions_reservation_and_owner() -> None:
    event = Event(
        revision=12,
        time=0.0,
        kind=EventKind.RESERVED,
        session_names=("niDCPower-SMU1/0, SMU2/0", "niDMM-DMM1"),
        reservation_id=7,
        owner=OWNER,
    )
    assert event_message(event) == (
        "#12 reserved 'niDCPower-SMU1/0, SMU2/0', 'niDMM-DMM1'; reservation 7; "
        "by alice@bench7 (ipv4:10.0.0.7:51234, pid 42)"
    )


def test_request_kinds_say_request_and_reasons_are_kept() -> None:
    event = Event(
        revision=3,
        time=0.0,
        kind=EventKind.TIMED_OUT,
        session_names=("niDMM-DMM1",),
        reservation_id=9,
        owner=EventOwner(peer="ipv4:127.0.0.1:5000"),
        reason="waited 5 s",
    )
    assert event_message(event) == (
        "#3 timed_out 'niDMM-DMM1'; request 9; by ipv4:127.0.0.1:5000; reason: waited 5 s"
    )


def test_long_name_lists_are_counted_in_text_but_complete_in_fields() -> None:
    names = tuple(f"s{i}" for i in range(MAX_NAMES_IN_TEXT + 5))
    event = Event(revision=1, time=0.0, kind=EventKind.RELEASED, session_names=names)
    assert event_message(event).endswith("'s19' and 5 more")
    assert event_fields(event)["session_names"] == list(names)


def test_pin_map_loaded_names_the_pin_map() -> None:
    event = Event(revision=2, time=0.0, kind=EventKind.PIN_MAP_LOADED, reason="/maps/a.pinmap")
    assert event_message(event) == "#2 pin_map_loaded /maps/a.pinmap"


def test_fields_match_pinbroker_events_json() -> None:
    event = Event(
        revision=5,
        time=0.0,
        kind=EventKind.FORCE_RELEASED,
        session_names=("niDMM-DMM1",),
        reservation_id=1,
        owner=OWNER,
        reason="stuck",
    )
    assert event_fields(event) == {
        "revision": 5,
        "kind": "force_released",
        "session_names": ["niDMM-DMM1"],
        "reservation_id": 1,
        "owner": {"peer": OWNER.peer, "hostname": "bench7", "username": "alice", "pid": 42},
        "reason": "stuck",
    }


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_json_format_is_one_object_per_line_with_fields(log_stream: io.StringIO) -> None:
    configure_logging("INFO", LogFormat.JSON, log_stream)
    logger = logging.getLogger("pinbroker.test")
    logger.info("two\nlines", extra={FIELDS: {"kind": "reserved", "level": "ignored"}})
    logger.debug("not shown")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = log_stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "two\nlines"
    assert first["kind"] == "reserved"
    assert first["level"] == "INFO"  # a field cannot replace the record's own keys
    assert first["logger"] == "pinbroker.test"
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["traceback"]


def test_configuring_twice_does_not_double_lines(log_stream: io.StringIO) -> None:
    configure_logging("INFO", LogFormat.TEXT, io.StringIO())
    configure_logging("INFO", LogFormat.TEXT, log_stream)
    logging.getLogger("pinbroker.test").info("once")
    assert log_stream.getvalue().count("once") == 1
    assert " INFO pinbroker.test: once" in log_stream.getvalue()


def test_event_logger_logs_only_new_events_in_order(log_stream: io.StringIO) -> None:
    configure_logging("DEBUG", LogFormat.JSON, log_stream)
    events = EventLog()
    events.append(EventKind.REGISTERED, session_names=["before"])
    logger = EventLogger(events, after=events.latest_revision)
    events.append(EventKind.QUEUED, session_names=["a"], reservation_id=1)
    events.append(EventKind.RESERVED, session_names=["a"], reservation_id=2)
    logger.close()
    logger.close()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [(o["kind"], o["level"]) for o in lines] == [("queued", "DEBUG"), ("reserved", "INFO")]
    assert [o["revision"] for o in lines] == [2, 3]


def test_one_line_keeps_the_first_line_and_counts_the_rest() -> None:
    error = PinbrokerError("first problem\nsecond\nthird")
    assert one_line(error) == "first problem (and 2 more line(s); --debug shows all)"


def test_one_line_of_an_os_error_names_the_file() -> None:
    error = FileNotFoundError(2, "No such file or directory", "/x/y")
    assert one_line(error) == "/x/y: No such file or directory"
    assert one_line(CannotStartError("port taken")) == "port taken"


def test_one_line_names_an_unexpected_error_by_type() -> None:
    assert one_line(RuntimeError("odd")) == "RuntimeError: odd"
    assert len(one_line(PinbrokerError("x" * 5000))) == 1000
