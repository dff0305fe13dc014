"""Reading the status page in a browser through its ``data-`` contract (``docs/web.md``).

Every session shown carries ``data-session`` and ``data-state``; every queue entry
``data-queue-position``. The live part of the page is replaced as changes arrive, so an element
found in one WebDriver call may be gone in the next: :func:`read_page` reads everything in one
script, at one instant, and :func:`act` finds an element again if it was replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

PAGE_VIEW_JS = """
function rows(section) {
  var table = document.querySelector('section[aria-labelledby="' + section + '"] table');
  if (!table) { return []; }
  var heads = Array.from(table.tHead.rows[0].cells).map(function (c) { return c.textContent; });
  return Array.from(table.tBodies[0].rows).map(function (tr) {
    var row = {cells: {}, sessions: [], states: [],
               position: tr.hasAttribute("data-queue-position")
                 ? tr.getAttribute("data-queue-position") : null};
    Array.from(tr.cells).forEach(function (td, i) { row.cells[heads[i]] = td.textContent; });
    tr.querySelectorAll("[data-session]").forEach(function (e) {
      row.sessions.push(e.getAttribute("data-session"));
      row.states.push(e.getAttribute("data-state"));
    });
    return row;
  });
}
var grid = {};
document.querySelectorAll("table.grid [data-session]").forEach(function (e) {
  var name = e.getAttribute("data-session");
  (grid[name] = grid[name] || []).push(e.getAttribute("data-state"));
});
return {grid: grid, held: rows("h-held"), queue: rows("h-queue"), events: rows("h-events"),
        queue_positions: Array.from(document.querySelectorAll("[data-queue-position]"))
          .map(function (e) { return e.getAttribute("data-queue-position"); }),
        connected: document.getElementById("connection").getAttribute("data-connected")};
"""
"""One consistent reading of the page, through its ``data-`` contract (the live part can be
replaced between two WebDriver calls; one script reads it at one instant)."""


@dataclass(frozen=True)
class Row:
    """A table row: its cells by column heading, and the sessions it shows."""

    cells: dict[str, str]
    sessions: list[str]
    states: list[str]
    position: str | None


@dataclass(frozen=True)
class PageView:
    """What the page shows at one instant."""

    grid: dict[str, list[str]]
    held: list[Row]
    queue: list[Row]
    events: list[Row]
    queue_positions: list[str]
    connected: str
    raw: dict[str, Any] = field(repr=False)

    def states(self, session: str) -> set[str]:
        """The states the grid shows for ``session`` (one per cell it occupies)."""
        return set(self.grid.get(session, []))

    def holder(self, session: str) -> str | None:
        """The Holder column of the held session, None if it is not listed as held."""
        for row in self.held:
            if session in row.sessions:
                return row.cells["Holder"]
        return None


def read_page(driver: WebDriver) -> PageView:
    """What the page shows now."""
    raw = driver.execute_script(PAGE_VIEW_JS)

    def table(key: str) -> list[Row]:
        return [Row(r["cells"], r["sessions"], r["states"], r["position"]) for r in raw[key]]

    return PageView(
        grid=raw["grid"],
        held=table("held"),
        queue=table("queue"),
        events=table("events"),
        queue_positions=raw["queue_positions"],
        connected=raw["connected"],
        raw=raw,
    )


def wait_for_page(
    driver: WebDriver, condition: Callable[[PageView], bool], what: str, bound: float
) -> PageView:
    """Poll the page (every 20 ms) until ``condition`` holds and return what it showed then.

    Raises:
        AssertionError: If ``condition`` did not hold within ``bound`` seconds.
    """
    seen: list[PageView] = []

    def check(d: WebDriver) -> PageView | bool:
        view = read_page(d)
        seen[:] = [view]
        return view if condition(view) else False

    try:
        view: PageView = WebDriverWait(driver, bound, poll_frequency=0.02).until(check)
    except TimeoutException:
        raise AssertionError(
            f"the page did not show {what} within {bound} s; it showed {seen[-1:]}"
        ) from None
    return view


def act(driver: WebDriver, css: str, action: Callable[[WebElement], None], bound: float) -> None:
    """Do ``action`` on the element ``css`` selects; again on its successor if the page
    replaced it meanwhile (a live update swaps the page's elements for new ones)."""

    def attempt(d: WebDriver) -> bool:
        action(d.find_element(By.CSS_SELECTOR, css))
        return True

    WebDriverWait(driver, bound, ignored_exceptions=[StaleElementReferenceException]).until(attempt)


def all_free(view: PageView) -> bool:
    """Nothing held, nobody waiting, every session in the grid free."""
    return (
        not view.held
        and not view.queue
        and bool(view.grid)
        and all(set(states) == {"free"} for states in view.grid.values())
    )
