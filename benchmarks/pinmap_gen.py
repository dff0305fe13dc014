"""Synthetic NI pin maps of any size, for benchmarks and robustness tests.

A map has ``pins`` DUT pins on each of ``sites`` sites, in the shape of a real multi-site
tester program (pinmap-format.md §3-9):

* most DUT pins are digital (``NIDigitalPatternInstrument``, 32 channels, one ``group`` per
  instrument, so one session per instrument); 1/16 are power pins on ``NIDCPowerInstrument``
  SMUs (24 channels, two 12-channel ``ChannelGroup`` s each, written ``0-11`` and ``12:23``,
  so one session per half SMU); 1/64 are scope pins (``NIScopeInstrument``, 8 channels);
* ``system_pins`` system pins on one shared SMU (``SystemConnection``);
* ``site_relays`` site relays per site and ``system_relays`` system relays on
  ``NIRelayDriverModule`` s (64 control lines);
* pin groups (flat and nested), a relay group and a relay configuration.

Instruments never straddle a site boundary: a site's pins of one kind sit on consecutive
channels of one instrument, or on instruments of their own when they do not fit in one. With
``share_instruments=True`` (the default, as on real testers) an instrument serves as many whole
sites as fit; with ``False`` every site has instruments of its own, so reservations on
different sites never touch the same session (what the contention benchmark needs).

At 2,048 pins x 256 sites the map has 524,288 DUT pin connections and is about 43 MB of XML.

Run ``python -m benchmarks.pinmap_gen --pins 64 --sites 4 -o out.pinmap`` to write one.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GeneratedPinMap",
    "PinMapSpec",
    "generate_pinmap",
    "main",
]

NAMESPACE = "http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"

DIGITAL_CHANNELS = 32
DCPOWER_CHANNELS = 24
DCPOWER_GROUP_SIZE = 12
SCOPE_CHANNELS = 8
RELAY_CONTROL_LINES = 64
SYSTEM_SMU = "SMU_SYS"
SYSTEM_SMU_GROUP = "SystemPower"
SYSTEM_RELAY_DRIVER = "RLY_SYS"


@dataclass(frozen=True, slots=True)
class PinMapSpec:
    """What to generate.

    Attributes:
        pins: DUT pins per site (each connected on every site).
        sites: Number of sites (numbered 0 .. sites-1).
        system_pins: System pins, all on one shared SMU (at most 24).
        site_relays: Site relays (each connected on every site).
        system_relays: System relays.
        share_instruments: Let one instrument serve several whole sites (see module docstring).
    """

    pins: int
    sites: int
    system_pins: int = 4
    site_relays: int = 2
    system_relays: int = 2
    share_instruments: bool = True

    def __post_init__(self) -> None:
        if self.pins < 1 or self.sites < 1:
            raise ValueError("a pin map needs at least one pin and one site")
        if not 0 <= self.system_pins <= DCPOWER_CHANNELS:
            raise ValueError(f"system_pins must be 0..{DCPOWER_CHANNELS}")
        if not 0 <= self.system_relays <= RELAY_CONTROL_LINES:
            raise ValueError(f"system_relays must be 0..{RELAY_CONTROL_LINES}")
        if self.site_relays < 0:
            raise ValueError("site_relays must not be negative")


@dataclass(frozen=True, slots=True)
class _Block:
    """One kind of pin: its names and the instruments serving it."""

    kind: str  # "digital" | "power" | "scope" | "relay"
    names: tuple[str, ...]
    channels_per_instrument: int
    prefix: str

    @property
    def sites_per_instrument(self) -> int:
        if not self.names:
            return 0
        return max(1, self.channels_per_instrument // len(self.names))

    @property
    def instruments_per_site(self) -> int:
        return math.ceil(len(self.names) / self.channels_per_instrument)

    def instrument_count(self, sites: int, share: bool) -> int:
        if not self.names:
            return 0
        if share and self.sites_per_instrument > 1:
            return math.ceil(sites / self.sites_per_instrument)
        return sites * self.instruments_per_site

    def place(self, site: int, index: int, share: bool) -> tuple[int, int]:
        """Return (instrument number, channel) of pin ``index`` on ``site``."""
        per_site = len(self.names)
        if share and self.sites_per_instrument > 1:
            spi = self.sites_per_instrument
            return site // spi, (site % spi) * per_site + index
        cpi = self.channels_per_instrument
        return site * self.instruments_per_site + index // cpi, index % cpi

    def instrument_name(self, number: int) -> str:
        return f"{self.prefix}_{number:05d}"


@dataclass(frozen=True, slots=True)
class GeneratedPinMap:
    """A generated pin map and what it should load as.

    Attributes:
        spec: What was asked for.
        xml: The document (UTF-8 text, with an XML declaration).
        dut_pins: DUT pin names, in declaration order.
        system_pins: System pin names.
        site_relays: Site relay names.
        system_relays: System relay names.
        digital_pins / power_pins / scope_pins: DUT pins of each kind.
        instrument_count: Instruments declared (SMUs, digital, scope, relay drivers).
        connection_count: Connection elements (DUT pins x sites + system + relay connections).
        pin_groups: Pin group name -> its direct references.
    """

    spec: PinMapSpec
    xml: str
    dut_pins: tuple[str, ...]
    system_pins: tuple[str, ...]
    site_relays: tuple[str, ...]
    system_relays: tuple[str, ...]
    digital_pins: tuple[str, ...]
    power_pins: tuple[str, ...]
    scope_pins: tuple[str, ...]
    instrument_count: int
    connection_count: int
    pin_groups: dict[str, tuple[str, ...]]

    @property
    def xml_bytes(self) -> bytes:
        """The document as UTF-8 bytes."""
        return self.xml.encode("utf-8")

    def two_session_pins(self) -> tuple[str, str]:
        """A digital and a power pin: on one site they resolve to exactly two sessions."""
        if not self.digital_pins or not self.power_pins:
            raise ValueError("this map has no digital or no power pins")
        return self.digital_pins[0], self.power_pins[0]


def _split(pins: int) -> tuple[int, int, int]:
    """Return (digital, power, scope) pin counts for ``pins`` DUT pins per site."""
    power = max(1, pins // 16) if pins >= 2 else 0
    scope = pins // 64
    digital = pins - power - scope
    return digital, power, scope


def generate_pinmap(spec: PinMapSpec) -> GeneratedPinMap:
    """Generate the pin map described by ``spec``."""
    digital_n, power_n, scope_n = _split(spec.pins)
    digital = tuple(f"DIO{i:04d}" for i in range(digital_n))
    power = tuple(f"VDD{i:04d}" for i in range(power_n))
    scope = tuple(f"SCOPE{i:03d}" for i in range(scope_n))
    system = tuple(f"SYS_VREF{i}" for i in range(spec.system_pins))
    relays = tuple(f"K_SITE{i}" for i in range(spec.site_relays))
    system_relays = tuple(f"K_SYS{i}" for i in range(spec.system_relays))
    share = spec.share_instruments
    blocks = (
        _Block("power", power, DCPOWER_CHANNELS, "SMU"),
        _Block("digital", digital, DIGITAL_CHANNELS, "HSD"),
        _Block("scope", scope, SCOPE_CHANNELS, "SCOPE"),
        _Block("relay", relays, RELAY_CONTROL_LINES, "RLY"),
    )

    out = io.StringIO()
    w = out.write
    w('<?xml version="1.0" encoding="utf-8"?>\n')
    w(
        f'<PinMap xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'schemaVersion="1.6" xmlns="{NAMESPACE}">\n'
    )
    w("  <Instruments>\n")
    instrument_count = 0
    for block in blocks:
        for number in range(block.instrument_count(spec.sites, share)):
            name = block.instrument_name(number)
            instrument_count += 1
            if block.kind == "power":
                w(
                    f'    <NIDCPowerInstrument name="{name}" '
                    f'numberOfChannels="{DCPOWER_CHANNELS}">\n'
                )
                w(f'      <ChannelGroup name="{name}_A" channels="0-11" />\n')
                w(f'      <ChannelGroup name="{name}_B" channels="12:23" />\n')
                w("    </NIDCPowerInstrument>\n")
            elif block.kind == "digital":
                w(
                    f'    <NIDigitalPatternInstrument name="{name}" '
                    f'numberOfChannels="{DIGITAL_CHANNELS}" group="Digital_{number:05d}" />\n'
                )
            elif block.kind == "scope":
                w(
                    f'    <NIScopeInstrument name="{name}" numberOfChannels="{SCOPE_CHANNELS}" '
                    f'group="Scope_{number:05d}" />\n'
                )
            else:
                w(
                    f'    <NIRelayDriverModule name="{name}" '
                    f'numberOfControlLines="{RELAY_CONTROL_LINES}" />\n'
                )
    if system:
        instrument_count += 1
        w(f'    <NIDCPowerInstrument name="{SYSTEM_SMU}" numberOfChannels="{DCPOWER_CHANNELS}">\n')
        w(f'      <ChannelGroup name="{SYSTEM_SMU_GROUP}" />\n')
        w("    </NIDCPowerInstrument>\n")
    if system_relays:
        instrument_count += 1
        w(
            f'    <NIRelayDriverModule name="{SYSTEM_RELAY_DRIVER}" '
            f'numberOfControlLines="{RELAY_CONTROL_LINES}" />\n'
        )
    w("  </Instruments>\n")

    w("  <Pins>\n")
    dut = (*power, *digital, *scope)
    for name in dut:
        w(f'    <DUTPin name="{name}" />\n')
    for name in system:
        w(f'    <SystemPin name="{name}" />\n')
    w("  </Pins>\n")

    groups: dict[str, tuple[str, ...]] = {}
    if power:
        groups["PowerPins"] = power
    if digital:
        groups["DigitalPins"] = digital
    if scope:
        groups["ScopePins"] = scope
    if groups:
        groups["AllDutPins"] = tuple(groups)  # nested: references the groups above
    w("  <PinGroups>\n")
    for group, members in groups.items():
        w(f'    <PinGroup name="{group}">\n')
        for member in members:
            w(f'      <PinReference pin="{member}" />\n')
        w("    </PinGroup>\n")
    w("  </PinGroups>\n")

    if relays or system_relays:
        w("  <Relays>\n")
        for name in relays:
            w(
                f'    <SiteRelay name="{name}" openStateDisplayLabel="Open" '
                f'closedStateDisplayLabel="Closed" />\n'
            )
        for name in system_relays:
            w(f'    <SystemRelay name="{name}" />\n')
        w("  </Relays>\n")
        w("  <RelayGroups>\n")
        w('    <RelayGroup name="AllRelays">\n')
        for name in (*relays, *system_relays):
            w(f'      <RelayReference relay="{name}" />\n')
        w("    </RelayGroup>\n")
        w("  </RelayGroups>\n")
        w("  <RelayConfigurations>\n")
        w('    <RelayConfiguration name="Measure">\n')
        for name in (*relays, *system_relays):
            w(f'      <RelayPosition relay="{name}" position="Closed" />\n')
        w("    </RelayConfiguration>\n")
        w("  </RelayConfigurations>\n")

    w("  <Sites>\n")
    for site in range(spec.sites):
        w(f'    <Site siteNumber="{site}" />\n')
    w("  </Sites>\n")

    w("  <Connections>\n")
    connections = 0
    for site in range(spec.sites):
        for block in blocks:
            for index, name in enumerate(block.names):
                number, channel = block.place(site, index, share)
                instrument = block.instrument_name(number)
                if block.kind == "relay":
                    w(
                        f'    <RelayConnection relay="{name}" siteNumber="{site}" '
                        f'relayDriverModule="{instrument}" controlLine="K{channel}" />\n'
                    )
                else:
                    w(
                        f'    <Connection pin="{name}" siteNumber="{site}" '
                        f'instrument="{instrument}" channel="{channel}" />\n'
                    )
                connections += 1
    for channel, name in enumerate(system):
        w(f'    <SystemConnection pin="{name}" instrument="{SYSTEM_SMU}" channel="{channel}" />\n')
        connections += 1
    for line, name in enumerate(system_relays):
        w(
            f'    <SystemRelayConnection relay="{name}" relayDriverModule="{SYSTEM_RELAY_DRIVER}" '
            f'controlLine="K{line}" />\n'
        )
        connections += 1
    w("  </Connections>\n")
    w("</PinMap>\n")

    return GeneratedPinMap(
        spec=spec,
        xml=out.getvalue(),
        dut_pins=dut,
        system_pins=system,
        site_relays=relays,
        system_relays=system_relays,
        digital_pins=digital,
        power_pins=power,
        scope_pins=scope,
        instrument_count=instrument_count,
        connection_count=connections,
        pin_groups=groups,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pinmap_gen", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pins", type=int, default=64, help="DUT pins per site")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--system-pins", type=int, default=4)
    parser.add_argument("--site-relays", type=int, default=2)
    parser.add_argument("--system-relays", type=int, default=2)
    parser.add_argument(
        "--dedicated-instruments",
        action="store_true",
        help="give every site instruments of its own",
    )
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    generated = generate_pinmap(
        PinMapSpec(
            pins=args.pins,
            sites=args.sites,
            system_pins=args.system_pins,
            site_relays=args.site_relays,
            system_relays=args.system_relays,
            share_instruments=not args.dedicated_instruments,
        )
    )
    if args.output is None:
        sys.stdout.write(generated.xml)
    else:
        args.output.write_bytes(generated.xml_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
