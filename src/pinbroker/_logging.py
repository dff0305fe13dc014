"""Log output for operators: the text and JSON line formats of ``pinbroker serve``.

Only the command line calls :func:`configure_logging`; library code just logs to its module's
logger and never configures handlers.

Text lines look like ``2026-12-01 23:13:15,123 INFO pinbroker.events: reserved ...``. JSON
lines are one object each, with ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``
and ``message``; a record logged with ``extra={FIELDS: {...}}`` adds those keys (the event
lines of :mod:`pinbroker._event_logging` do), and one logged with a traceback adds
``traceback``. Keys are only ever added.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Final, TextIO

__all__ = [
    "FIELDS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "LogFormat",
    "configure_logging",
]

FIELDS: Final = "pinbroker_fields"
"""Name of the ``extra`` entry whose dict is merged into a JSON line."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The ``--log-format text`` line."""

_RESERVED_KEYS: Final = frozenset({"time", "level", "logger", "message", "traceback"})


class LogFormat(enum.Enum):
    """``--log-format``: readable lines or one JSON object per line."""

    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line (newlines in values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line for ``record``."""
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if key not in _RESERVED_KEYS:
                    line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def configure_logging(
    level: str | int, log_format: LogFormat = LogFormat.TEXT, stream: TextIO | None = None
) -> logging.Handler:
    """Send log records at ``level`` and above to ``stream`` (stderr) in ``log_format``.

    Replaces the handlers of the root logger, so calling it again reconfigures rather than
    doubling lines.

    Args:
        level: A level name (``"INFO"``) or number.
        log_format: Text lines or JSON lines.
        stream: Where to write; ``sys.stderr`` when None.

    Returns:
        The installed handler.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
