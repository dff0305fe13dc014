"""The seed module's public surface is exactly the documented 1.2 surface.

Two sources of truth, checked independently:

* ``DOCUMENTED`` below, a hard-coded copy of the documented names, signatures, NamedTuple fields
  and constant values, so the check runs anywhere;
* the seed document itself (``../shared/spec/seed-session_management.rst``), parsed when it is
  present; those tests skip when ``../shared`` is absent.
"""

from __future__ import annotations

import abc
import ast
import collections.abc
import inspect
import re
import types
import typing
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

import ni_measurementlink_service.session_management as sm

SEED_RST = Path(__file__).resolve().parents[4] / "shared" / "spec" / "seed-session_management.rst"

SERVICE = "ni.measurementlink.sessionmanagement.v1.SessionManagementService"

CONSTANTS: dict[str, str] = {
    "GRPC_SERVICE_INTERFACE_NAME": SERVICE,
    "GRPC_SERVICE_CLASS": SERVICE,
    "INSTRUMENT_TYPE_NONE": "",
    "INSTRUMENT_TYPE_NI_DCPOWER": "niDCPower",
    "INSTRUMENT_TYPE_NI_HSDIO": "niHSDIO",
    "INSTRUMENT_TYPE_NI_RFSA": "niRFSA",
    "INSTRUMENT_TYPE_NI_RFMX": "niRFmx",
    "INSTRUMENT_TYPE_NI_RFSG": "niRFSG",
    "INSTRUMENT_TYPE_NI_RFPM": "niRFPM",
    "INSTRUMENT_TYPE_NI_DMM": "niDMM",
    "INSTRUMENT_TYPE_NI_DIGITAL_PATTERN": "niDigitalPattern",
    "INSTRUMENT_TYPE_NI_SCOPE": "niScope",
    "INSTRUMENT_TYPE_NI_FGEN": "niFGen",
    "INSTRUMENT_TYPE_NI_DAQMX": "niDAQmx",
    "INSTRUMENT_TYPE_NI_RELAY_DRIVER": "niRelayDriver",
    "INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT": "niModelBasedInstrument",
    "INSTRUMENT_TYPE_NI_SWITCH_EXECUTIVE_VIRTUAL_DEVICE": "niSwitchExecutiveVirtualDevice",
}

NAMEDTUPLE_FIELDS: dict[str, list[tuple[str, str]]] = {
    "PinMapContext": [("pin_map_id", "str"), ("sites", "Optional[List[int]]")],
    "ChannelMapping": [("pin_or_relay_name", "str"), ("site", "int"), ("channel", "str")],
    "SessionInformation": [
        ("session_name", "str"),
        ("resource_name", "str"),
        ("channel_list", "str"),
        ("instrument_type_id", "str"),
        ("session_exists", "bool"),
        ("channel_mappings", "Iterable[ChannelMapping]"),
    ],
}

RESERVE_ARGS = "context, pin_or_relay_names = None, instrument_type_id = None, timeout = None"

# class -> (constructor args or None for NamedTuples, {method: args})
CLASSES: dict[str, tuple[str | None, dict[str, str]]] = {
    "PinMapContext": (None, {}),
    "ChannelMapping": (None, {}),
    "SessionInformation": (None, {}),
    "BaseReservation": (
        "session_manager, session_info",
        {"__enter__": "", "__exit__": "exc_type, exc_val, traceback", "unreserve": ""},
    ),
    "SingleSessionReservation": ("session_manager, session_info", {"session_info": ""}),
    "MultiSessionReservation": ("session_manager, session_info", {"session_info": ""}),
    "SessionManagementClient": (
        "*, grpc_channel",
        {
            "reserve_session": RESERVE_ARGS,
            "reserve_sessions": RESERVE_ARGS,
            "register_sessions": "session_info",
            "unregister_sessions": "session_info",
            "reserve_all_registered_sessions": "instrument_type_id = None, timeout = None",
        },
    ),
}

BASES: dict[str, str] = {
    "PinMapContext": "NamedTuple",
    "ChannelMapping": "NamedTuple",
    "SessionInformation": "NamedTuple",
    "BaseReservation": "abc.ABC",
    "SingleSessionReservation": "BaseReservation",
    "MultiSessionReservation": "BaseReservation",
    "SessionManagementClient": "object",
}

RETURNS: dict[tuple[str, str], object] = {
    ("SessionManagementClient", "reserve_session"): sm.SingleSessionReservation,
    ("SessionManagementClient", "reserve_sessions"): sm.MultiSessionReservation,
    ("SessionManagementClient", "reserve_all_registered_sessions"): sm.MultiSessionReservation,
    ("SessionManagementClient", "register_sessions"): type(None),
    ("SessionManagementClient", "unregister_sessions"): type(None),
    ("BaseReservation", "unreserve"): type(None),
}

# The document lists ``session_info()`` as a method because its doc tool renders 1.2's
# ``functools.cached_property`` that way; 1.2 code reads it as an attribute.
PROPERTIES_DOCUMENTED_AS_METHODS = {
    ("SingleSessionReservation", "session_info"),
    ("MultiSessionReservation", "session_info"),
}


