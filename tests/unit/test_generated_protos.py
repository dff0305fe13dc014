"""The checked-in generated code for pinbroker's own APIs (proto/, scripts/gen_protos).

Guards the wire contract (service, method and field names and numbers) and that the generated
modules import and work inside ``pinbroker._proto`` with the installed protobuf and grpcio.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor
from google.protobuf.descriptor_pb2 import MethodDescriptorProto

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc

# (service full name, file) -> method -> (input, output, server streaming)
SERVICES: dict[tuple[str, FileDescriptor], dict[str, tuple[str, str, bool]]] = {
    ("pinbroker.lease.v1.LeaseService", lease_pb2.DESCRIPTOR): {
        "GrantLease": ("GrantLeaseRequest", "GrantLeaseResponse", False),
        "KeepAlive": ("KeepAliveRequest", "KeepAliveResponse", False),
        "RevokeLease": ("RevokeLeaseRequest", "RevokeLeaseResponse", False),
        "GetLease": ("GetLeaseRequest", "GetLeaseResponse", False),
    },
    ("pinbroker.admin.v1.AdminService", admin_pb2.DESCRIPTOR): {
        "GetStatus": ("GetStatusRequest", "GetStatusResponse", False),
        "WatchEvents": ("WatchEventsRequest", "WatchEventsResponse", True),
        "ForceRelease": ("ForceReleaseRequest", "ForceReleaseResponse", False),
    },
}

# message full name -> "field=number" in declaration order
FIELDS: dict[str, list[str]] = {
    "pinbroker.lease.v1.ClientIdentity": ["hostname=1", "username=2", "pid=3", "program=4"],
    "pinbroker.lease.v1.GrantLeaseRequest": ["identity=1"],
    "pinbroker.lease.v1.GrantLeaseResponse": ["lease_id=1", "ttl_seconds=2"],
    "pinbroker.lease.v1.KeepAliveRequest": ["lease_id=1"],
    "pinbroker.lease.v1.KeepAliveResponse": ["lease_id=1", "ttl_seconds=2"],
    "pinbroker.lease.v1.RevokeLeaseRequest": ["lease_id=1"],
    "pinbroker.lease.v1.RevokeLeaseResponse": ["revoked=1"],
    "pinbroker.lease.v1.GetLeaseRequest": ["lease_id=1"],
    "pinbroker.lease.v1.GetLeaseResponse": [
        "lease_id=1",
        "state=2",
        "remaining_seconds=3",
        "reason=4",
    ],
    "pinbroker.admin.v1.Owner": ["peer=1", "hostname=2", "username=3", "pid=4"],
    "pinbroker.admin.v1.Lease": ["kind=1", "lease_id=2", "state=3", "remaining_seconds=4"],
    "pinbroker.admin.v1.HeldSession": [
        "session_name=1",
        "reservation_id=2",
        "fence=3",
        "since=4",
        "owner=5",
        "lease=6",
        "annotations=7",
    ],
    "pinbroker.admin.v1.WaitingRequest": [
        "position=1",
        "session_names=2",
        "since=3",
        "deadline=4",
        "owner=5",
        "blocked_by=6",
        "request_id=7",
        "lease=8",
    ],
    "pinbroker.admin.v1.GetStatusRequest": [],
    "pinbroker.admin.v1.GetStatusResponse": ["held=1", "waiting=2", "revision=3"],
    "pinbroker.admin.v1.Event": [
        "revision=1",
        "time=2",
        "kind=3",
        "session_names=4",
        "reservation_id=5",
        "owner=6",
        "reason=7",
    ],
    "pinbroker.admin.v1.WatchEventsRequest": ["since_revision=1", "follow=2"],
    "pinbroker.admin.v1.WatchEventsResponse": ["events=1", "oldest_revision=2"],
    "pinbroker.admin.v1.ForceReleaseRequest": ["session_names=1", "reason=2"],
    "pinbroker.admin.v1.ForceReleaseResponse": ["released=1", "not_held=2"],
}


@pytest.mark.parametrize(
    ("service_name", "file", "methods"),
    [(name, file, methods) for (name, file), methods in SERVICES.items()],
)
def test_service_and_method_names(
    service_name: str, file: FileDescriptor, methods: dict[str, tuple[str, str, bool]]
) -> None:
    package, _, short_name = service_name.rpartition(".")
    assert file.package == package
    service = file.services_by_name[short_name]
    assert service.full_name == service_name
    actual = {
        method.name: (
            method.input_type.name,
            method.output_type.name,
            _proto(method).server_streaming,
        )
        for method in service.methods
    }
    assert actual == methods
    assert not any(_proto(method).client_streaming for method in service.methods)


def _proto(method: MethodDescriptor) -> MethodDescriptorProto:
    # protobuf < 5 has no MethodDescriptor.server_streaming; the descriptor proto has it always.
    proto = MethodDescriptorProto()
    method.CopyToProto(proto)
    return proto


def test_grpc_modules_expose_stubs_and_servicers_for_every_method() -> None:
    for module, service in ((lease_pb2_grpc, "LeaseService"), (admin_pb2_grpc, "AdminService")):
        servicer = getattr(module, f"{service}Servicer")
        assert callable(getattr(module, f"add_{service}Servicer_to_server"))
        assert callable(getattr(module, f"{service}Stub"))
        file = lease_pb2.DESCRIPTOR if module is lease_pb2_grpc else admin_pb2.DESCRIPTOR
        for method in file.services_by_name[service].methods:
            assert callable(getattr(servicer, method.name))
    # The _pb2_grpc modules use the _pb2 modules of this package (import paths fixed up).
    assert vars(lease_pb2_grpc)["pinbroker_dot_lease_dot_v1_dot_lease__pb2"] is lease_pb2
    assert vars(admin_pb2_grpc)["pinbroker_dot_admin_dot_v1_dot_admin__pb2"] is admin_pb2


@pytest.mark.parametrize("full_name", sorted(FIELDS))
def test_field_names_and_numbers(full_name: str) -> None:
    package, _, name = full_name.rpartition(".")
    file = lease_pb2.DESCRIPTOR if package == "pinbroker.lease.v1" else admin_pb2.DESCRIPTOR
    message = file.message_types_by_name[name]
    assert [f"{field.name}={field.number}" for field in message.fields] == FIELDS[full_name]


def test_enums() -> None:
    assert lease_pb2.LeaseState.items() == [
        ("LEASE_STATE_UNSPECIFIED", 0),
        ("LEASE_STATE_ACTIVE", 1),
        ("LEASE_STATE_EXPIRED", 2),
        ("LEASE_STATE_REVOKED", 3),
        ("LEASE_STATE_UNKNOWN", 4),
    ]
    assert admin_pb2.LeaseKind.items() == [
        ("LEASE_KIND_UNSPECIFIED", 0),
        ("LEASE_KIND_NONE", 1),
        ("LEASE_KIND_CLIENT", 2),
    ]


def test_lease_message_round_trip() -> None:
    request = lease_pb2.GrantLeaseRequest(
        identity=lease_pb2.ClientIdentity(
            hostname="tester-01", username="op", pid=4242, program="seq.py"
        )
    )
    decoded = lease_pb2.GrantLeaseRequest.FromString(request.SerializeToString())
    assert decoded == request
    assert decoded.identity.pid == 4242
    response = lease_pb2.GetLeaseResponse(
        lease_id=7,
        state=lease_pb2.LEASE_STATE_EXPIRED,
        reason="no keep-alive for 30.0 s",
    )
    assert lease_pb2.GetLeaseResponse.FromString(response.SerializeToString()) == response
    # Message classes name their real module, so they pickle.
    assert type(request).__module__ == lease_pb2.__name__
    assert pickle.loads(pickle.dumps(request)) == request


def test_admin_message_round_trip() -> None:
    owner = admin_pb2.Owner(peer="ipv4:127.0.0.1:50512", hostname="h", username="u", pid=12)
    lease = admin_pb2.Lease(
        kind=admin_pb2.LEASE_KIND_CLIENT, lease_id=3, state="active", remaining_seconds=9.5
    )
    status = admin_pb2.GetStatusResponse(
        held=[
            admin_pb2.HeldSession(
                session_name="DCPower1",
                reservation_id=5,
                fence=2,
                since=1.7e9,
                owner=owner,
                lease=lease,
                annotations={"purpose": "calibration"},
            )
        ],
        waiting=[
            admin_pb2.WaitingRequest(
                position=1,
                session_names=["DCPower1", "Scope1"],
                since=1.7e9 + 1,
                owner=owner,
                blocked_by=[5],
                request_id=6,
                lease=admin_pb2.Lease(kind=admin_pb2.LEASE_KIND_NONE, state="none"),
            )
        ],
        revision=41,
    )
    decoded = admin_pb2.GetStatusResponse.FromString(status.SerializeToString())
    assert decoded == status
    assert decoded.held[0].annotations["purpose"] == "calibration"
    assert list(decoded.waiting[0].blocked_by) == [5]


class _LeaseServicer(lease_pb2_grpc.LeaseServiceServicer):
    def GrantLease(
        self, request: lease_pb2.GrantLeaseRequest, context: grpc.ServicerContext
    ) -> lease_pb2.GrantLeaseResponse:
        return lease_pb2.GrantLeaseResponse(lease_id=request.identity.pid, ttl_seconds=30.0)


class _AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def WatchEvents(
        self, request: admin_pb2.WatchEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[admin_pb2.WatchEventsResponse]:
        for revision in range(request.since_revision + 1, request.since_revision + 3):
            event = admin_pb2.Event(revision=revision, kind="reserved")
            yield admin_pb2.WatchEventsResponse(events=[event], oldest_revision=1)


def test_stubs_and_servicers_talk_over_a_real_channel() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    # Partial servicers (the stubs call that abstract): the other methods answer UNIMPLEMENTED.
    lease_pb2_grpc.add_LeaseServiceServicer_to_server(_LeaseServicer(), server)  # type: ignore[abstract]
    admin_pb2_grpc.add_AdminServiceServicer_to_server(_AdminServicer(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            lease = lease_pb2_grpc.LeaseServiceStub(channel)
            granted = lease.GrantLease(
                lease_pb2.GrantLeaseRequest(identity=lease_pb2.ClientIdentity(pid=99)), timeout=10
            )
            assert granted == lease_pb2.GrantLeaseResponse(lease_id=99, ttl_seconds=30.0)

            admin = admin_pb2_grpc.AdminServiceStub(channel)
            stream = admin.WatchEvents(admin_pb2.WatchEventsRequest(since_revision=4), timeout=10)
            assert [event.revision for reply in stream for event in reply.events] == [5, 6]

            with pytest.raises(grpc.RpcError) as raised:
                admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=10)
            assert isinstance(raised.value, grpc.Call)
            assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(None)
