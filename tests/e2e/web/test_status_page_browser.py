"""The status page in a real browser: headless Debian Chromium against ``pinbroker serve``.

One ``pinbroker serve --port 0 --http-port 0`` subprocess with a realistic pin map (4 sites x
16 pins, eight instrument types; ``_tester_pinmap.py``) and one browser serve the whole module;
each test loads the page afresh, acts through NI's client API
(``ni_measurementlink_service.session_management``, the drop-in this project ships) and waits,
with WebDriverWait polls, for the page to show it. Every test ends with no SEVERE entry in the
browser console, and with nothing held or waiting.

Without Chromium and chromedriver the tests are skipped, except when ``CI`` is set: there they
fail, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import concurrent.futures
import getpass
import json
import os
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from _browser import (
    BrowserMissingError,
    Chromium,
    console_errors,
    find_chromium,
    in_ci,
    start_chromium,
)
from _page_view import PageView, all_free, read_page
from _page_view import act as act_on
from _page_view import wait_for_page as wait_for
from _tester_pinmap import (
    DIGITAL_PINS,
    DUT_PINS,
    PIN_MAP_FILE_NAME,
    SCOPE_SESSION,
    SITES,
    digital_session,
    pin_map_xml,
    smu_session,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from e2e._serve import Serve
from ni_measurementlink_service import session_management as sm

LIVE_BOUND = 5.0
"""Seconds the page may take to show a change (reserve, queue, release) in these tests.

