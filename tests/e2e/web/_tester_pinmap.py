"""A realistic multi-site pin map: 4 sites x 16 DUT pins on a mixed-signal tester.

Written here, not copied from anywhere: a PXI tester for a small mixed-signal part (power
rails, an SPI/I2C digital interface, an analog output, a reference, a clock input, a
temperature sensor), shaped the way NI's Pin Map Editor saves such files (schema 1.6, one
``Connection`` per pin and site). The browser tests and ``scripts/screenshot_status_page.py``
use it, so the screenshot shows what the tests check.

Instruments (eight instrument types):

* NI-DCPower: one 4-channel PXIe-4147 SMU per site (``VDD``, ``VDDIO``, ``VANA``, ``IBIAS``),
  each its own channel group, so one session per site;
* NI-Digital Pattern: two PXIe-6570 (32 channels), each serving two sites with 8 pins per
  site, in groups of their own: two sessions, each spanning two sites;
* NI-SCOPE: one 4-channel PXIe-5162, ``VOUT`` of site N on channel N: one session, all sites;
* NI-DMM: one PXIe-4081 on ``VREF`` of every site through a PXIe-2530 multiplexer;
* NI-FGEN: two 2-channel PXIe-5413 on ``CLK_IN`` (sites 0-1 and 2-3);
* a custom thermocouple module (``TEMP``, instrument type ``ThermocoupleDAQ``);
* a custom bench supply on the system pin ``VBAT`` (instrument type ``BenchPSU``);
* an NI relay driver (PXI-2567) on the site relay ``K_LOAD`` and the system relay ``K_MAIN``.
"""

from __future__ import annotations

SITES = (0, 1, 2, 3)
SMU_PINS = ("VDD", "VDDIO", "VANA", "IBIAS")
DIGITAL_PINS = ("SCLK", "MOSI", "MISO", "CS_N", "SDA", "SCL", "RST_N", "IRQ")
DUT_PINS = (*SMU_PINS, *DIGITAL_PINS, "VOUT", "VREF", "CLK_IN", "TEMP")
assert len(DUT_PINS) == 16

PIN_MAP_FILE_NAME = "mixed_signal_4site.pinmap"


def smu(site: int) -> str:
    """The SMU of ``site``."""
    return f"SMU_4147_C1_S{site + 2:02d}"


def digital(site: int) -> str:
    """The digital pattern instrument of ``site`` (two sites each)."""
    return f"HSD_6570_C2_S{site // 2 + 2:02d}"


def fgen(site: int) -> str:
    """The function generator of ``site`` (two sites each)."""
    return f"FGEN_5413_C2_S{site // 2 + 4:02d}"


SCOPE = "SCOPE_5162_C2_S06"
DMM = "DMM_4081_C2_S07"
MUX = "MUX_2530_C2_S08"
RELAY_DRIVER = "RLY_2567_C2_S09"
THERMO = "TC_9213_USB1"
PSU = "USB0::0x2A8D::0x1102::MY59001234::INSTR"


def smu_session(site: int) -> str:
    """The NI-DCPower session of ``site`` (typed session names, NI 2025 Q3+)."""
    return "niDCPower-" + ", ".join(f"{smu(site)}/{channel}" for channel in range(4))


def digital_session(site: int) -> str:
    """The NI-Digital Pattern session serving ``site`` (and its neighbour)."""
    return f"niDigitalPattern-{digital(site)}"


SCOPE_SESSION = f"niScope-{SCOPE}"
DMM_SESSION = f"niDMM-{DMM}"
RELAY_SESSION = f"niRelayDriver-{RELAY_DRIVER}"
THERMO_SESSION = f"ThermocoupleDAQ-{THERMO}"
PSU_SESSION = f"BenchPSU-{PSU}"