@dataclass
class Surface:
    constants: dict[str, str | None] = field(default_factory=dict)
    classes: dict[str, tuple[str | None, dict[str, str]]] = field(default_factory=dict)
    fields: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)


DOCUMENTED = Surface(
    constants={**CONSTANTS, "Client": None},
    classes=CLASSES,
    fields=NAMEDTUPLE_FIELDS,
    bases=BASES,
    functions={"__getattr__": "name"},
)


# -- parsing the seed document ------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. py:(?P<kind>\w+):: (?P<rest>.*)$")
_ANNOTATION = re.compile(r"^ *:annotation: ?(?P<value>.*)$")
_BASES = re.compile(r"^ *Bases: :py:obj:`(?P<base>[^`]+)`")


def _split_call(rest: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"(?P<name>[\w.]+)(?:\((?P<args>.*)\))?", rest.strip())
    assert match, rest
    return match["name"], match["args"]


def parse_seed_document(text: str) -> Surface:
    surface = Surface()
    current_class: str | None = None
    last: tuple[str, str] | None = None  # (kind, name) awaiting an annotation
    for line in text.splitlines():
        directive = _DIRECTIVE.match(line)
        if directive:
            kind, indent = directive["kind"], len(directive["indent"])
            name, args = _split_call(directive["rest"])
            if indent == 0:
                current_class = None
            if kind == "data":
                surface.constants[name] = None
                last = ("data", name)
            elif kind == "class":
                current_class = name
                surface.classes[name] = (args, {})
                last = None
            elif kind == "method" and current_class is not None:
                surface.classes[current_class][1][name] = args or ""
                last = None
            elif kind == "attribute" and current_class is not None:
                surface.fields.setdefault(current_class, []).append((name, ""))
                last = ("attribute", name)
            elif kind == "function":
                surface.functions[name] = args or ""
                last = None
            continue
        annotation = _ANNOTATION.match(line)
        if annotation and last is not None:
            value = annotation["value"]
            if last[0] == "data":
                surface.constants[last[1]] = value.removeprefix("= ").removeprefix("=")
            else:
                assert current_class is not None
                field_name, _ = surface.fields[current_class][-1]
                surface.fields[current_class][-1] = (field_name, value.removeprefix(":"))
            last = None
            continue
        bases = _BASES.match(line)
        if bases and current_class is not None:
            surface.bases[current_class] = bases["base"]
    return surface


@pytest.fixture(scope="module")
def seed_document() -> Surface:
    if not SEED_RST.is_file():
        pytest.skip(f"seed document not present at {SEED_RST} (../shared absent)")
    return parse_seed_document(SEED_RST.read_text(encoding="utf-8"))


# -- checks shared by both sources --------------------------------------------------------------


def _parse_args(args: str) -> list[tuple[str, str, object]]:
    """'a, b = None, *, c' -> [(name, kind, default)]; default inspect.Parameter.empty if none."""
    result: list[tuple[str, str, object]] = []
    keyword_only = False
    for part in filter(None, (p.strip() for p in args.split(","))):
        if part == "*":
            keyword_only = True
            continue
        name, _, default = (s.strip() for s in part.partition("="))
        value = ast.literal_eval(default) if default else inspect.Parameter.empty
        result.append((name, "KEYWORD_ONLY" if keyword_only else "POSITIONAL_OR_KEYWORD", value))
    return result


def _actual_args(function: Any) -> list[tuple[str, str, object]]:
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind.name, p.default) for p in params]


_TYPE_NAMESPACE: dict[str, object] = {
    "str": str,
    "int": int,
    "bool": bool,
    "Optional": typing.Optional,
    "List": typing.List,  # noqa: UP006 - the document's spelling
    "Iterable": typing.Iterable,
    "ChannelMapping": sm.ChannelMapping,
}


def _normalize(annotation: object) -> object:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return ("union", frozenset(_normalize(a) for a in typing.get_args(annotation)))
    if origin is not None:
        return (origin, tuple(_normalize(a) for a in typing.get_args(annotation)))
    return annotation


def _documented_type(spelling: str) -> object:
    return _normalize(eval(spelling, dict(_TYPE_NAMESPACE)))


