"""Client for the Pin Map Service (``ni.measurementlink.pinmap.v1.PinMapService``)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable

import grpc
import ni.measurementlink.pinmap.v1.pin_map_service_pb2 as pm_pb2
import ni.measurementlink.pinmap.v1.pin_map_service_pb2_grpc as pm_grpc

from pinbroker.client._convert import pins_from_grpc, relays_from_grpc, resource_access_from_grpc
from pinbroker.client._pin_map_values import PinsAndGroups, RelaysAndGroups, ResourceAccess

__all__ = ["PinMapClient"]


class PinMapClient:
    """Loads pin maps into the Pin Map Service and queries them.

    Every method raises :class:`grpc.RpcError` with the service's status code and message when
    the service reports an error (NOT_FOUND for an unknown pin map id, INVALID_ARGUMENT for bad
    XML or an unknown pin, ...).

    Args:
        grpc_channel: Channel to the Pin Map Service (pinbroker or NI's).
    """

    def __init__(self, *, grpc_channel: grpc.Channel) -> None:
        self._stub = pm_grpc.PinMapServiceStub(grpc_channel)

    def update_pin_map(self, pin_map_path: str | os.PathLike[str]) -> str:
        """Load a ``.pinmap`` file, creating or replacing the pin map whose id is its path.

        As NI's pin map client does, the pin map id is the path exactly as given (not resolved),
        and the file is read as UTF-8 with an optional byte order mark.

        Args:
            pin_map_path: The ``.pinmap`` file.

        Returns:
            The pin map id the service registered (the path as given).

        Raises:
            OSError: If the file cannot be read.
            grpc.RpcError: If the service rejects the XML (INVALID_ARGUMENT).
        """
        xml = pathlib.Path(pin_map_path).read_text(encoding="utf-8-sig")
        return self.update_pin_map_from_xml(os.fspath(pin_map_path), xml)

    def update_pin_map_from_xml(self, pin_map_id: str, pin_map_xml: str) -> str:
        """Create or replace the pin map ``pin_map_id`` with the given XML.

        Returns:
            The pin map id the service registered.

        Raises:
            grpc.RpcError: If the service rejects the XML (INVALID_ARGUMENT).
        """
        request = pm_pb2.UpdatePinMapFromXmlRequest(pin_map_id=pin_map_id, pin_map_xml=pin_map_xml)
        response: pm_pb2.PinMap = self._stub.UpdatePinMapFromXml(request)
        return response.pin_map_id

    def create_pin_map_from_xml(self, pin_map_id: str, pin_map_xml: str) -> str:
        """Create the pin map ``pin_map_id`` from XML; it must not exist yet.

        Returns:
            The pin map id the service registered.

        Raises:
            grpc.RpcError: ALREADY_EXISTS if the id is taken; INVALID_ARGUMENT if the id is empty
                or contains whitespace, or the XML is invalid.
        """
        request = pm_pb2.CreatePinMapFromXmlRequest(pin_map_id=pin_map_id, pin_map_xml=pin_map_xml)
        response: pm_pb2.PinMap = self._stub.CreatePinMapFromXml(request)
        return response.pin_map_id

    def get_pin_map(self, pin_map_id: str) -> str:
        """Check that the pin map exists and return its id.

        Raises:
            grpc.RpcError: NOT_FOUND if no pin map has that id.
        """
        response: pm_pb2.PinMap = self._stub.GetPinMap(
            pm_pb2.GetPinMapRequest(pin_map_id=pin_map_id)
        )
        return response.pin_map_id

    def query_pins(self, pin_map_id: str, instrument_type_id: str = "") -> PinsAndGroups:
        """Return the pins and pin groups of a pin map.

        Args:
            pin_map_id: The pin map.
            instrument_type_id: Only pins connected to instruments of this type (and groups all
                of whose pins are); "" for all pins.

        Raises:
            grpc.RpcError: NOT_FOUND if no pin map has that id.
        """
        request = pm_pb2.QueryPinsRequest(
            pin_map_id=pin_map_id, instrument_type_id=instrument_type_id
        )
        return pins_from_grpc(self._stub.QueryPins(request))

    def query_relays(self, pin_map_id: str) -> RelaysAndGroups:
        """Return the relays and relay groups of a pin map.

        Raises:
            grpc.RpcError: NOT_FOUND if no pin map has that id.
        """
        request = pm_pb2.QueryRelaysRequest(pin_map_id=pin_map_id)
        return relays_from_grpc(self._stub.QueryRelays(request))

    def query_resource_access_information(
        self,
        pin_map_id: str,
        sites: Iterable[int] = (),
        pin_or_relay_names: Iterable[str] = (),
        instrument_type_id: str = "",
    ) -> ResourceAccess:
        """Return the instrument resources serving the given pins/relays on the given sites.

        Nothing is reserved; this is the pin map's view that the session manager builds
        sessions from.

        Args:
            pin_map_id: The pin map.
            sites: Sites to include; empty for all sites of the pin map.
            pin_or_relay_names: Pins, pin groups, relays or relay groups; empty for all. A
                single ``str`` is one name.
            instrument_type_id: Only resources of this instrument type; "" for all.

        Raises:
            grpc.RpcError: NOT_FOUND for an unknown pin map id or a site out of range;
                INVALID_ARGUMENT for an unknown name.
        """
        names = [pin_or_relay_names] if isinstance(pin_or_relay_names, str) else pin_or_relay_names
        request = pm_pb2.QueryResourceAccessInformationRequest(
            pin_map_id=pin_map_id,
            sites=list(sites),
            pin_or_relay_names=list(names),
            instrument_type_id=instrument_type_id,
        )
        return resource_access_from_grpc(self._stub.QueryResourceAccessInformation(request))
