from hypothesis import given
from hypothesis import strategies as st
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb

from pinbroker.discovery import (
    ActiveService,
    ComputeNode,
    RegistrationId,
    ServiceDescriptor,
    ServiceLocation,
)
from pinbroker.server._convert_discovery import (
    active_service_to_pb,
    compute_node_from_pb,
    compute_node_to_pb,
    descriptor_from_pb,
    descriptor_to_pb,
    location_from_pb,
    location_to_pb,
)

# protobuf strings must be valid UTF-8: no lone surrogates.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
texts = st.lists(text, max_size=4).map(tuple)

descriptors = st.builds(
    ServiceDescriptor,
    display_name=text,
    service_class=text,
    provided_interfaces=texts,
    description_url=text,
    annotations=st.dictionaries(text, text, max_size=4),
    versions=texts,
)
locations = st.builds(ServiceLocation, text, text, text)
nodes = st.builds(ComputeNode, text, st.booleans())


@given(descriptors)
def test_descriptor_round_trips(descriptor):
    message = descriptor_to_pb(descriptor)
    assert descriptor_from_pb(message) == descriptor
    assert descriptor_from_pb(pb.ServiceDescriptor.FromString(message.SerializeToString())) == (
        descriptor
    )


@given(locations)
def test_location_round_trips(location):
    message = location_to_pb(location)
    assert location_from_pb(pb.ServiceLocation.FromString(message.SerializeToString())) == location


@given(nodes)
def test_compute_node_round_trips(node):
    assert compute_node_from_pb(compute_node_to_pb(node)) == node


def test_descriptor_to_pb_fills_every_field():
    message = descriptor_to_pb(
        ServiceDescriptor(
            display_name="Demo",
            service_class="demo.Demo",
            provided_interfaces=("a.v1.A", "b.v1.B"),
            description_url="https://example.invalid/demo",
            annotations={"ni/service.description": "d"},
            versions=("1.2.3",),
        )
    )
    assert message == pb.ServiceDescriptor(
        display_name="Demo",
        service_class="demo.Demo",
        provided_interfaces=["a.v1.A", "b.v1.B"],
        description_url="https://example.invalid/demo",
        annotations={"ni/service.description": "d"},
        versions=["1.2.3"],
    )


def test_unset_messages_convert_to_empty_values():
    assert descriptor_from_pb(pb.ServiceDescriptor()) == ServiceDescriptor(
        display_name="", service_class="", provided_interfaces=()
    )
    assert location_from_pb(pb.ServiceLocation()) == ServiceLocation("")


def test_active_service_to_pb_carries_descriptor_and_location():
    descriptor = ServiceDescriptor(
        display_name="Demo", service_class="demo.Demo", provided_interfaces=("a.v1.A",)
    )
    location = ServiceLocation("localhost", "1234")
    message = active_service_to_pb(ActiveService(RegistrationId("r1"), descriptor, location))
    assert descriptor_from_pb(message.service_descriptor) == descriptor
    assert location_from_pb(message.service_location) == location