The page follows a change in about 0.1-0.3 s (the event stream, a 100 ms debounce, one page
fetch; ``docs/web.md`` has the figure measured by ``scripts/screenshot_status_page.py``), and
the issue asks for "within a second". The tests measure from NI's ``reserve_sessions``
returning to the page showing the holder and assert 5 s, not 1 s: on a loaded 2-core CI
runner a headless Chromium (4+ processes), the server and the test share the CPUs, and a
timing assertion there would fail for the machine, not for the page.
"""

SERVER_BOUND = 30.0
"""Seconds for anything else that does not depend on the page: start-up, a granted wait."""

WAITER_TIMEOUT = 60.0
"""Seconds a waiting reserve_sessions may block; far above what the tests need."""

STATUS_URL = re.compile(r"status page at (http://\S+/)")

USER_AT_HOST = f"{getpass.getuser()}@{socket.gethostname()}"
"""How the page names the holder: NI's client runs under this test's lease (user@host)."""

GRID_JS = """
var grid = document.querySelector('table.grid[data-pin-map="' + arguments[0] + '"]');
var text = function (e) { return e.textContent; };
return {
  headings: Array.from(grid.querySelectorAll("thead th")).map(text),
  labels: Array.from(grid.querySelectorAll("tbody th")).map(text),
  sessions: grid.querySelectorAll("[data-session]").length
};
"""

OVERFLOW_JS = """
return document.documentElement.scrollWidth > document.documentElement.clientWidth;
"""
"""Whether the page is wider than the window (a horizontal scroll bar)."""


def wait_for_page(driver: WebDriver, condition: Callable[[PageView], bool], what: str) -> PageView:
    return wait_for(driver, condition, what, LIVE_BOUND)


def act(driver: WebDriver, css: str, action: Callable[[WebElement], None]) -> None:
    act_on(driver, css, action, LIVE_BOUND)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Chromium:
    try:
        return find_chromium()
    except BrowserMissingError as missing:
        if in_ci():
            pytest.fail(f"CI is set, so the browser tests must run: {missing}")
        pytest.skip(str(missing))


@dataclass(frozen=True)
class PageServer:
    """The running server: its page URL, gRPC address and the id of its pin map."""

    url: str
    address: str
    pin_map_id: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Chromium) -> Iterator[PageServer]:
    directory = tmp_path_factory.mktemp("status_page")
    pin_map = directory / PIN_MAP_FILE_NAME
    pin_map.write_text(pin_map_xml(), encoding="utf-8")
    env = dict(os.environ)
    env.pop("PINBROKER_ADDRESS", None)
    env["PINBROKER_DISCOVERY_KEY_FILE"] = str(directory / "key" / "Discovery.json")
    serve = Serve(
        "--http-port",
        "0",
        "--state-dir",
        str(directory / "state"),
        "--pin-map",
        str(pin_map),
        env=env,
        read_log=True,
    )
    try:
        url = serve.wait_for_log(STATUS_URL, SERVER_BOUND).group(1)
        yield PageServer(url=url, address=serve.address, pin_map_id=str(pin_map))
    finally:
        assert serve.stop() == 0


@pytest.fixture(scope="module")
def browser(chromium: Chromium, server: PageServer) -> Iterator[WebDriver]:
    with start_chromium(chromium) as driver:
        yield driver


@pytest.fixture
def page(browser: WebDriver, server: PageServer) -> Iterator[WebDriver]:
    """The page, freshly loaded, listening to the event stream, nothing held; console checked."""
    console_errors(browser)  # empties the log: each test answers for its own entries
    browser.get(server.url)
    # The stream is open: any change from now on reaches the page.
    wait_for_page(browser, lambda v: v.connected == "yes" and all_free(v), "a live, idle page")
    yield browser
    errors = console_errors(browser)
    assert not errors, f"browser console errors: {errors}"


@pytest.fixture
def channels(server: PageServer) -> Iterator[Callable[[], grpc.Channel]]:
    """Open channels to the server (one per simulated client process); closed at the end."""
    opened: list[grpc.Channel] = []

    def open_channel() -> grpc.Channel:
        channel = grpc.insecure_channel(server.address)
        grpc.channel_ready_future(channel).result(timeout=SERVER_BOUND)
        opened.append(channel)
        return channel

    yield open_channel
    for channel in opened:
        channel.close()


@pytest.fixture
def client(channels: Callable[[], grpc.Channel]) -> sm.SessionManagementClient:
    return sm.SessionManagementClient(grpc_channel=channels())


@pytest.fixture
def context(server: PageServer) -> Callable[..., sm.PinMapContext]:
    def make(*sites: int) -> sm.PinMapContext:
        return sm.PinMapContext(pin_map_id=server.pin_map_id, sites=list(sites))

    return make


@pytest.fixture
def waiters() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        yield pool


def _api(server: PageServer, path: str) -> Any:
    with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=SERVER_BOUND) as answer:
        return json.load(answer)


# -- tests -------------------------------------------------------------------------------------


def test_page_loads_without_console_errors_and_shows_the_pin_map(
    page: WebDriver, server: PageServer
) -> None:
    grid = page.execute_script(GRID_JS, server.pin_map_id)
    assert grid["headings"] == ["Pin", *(f"Site {site}" for site in SITES)]
    assert grid["labels"][: len(DUT_PINS)] == list(DUT_PINS)
    assert grid["labels"][len(DUT_PINS) :] == [
        "VBAT (system)",
        "K_LOAD (relay)",
        "K_MAIN (system relay)",
    ]
    # Each DUT pin and site relay has one session per site, each system pin or relay one.
    assert grid["sessions"] == (len(DUT_PINS) + 1) * len(SITES) + 2
    view = read_page(page)
    assert len(view.grid) == 13
    assert view.grid[smu_session(0)] == ["free"] * 4  # VDD, VDDIO, VANA, IBIAS of site 0
    assert len(view.grid[digital_session(0)]) == 2 * len(DIGITAL_PINS)  # sites 0 and 1
    # It reads at this size: nothing sticks out of a 1280 px wide window.
    assert not page.execute_script(OVERFLOW_JS), "the pin map does not fit a 1280 px window"
    assert page.title == "pinbroker status"
    # ``page`` checks the console when the test ends: the page loaded and ran without errors.


def test_a_reservation_shows_its_holder_and_a_release_frees_it(
    page: WebDriver,
    client: sm.SessionManagementClient,
    context: Callable[..., sm.PinMapContext],
    record_property: Callable[[str, object], None],
) -> None:
    smu = smu_session(1)
    with client.reserve_sessions(context(1), ["VDD"], timeout=0) as reservation:
        reserved = time.monotonic()
        assert [info.session_name for info in reservation.session_info] == [smu]
        view = wait_for_page(
            page,
            lambda v: v.holder(smu) is not None and v.states(smu) == {"held"},
            f"{smu} held",
        )
        latency = time.monotonic() - reserved
        record_property("reserve_to_page_seconds", round(latency, 3))
        assert latency < LIVE_BOUND
        assert view.holder(smu) == USER_AT_HOST
        assert len(view.grid[smu]) == 4  # all four pins of the SMU, not only VDD
        others = {name: set(states) for name, states in view.grid.items() if name != smu}
        assert all(states == {"free"} for states in others.values())
        [row] = view.held
        assert row.states == ["held"]
        assert row.cells["Lease"] == "active"
        assert view.events[0].cells["Kind"] == "reserved"
    view = wait_for_page(page, all_free, f"{smu} free again after the release")
    assert view.events[0].cells["Kind"] == "released"
    assert view.events[0].cells["Sessions"] == smu


def test_waiters_appear_in_the_queue_in_order_and_move_up(
    page: WebDriver,
    server: PageServer,
    channels: Callable[[], grpc.Channel],
    context: Callable[..., sm.PinMapContext],
    waiters: concurrent.futures.ThreadPoolExecutor,
) -> None:
    smu = smu_session(0)
    holder = sm.SessionManagementClient(grpc_channel=channels())
    first = sm.SessionManagementClient(grpc_channel=channels())
    second = sm.SessionManagementClient(grpc_channel=channels())
    held = holder.reserve_sessions(context(0), ["VDD"], timeout=0)
    wait_for_page(page, lambda v: v.states(smu) == {"held"}, f"{smu} held")

    # The first waiter wants the SMU and the scope: the scope is free but wanted now.
    first_grant = waiters.submit(
        first.reserve_sessions, context(0), ["VDD", "VOUT"], None, WAITER_TIMEOUT
    )
    view = wait_for_page(page, lambda v: v.queue_positions == ["1"], "one waiter at position 1")
    [entry] = view.queue
    assert entry.position == "1"
    assert entry.sessions == [smu, SCOPE_SESSION]
    assert entry.states == ["held", "wanted"]
    assert entry.cells["Requester"] == USER_AT_HOST
    assert view.states(SCOPE_SESSION) == {"wanted"}
    assert view.states(smu) == {"held"}

    second_grant = waiters.submit(
        second.reserve_sessions, context(0), ["VDD"], None, WAITER_TIMEOUT
    )
    view = wait_for_page(page, lambda v: v.queue_positions == ["1", "2"], "two waiters")
    assert [row.sessions for row in view.queue] == [[smu, SCOPE_SESSION], [smu]]
    [holding] = _api(server, "/api/status")["held"]
    blocked_by = f"reservation {holding['reservation_id']} ({USER_AT_HOST})"
    assert [row.cells["Blocked by"] for row in view.queue] == [blocked_by, blocked_by]
    # Busy, it still reads at 1280 px: the queue and the release forms fit the window.
    assert not page.execute_script(OVERFLOW_JS)

    held.unreserve()  # the first waiter gets both sessions; the second moves up
    first_held = first_grant.result(timeout=SERVER_BOUND)
    view = wait_for_page(
        page,
        lambda v: v.queue_positions == ["1"] and v.states(SCOPE_SESSION) == {"held"},
        "the second waiter at position 1 behind the first",
    )
    [entry] = view.queue
    assert entry.sessions == [smu]
    assert {s for row in view.held for s in row.sessions} == {smu, SCOPE_SESSION}

    first_held.unreserve()
    second_held = second_grant.result(timeout=SERVER_BOUND)
    view = wait_for_page(
        page,
        lambda v: not v.queue and v.states(SCOPE_SESSION) == {"free"},
        "an empty queue",
    )
    assert view.states(smu) == {"held"}
    second_held.unreserve()
    wait_for_page(page, all_free, "everything free")


def test_force_release_from_the_page_is_done_and_recorded(
    page: WebDriver,
    server: PageServer,
    channels: Callable[[], grpc.Channel],
    context: Callable[..., sm.PinMapContext],
) -> None:
    digital = digital_session(2)
    client = sm.SessionManagementClient(grpc_channel=channels())
    reservation = client.reserve_sessions(context(2), ["SPI"], timeout=0)
    assert [info.session_name for info in reservation.session_info] == [digital]
    wait_for_page(page, lambda v: v.holder(digital) == USER_AT_HOST, f"{digital} held")

    form = f'form.release[data-release-session="{digital}"]'
    reason = "pattern burst hung on site 2"
    act(page, f"{form} input[name=reason]", lambda e: e.send_keys(reason))
    # Another change refreshes the page while the reason is typed: the typing stays.
    other = sm.SessionManagementClient(grpc_channel=channels())
    with other.reserve_sessions(context(0), ["VOUT"], timeout=0):
        wait_for_page(page, lambda v: v.states(SCOPE_SESSION) == {"held"}, "the scope held")
    wait_for_page(page, lambda v: v.states(SCOPE_SESSION) == {"free"}, "the scope free")
    typed = page.execute_script(
        "var i = document.querySelector(arguments[0]);"
        "return [i.value, document.activeElement === i];",
        f"{form} input[name=reason]",
    )
    assert typed == [reason, True]

    act(page, f"{form} button[type=submit]", lambda e: e.click())
    alert = WebDriverWait(page, LIVE_BOUND).until(expected_conditions.alert_is_present())
    assert digital in alert.text  # the page asks before taking a session away
    alert.accept()

    view = wait_for_page(page, all_free, f"{digital} free after the force release")
    assert view.events[0].cells["Kind"] == "force_released"
    assert view.events[0].cells["Reason"].startswith(reason + " (by http:127.0.0.1:")
    result = page.find_element(By.ID, "release-result").text
    assert result == f"released: {digital}"

    forced = [e for e in _api(server, "/api/events")["events"] if e["kind"] == "force_released"]
    assert [e["session_names"] for e in forced] == [[digital]]
    assert forced[0]["reason"].startswith(reason + " (by http:127.0.0.1:")
    # Its former holder giving it back later changes nothing (its fence no longer matches).
    reservation.unreserve()
    assert _api(server, "/api/status")["held"] == []


def test_a_cancelled_force_release_changes_nothing(
    page: WebDriver,
    server: PageServer,
    client: sm.SessionManagementClient,
    context: Callable[..., sm.PinMapContext],
) -> None:
    smu = smu_session(3)
    with client.reserve_sessions(context(3), ["IBIAS"], timeout=0):
        wait_for_page(page, lambda v: v.states(smu) == {"held"}, f"{smu} held")
        form = f'form.release[data-release-session="{smu}"]'
        act(page, f"{form} input[name=reason]", lambda e: e.send_keys("not really"))
        act(page, f"{form} button[type=submit]", lambda e: e.click())
        alert = WebDriverWait(page, LIVE_BOUND).until(expected_conditions.alert_is_present())
        alert.dismiss()
        assert [h["session_name"] for h in _api(server, "/api/status")["held"]] == [smu]
        assert read_page(page).states(smu) == {"held"}
    wait_for_page(page, all_free, "everything free")
