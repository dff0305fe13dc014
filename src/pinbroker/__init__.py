"""pinbroker: an open, Linux-first instrument-session manager.

It serves NI MeasurementLink's Pin Map, Session Management and Discovery gRPC services, so that
NI's published clients and the documented ``ni_measurementlink_service.session_management`` API
work unchanged against it.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
