"""The operator commands ``pinbroker status``, ``pinbroker release`` and ``pinbroker events``.

They talk to a running server's ``pinbroker.admin.v1.AdminService`` through
:class:`pinbroker.client.AdminClient`; ``_format`` holds the pure formatting (the ``--json``
shapes and the tables), ``_commands`` the connecting, error reporting and exit codes.
"""

from __future__ import annotations

from pinbroker.admin_cli._commands import ExitCode, TlsFlags, run_events, run_release, run_status

__all__ = ["ExitCode", "TlsFlags", "run_events", "run_release", "run_status"]
