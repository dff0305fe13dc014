import dataclasses

import pytest

import pinbroker.discovery
from pinbroker.discovery import (
    INTERNAL_VERSION,
    ActiveService,
    ComputeNode,
    RegistrationId,
    ServiceDescriptor,
    ServiceLocation,
    Version,
    parse_version,
)


def test_public_api_is_guarded():
    assert set(pinbroker.discovery.__all__) == {
        "DEFAULT_LIVENESS",
        "INTERNAL_VERSION",
        "ActiveService",
        "ComputeNode",
        "LivenessPolicy",
        "RegistrationId",
        "ServiceDescriptor",
        "ServiceLocation",
        "ServiceRegistry",
        "Version",
        "parse_version",
        "probe_address",
        "probe_registrations",
        "run_liveness_probe",
        "tcp_probe",
    }
    assert len(pinbroker.discovery.__all__) == len(set(pinbroker.discovery.__all__))
    for name in pinbroker.discovery.__all__:
        assert getattr(pinbroker.discovery, name) is not None


def _descriptor(**overrides):
    fields = {
        "display_name": "Demo",
        "service_class": "demo.Demo",
        "provided_interfaces": ("demo.v1.Demo",),
    }
    fields.update(overrides)
    return ServiceDescriptor(**fields)


def test_descriptor_defaults():
    descriptor = _descriptor()
    assert descriptor.description_url == ""
    assert dict(descriptor.annotations) == {}
    assert descriptor.versions == ()


def test_descriptor_is_frozen():
    descriptor = _descriptor()
    with pytest.raises(dataclasses.FrozenInstanceError):
        descriptor.display_name = "Other"  # type: ignore[misc]


def test_descriptor_copies_and_freezes_its_collections():
    interfaces = ["a.v1.A", "b.v1.B"]
    annotations = {"k": "v"}
    versions = ["1.0.0"]
    descriptor = _descriptor(
        provided_interfaces=interfaces, annotations=annotations, versions=versions
    )
    interfaces.append("c.v1.C")
    annotations["k2"] = "v2"
    versions.append("2.0.0")
    assert descriptor.provided_interfaces == ("a.v1.A", "b.v1.B")
    assert dict(descriptor.annotations) == {"k": "v"}
    assert descriptor.versions == ("1.0.0",)
    with pytest.raises(TypeError):
        descriptor.annotations["k"] = "changed"  # type: ignore[index]


@pytest.mark.parametrize("field", ["provided_interfaces", "versions"])
def test_descriptor_rejects_a_bare_string_for_a_sequence(field):
    with pytest.raises(TypeError, match="sequence of strings"):
        _descriptor(**{field: "demo.v1.Demo"})


def test_descriptor_equality_and_hash_include_annotations():
    a = _descriptor(annotations={"k": "v"})
    b = _descriptor(annotations={"k": "v"})
    c = _descriptor(annotations={"k": "w"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2


def test_descriptor_provides():
    descriptor = _descriptor(provided_interfaces=("a.v1.A", "b.v1.B"))
    assert descriptor.provides("b.v1.B")
    assert not descriptor.provides("a.v1")


def test_location_addresses_match_ni_client_format():
    location = ServiceLocation("localhost", "1234", "5678")
    assert location.insecure_address == "localhost:1234"
    assert location.ssl_authenticated_address == "localhost:5678"
    assert ServiceLocation("h") == ServiceLocation("h", "", "")


def test_other_values_are_frozen():
    node = ComputeNode("host", is_local=True)
    active = ActiveService(RegistrationId("id"), _descriptor(), ServiceLocation("h", "1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.url = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        active.location = ServiceLocation("x", "2")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", Version(1, 2, 3)),
        ("0.0.0", Version(0, 0, 0)),
        ("10.20.300", Version(10, 20, 300)),
        ("01.2.3", Version(1, 2, 3)),
        ("0.1.0.0", Version(0, 1, 0, 0)),
        ("1.2.3.4", Version(1, 2, 3, 4)),
    ],
)
def test_parse_version_accepts_major_minor_patch_and_build(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1.2",
        "1.2.3.4.5",
        "1.2.3.",
        "1.2.x",
        "v1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "1..3",
        "-1.2.3",
        "\u0661.\u0662.\u0663",
    ],
)
def test_parse_version_rejects_anything_else(text):
    assert parse_version(text) is None


def test_versions_order_numerically():
    assert Version(1, 10, 0) > Version(1, 9, 0)
    assert str(Version(1, 10, 0)) == "1.10.0"
    assert str(INTERNAL_VERSION) == "0.0.1"


def test_a_missing_build_counts_as_zero_and_prints_only_when_set():
    assert parse_version("1.0.0") == parse_version("1.0.0.0")
    assert str(Version(1, 2, 3)) == "1.2.3"
    assert str(Version(1, 2, 3, 4)) == "1.2.3.4"
    assert Version(1, 2, 3) < Version(1, 2, 3, 1) < Version(1, 2, 4)
