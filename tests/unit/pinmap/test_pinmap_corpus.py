"""Every public NI pin map in ../shared/pinmaps loads, except the two this project rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinbroker.errors import PinMapParseError
from pinbroker.pinmap import load_pinmap, load_pinmap_file

pytestmark = pytest.mark.corpus

REJECTED = {
    # MultiplexedDUTPinRoute@multiplexer names the NIRelayDriverModule, not the declared
    # Multiplexer MUX1 its sibling files Case1..Case4 use (docs/pinmap-engine.md).
    "ni__semi-test-library-dotnet__AllCases.pinmap": (
        "MultiplexedDUTPinRoute multiplexer 'RELAY_2567_C1_S09' is an NIRelayDriverModule, "
        "not a Multiplexer"
    ),
    # Connections to instruments SMU1/SMU2 that <Instruments> never declares.
    "sean-moore3__nitsm-devtools-python__daqmx__tests_Data__6d286816.pinmap": (
        "refers to unknown instrument 'SMU"
    ),
}


def test_every_corpus_pin_map_loads_and_resolves(corpus: Path) -> None:
    files = sorted(corpus.glob("*.pinmap"))
    assert len(files) >= 300
    failures: list[str] = []
    for path in files:
        if path.name in REJECTED:
            continue
        try:
            pin_map = load_pinmap_file(path)
            resolution = pin_map.resolve()
        except PinMapParseError as exc:
            failures.append(f"{path.name}: {exc.problems[:3]}")
            continue
        assert pin_map.schema_version.startswith("1."), path.name
        mapped = sum(len(s.channel_mappings) for s in resolution.sessions)
        connected = {c.pin_or_relay for c in pin_map.connections()}
        assert (mapped > 0) == bool(connected), path.name
        if path.name != "ni__semi-test-library-dotnet__AllCases.pinmap":
            assert pin_map.warnings == (), path.name
    assert failures == []


@pytest.mark.parametrize(("name", "fragment"), sorted(REJECTED.items()))
def test_the_two_unresolvable_corpus_files_are_rejected_naming_the_reference(
    corpus: Path, name: str, fragment: str
) -> None:
    path = corpus / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus")
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap_file(path)
    assert caught.value.problems
    assert all(fragment in problem for problem in caught.value.problems)


def test_corpus_text_and_bytes_load_alike(corpus: Path) -> None:
    for path in sorted(corpus.glob("*.pinmap"))[::25]:
        if path.name in REJECTED:
            continue
        data = path.read_bytes()
        assert load_pinmap(data.decode("utf-8-sig")).resolve() == load_pinmap(data).resolve()
