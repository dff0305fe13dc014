"""Pin Map Service servicer: thin, over the pin map repository."""

from __future__ import annotations

import grpc
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pb
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pb_grpc

from pinbroker.broker import PinMapRepository
from pinbroker.errors import InvalidArgumentError, SiteNotFoundError, UnknownSiteError
from pinbroker.server._convert_pinmap import pins_to_pb, relays_to_pb, resource_access_to_pb

__all__ = ["PinMapServicer"]


class PinMapServicer(pb_grpc.PinMapServiceServicer):
    """Implements ``ni.measurementlink.pinmap.v1.PinMapService``."""

    def __init__(self, pin_maps: PinMapRepository) -> None:
        self._pin_maps = pin_maps

    def CreatePinMapFromXml(
        self, request: pb.CreatePinMapFromXmlRequest, context: grpc.ServicerContext
    ) -> pb.PinMap:
        """Register a new pin map from XML."""
        stored = self._pin_maps.create(request.pin_map_id, request.pin_map_xml)
        return pb.PinMap(pin_map_id=stored.pin_map_id)

    def UpdatePinMapFromXml(
        self, request: pb.UpdatePinMapFromXmlRequest, context: grpc.ServicerContext
    ) -> pb.PinMap:
        """Replace (or create) a pin map from XML."""
        stored = self._pin_maps.update(request.pin_map_id, request.pin_map_xml)
        return pb.PinMap(pin_map_id=stored.pin_map_id)

    def GetPinMap(self, request: pb.GetPinMapRequest, context: grpc.ServicerContext) -> pb.PinMap:
        """Return the pin map resource."""
        return pb.PinMap(pin_map_id=self._pin_maps.get(request.pin_map_id).pin_map_id)

    def QueryPins(
        self, request: pb.QueryPinsRequest, context: grpc.ServicerContext
    ) -> pb.QueryPinsResponse:
        """List pins and pin groups, optionally of one instrument type."""
        pin_map = self._pin_maps.get(request.pin_map_id).pin_map
        return pins_to_pb(*pin_map.query_pins(request.instrument_type_id))

    def QueryRelays(
        self, request: pb.QueryRelaysRequest, context: grpc.ServicerContext
    ) -> pb.QueryRelaysResponse:
        """List relays and relay groups (the published proto has no type filter here)."""
        pin_map = self._pin_maps.get(request.pin_map_id).pin_map
        return relays_to_pb(*pin_map.query_relays())

    def QueryResourceAccessInformation(
        self, request: pb.QueryResourceAccessInformationRequest, context: grpc.ServicerContext
    ) -> pb.QueryResourceAccessInformationResponse:
        """Resolve pins/relays x sites x instrument type into instrument resources."""
        pin_map = self._pin_maps.get(request.pin_map_id).pin_map
        names = list(request.pin_or_relay_names)
        if "" in names:
            raise InvalidArgumentError("an empty string is not a pin or relay name")
        try:
            resolution = pin_map.resolve(
                sites=list(request.sites),
                names=names,
                instrument_type_id=request.instrument_type_id,
            )
        except UnknownSiteError as exc:
            # NI documents NOT_FOUND for an out-of-range site in this RPC only.
            raise SiteNotFoundError(exc.site, request.pin_map_id) from exc
        return resource_access_to_pb(resolution)
