"""pinbroker's drop-in for the documented ``ni_measurementlink_service`` 1.2 session API.

This distribution provides only :mod:`ni_measurementlink_service.session_management`: the
documented 1.2 session management client, talking to any service that implements
``ni.measurementlink.sessionmanagement.v1.SessionManagementService`` (pinbroker or NI's own).
Nothing else of NI's ``ni_measurementlink_service`` package (measurement service hosting,
discovery, drivers) is provided here.
"""

from __future__ import annotations

__all__: list[str] = []