def check_surface(surface: Surface) -> None:
    for name, value in surface.constants.items():
        assert hasattr(sm, name), f"documented attribute {name} missing"
        if value is not None:
            actual = getattr(sm, name)
            assert type(actual) is str, f"{name} must be a plain str"
            assert actual == value, name
    for name, (ctor_args, methods) in surface.classes.items():
        cls = getattr(sm, name)
        assert inspect.isclass(cls), name
        if ctor_args is not None:
            assert _actual_args(cls) == _parse_args(ctor_args), f"{name}{inspect.signature(cls)}"
        for method, args in methods.items():
            if (name, method) in PROPERTIES_DOCUMENTED_AS_METHODS:
                assert isinstance(inspect.getattr_static(cls, method), cached_property)
                continue
            function = getattr(cls, method)
            assert callable(function), f"{name}.{method}"
            assert _actual_args(function) == _parse_args(args), f"{name}.{method}"
    for name, expected in surface.fields.items():
        cls = getattr(sm, name)
        assert cls._fields == tuple(f for f, _ in expected), name
        hints = typing.get_type_hints(cls)
        for field_name, spelling in expected:
            assert _normalize(hints[field_name]) == _documented_type(spelling), (
                f"{name}.{field_name}: {hints[field_name]} != {spelling}"
            )
    for name, base in surface.bases.items():
        cls = getattr(sm, name)
        if base == "NamedTuple":
            assert issubclass(cls, tuple), name
            assert hasattr(cls, "_fields"), name
        elif base == "abc.ABC":
            assert abc.ABC in cls.__bases__, name
        else:
            assert getattr(sm, base, object) in cls.__bases__, (name, base)
    for name, args in surface.functions.items():
        assert _actual_args(getattr(sm, name)) == _parse_args(args), name


def check_nothing_undocumented(surface: Surface) -> None:
    documented = set(surface.constants) | set(surface.classes)
    assert set(sm.__all__) == documented
    for name in dir(sm):
        if name.startswith("_"):
            continue
        value = getattr(sm, name)
        defined_here = getattr(value, "__module__", None) == sm.__name__
        if defined_here or isinstance(value, str):
            assert name in documented, f"undocumented public name {name}"


# -- the tests ----------------------------------------------------------------------------------


def test_hard_coded_table_matches_module() -> None:
    check_surface(DOCUMENTED)


def test_module_defines_nothing_undocumented() -> None:
    check_nothing_undocumented(DOCUMENTED)


def test_seed_document_matches_module(seed_document: Surface) -> None:
    check_surface(seed_document)
    check_nothing_undocumented(seed_document)


def test_seed_document_agrees_with_hard_coded_table(seed_document: Surface) -> None:
    assert seed_document.constants == DOCUMENTED.constants
    assert seed_document.classes == DOCUMENTED.classes
    assert seed_document.fields == DOCUMENTED.fields
    assert seed_document.bases == DOCUMENTED.bases
    assert seed_document.functions == DOCUMENTED.functions


def test_parser_reads_a_constant_with_empty_value() -> None:
    surface = parse_seed_document(
        ".. py:data:: INSTRUMENT_TYPE_NONE\n   :annotation: = \n\n"
        ".. py:data:: X\n   :annotation: = abc\n"
    )
    assert surface.constants == {"INSTRUMENT_TYPE_NONE": "", "X": "abc"}


def test_client_is_an_alias() -> None:
    assert sm.Client is sm.SessionManagementClient


def test_grpc_channel_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        sm.SessionManagementClient(object())  # type: ignore[misc]


def test_return_types() -> None:
    for (class_name, method), expected in RETURNS.items():
        hints = typing.get_type_hints(getattr(getattr(sm, class_name), method))
        assert hints["return"] is expected, (class_name, method)
    single = typing.get_type_hints(sm.SingleSessionReservation.session_info.func)
    multi = typing.get_type_hints(sm.MultiSessionReservation.session_info.func)
    assert single["return"] is sm.SessionInformation
    assert _normalize(multi["return"]) == (list, (sm.SessionInformation,))


def test_reservation_name_is_deprecated_alias_of_multi_session_reservation() -> None:
    with pytest.warns(DeprecationWarning, match="MultiSessionReservation"):
        reservation = sm.Reservation  # type: ignore[attr-defined]
    assert reservation is sm.MultiSessionReservation


def test_from_import_of_reservation_warns() -> None:
    with pytest.warns(DeprecationWarning, match="Reservation is deprecated"):
        from ni_measurementlink_service.session_management import (  # noqa: F401
            Reservation,  # type: ignore[attr-defined]
        )


def test_unknown_attribute_raises_attribute_error_like_python() -> None:
    with pytest.raises(
        AttributeError,
        match=r"^module 'ni_measurementlink_service\.session_management' has no attribute 'Nope'$",
    ):
        sm.Nope  # type: ignore[attr-defined]  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(sm, "Reservations")


def test_namedtuples_are_tuples_with_documented_order() -> None:
    mapping = sm.ChannelMapping("Pin1", -1, "DCPower1/0")
    assert tuple(mapping) == ("Pin1", -1, "DCPower1/0")
    context = sm.PinMapContext("id", None)
    assert context.sites is None
    info = sm.SessionInformation("s", "r", "c", "niDMM", False, [mapping])
    assert info[5] == [mapping]


def test_base_reservation_is_abstract_base_but_instantiable_as_in_1_2() -> None:
    assert isinstance(sm.BaseReservation, abc.ABCMeta)
    assert not getattr(sm.BaseReservation, "__abstractmethods__", frozenset())


def test_iterable_is_collections_abc() -> None:
    # Guards _normalize: typing.Iterable and collections.abc.Iterable normalize alike.
    assert _normalize(typing.Iterable[int]) == _normalize(collections.abc.Iterable[int])