def pin_map_xml() -> str:
    """The pin map document."""
    instruments = []
    for site in SITES:
        instruments.append(
            f'    <NIDCPowerInstrument name="{smu(site)}" numberOfChannels="4">\n'
            f'      <ChannelGroup name="Site{site}Power" />\n'
            "    </NIDCPowerInstrument>"
        )
    for pair in (0, 2):
        instruments.append(
            f'    <NIDigitalPatternInstrument name="{digital(pair)}" numberOfChannels="32"'
            f' group="Digital{pair // 2}" />'
        )
    instruments.append(
        f'    <NIScopeInstrument name="{SCOPE}" numberOfChannels="4" group="Scope" />'
    )
    instruments.append(f'    <NIDmmInstrument name="{DMM}" />')
    for pair in (0, 2):
        instruments.append(f'    <NIFGenInstrument name="{fgen(pair)}" numberOfChannels="2" />')
    instruments.append(
        f'    <Instrument name="{THERMO}" instrumentTypeId="ThermocoupleDAQ">\n'
        + "".join(f'      <Channel id="tc{site}" />\n' for site in SITES)
        + "    </Instrument>"
    )
    instruments.append(
        f'    <Instrument name="{PSU}" instrumentTypeId="BenchPSU">\n'
        '      <Channel id="1" />\n'
        "    </Instrument>"
    )
    instruments.append(
        f'    <NIRelayDriverModule name="{RELAY_DRIVER}" numberOfControlLines="64" />'
    )
    instruments.append(f'    <Multiplexer name="{MUX}" multiplexerTypeId="niSwitch2530" />')

    connections = []
    for site in SITES:
        for channel, pin in enumerate(SMU_PINS):
            connections.append(_connection(pin, site, smu(site), str(channel)))
        for index, pin in enumerate(DIGITAL_PINS):
            channel = (site % 2) * len(DIGITAL_PINS) + index
            connections.append(_connection(pin, site, digital(site), str(channel)))
        connections.append(_connection("VOUT", site, SCOPE, str(site)))
        connections.append(_connection("CLK_IN", site, fgen(site), str(site % 2)))
        connections.append(_connection("TEMP", site, THERMO, f"tc{site}"))
    routes = "".join(
        f'      <MultiplexedDUTPinRoute pin="VREF" siteNumber="{site}" multiplexer="{MUX}"'
        f' routeName="ch{site}-&gt;com0" />\n'
        for site in SITES
    )
    connections.append(
        f'    <MultiplexedConnection instrument="{DMM}" channel="0">\n{routes}'
        "    </MultiplexedConnection>"
    )
    connections.append(f'    <SystemConnection pin="VBAT" instrument="{PSU}" channel="1" />')
    for site in SITES:
        connections.append(
            f'    <RelayConnection relay="K_LOAD" siteNumber="{site}"'
            f' relayDriverModule="{RELAY_DRIVER}" controlLine="K{site}" />'
        )
    connections.append(
        f'    <SystemRelayConnection relay="K_MAIN" relayDriverModule="{RELAY_DRIVER}"'
        ' controlLine="K16" />'
    )
    pins = "".join(f'    <DUTPin name="{pin}" />\n' for pin in DUT_PINS)
    power = "".join(f'      <PinReference pin="{pin}" />\n' for pin in SMU_PINS)
    spi = "".join(f'      <PinReference pin="{pin}" />\n' for pin in DIGITAL_PINS[:4])
    sites = "".join(f'    <Site siteNumber="{site}" />\n' for site in SITES)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<PinMap xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="1.6"'
        ' xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">\n'
        "  <Instruments>\n" + "\n".join(instruments) + "\n  </Instruments>\n"
        f'  <Pins>\n{pins}    <SystemPin name="VBAT" />\n  </Pins>\n'
        "  <PinGroups>\n"
        f'    <PinGroup name="Power">\n{power}    </PinGroup>\n'
        f'    <PinGroup name="SPI">\n{spi}    </PinGroup>\n'
        "  </PinGroups>\n"
        '  <Relays>\n    <SiteRelay name="K_LOAD" openStateDisplayLabel="no load"'
        ' closedStateDisplayLabel="1 kOhm load" />\n'
        '    <SystemRelay name="K_MAIN" openStateDisplayLabel="off"'
        ' closedStateDisplayLabel="on" />\n  </Relays>\n'
        f"  <Sites>\n{sites}  </Sites>\n"
        "  <Connections>\n" + "\n".join(connections) + "\n  </Connections>\n"
        "</PinMap>\n"
    )


def _connection(pin: str, site: int, instrument: str, channel: str) -> str:
    return (
        f'    <Connection pin="{pin}" siteNumber="{site}" instrument="{instrument}"'
        f' channel="{channel}" />'
    )
