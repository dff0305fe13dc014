"""The status page at ``/``: server-rendered HTML, inline CSS and a small inline script.

Markup contract for tests (ours and users'): every session shown carries
``data-session="<name>"`` and ``data-state="free|held|wanted"``; every queue entry carries
``data-queue-position="<1-based position>"``. The script listens to ``/api/events/stream`` and,
on each event, fetches the page again and swaps the ``#live`` part, so there is one renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

__all__ = ["render_page"]

JsonObject = dict[str, Any]

RECENT_EVENTS = 50
"""Events shown on the page, newest first."""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:.8rem 1.2rem;color:#111;line-height:1.3}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 1.5rem}
h1{margin:.2rem 0;font-size:1.6rem}
h2{margin:1.1rem 0 .3rem;font-size:1.2rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #bbb;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#eee}
.grid td{font-size:.8em;padding:.1rem .2rem}
.grid tbody th{white-space:nowrap;font-size:.9em}
.grid .cell{display:flex;gap:.5rem;align-items:baseline;justify-content:space-between}
.type{color:#444;font-size:.85em;font-weight:400;white-space:nowrap}
[data-state]{border-left:4px solid transparent}
[data-state=free]{background:#e3f4e3;border-left-color:#3a9a3a}
[data-state=held]{background:#f9cfcf;border-left-color:#c62828}
.grid [data-state=held]{font-weight:600}
[data-state=wanted]{background:#fbe5a0;border-left-color:#b07d00;border-left-style:dashed}
.cell{display:block;padding:1px 4px;margin:1px 0;border-radius:3px}
.legend span{padding:0 .4rem;margin-right:.4rem;border-radius:3px}
.empty{color:#555;font-style:italic}
.meta{color:#444;margin:.2rem 0}
[data-connected=yes]{color:#1b6e1b;font-weight:600}
[data-connected=no]{color:#a33;font-weight:600}
main table:not(.grid){font-size:.9em}
td.who{white-space:nowrap}
td.names{overflow-wrap:anywhere}
.name{display:block}
.name+.name{border-top:1px dotted #bbb}
form.release input{width:9rem}
form.release{display:flex;gap:.3rem;align-items:center;white-space:nowrap}
td time{white-space:nowrap}
"""

_SCRIPT = """
(function () {
  "use strict";
  // One fetch at a time, so an older answer never replaces a newer one; a change that comes
  // during a fetch is fetched again after it.
  var pending = null, inflight = false, dirty = false;
  function refresh() {
    pending = null;
    if (inflight) { dirty = true; return; }
    inflight = true;
    dirty = false;
    fetch(window.location.pathname, {headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (r) { return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("live");
        var live = document.getElementById("live");
        if (fresh && live) {
          var restore = keepTyping(live);
          live.innerHTML = fresh.innerHTML;
          restore(live);
        }
      })
      .catch(function () {})  // the stream's reconnect (onopen) fetches again
      .then(function () { inflight = false; if (dirty) { schedule(); } });
  }
  // A reason being typed into a release form survives a refresh, and so does its focus.
  function keepTyping(live) {
    var typed = {}, focused = null;
    live.querySelectorAll("form.release").forEach(function (form) {
      var input = form.elements.namedItem("reason");
      if (!input) { return; }
      if (input.value) { typed[form.dataset.releaseSession] = input.value; }
      if (document.activeElement === input) { focused = form.dataset.releaseSession; }
    });
    return function (fresh) {
      fresh.querySelectorAll("form.release").forEach(function (form) {
        var name = form.dataset.releaseSession, input = form.elements.namedItem("reason");
        if (!input) { return; }
        if (Object.prototype.hasOwnProperty.call(typed, name)) { input.value = typed[name]; }
        if (name === focused) {
          input.focus();
          input.setSelectionRange(input.value.length, input.value.length);
        }
      });
    };
  }
  function schedule() { if (pending === null) { pending = setTimeout(refresh, 100); } }
  var connection = document.getElementById("connection");
  function connected(text, ok) {
    if (connection) { connection.textContent = text; connection.dataset.connected = ok; }
  }
  if (window.EventSource) {
    var source = new EventSource("/api/events/stream");
    source.onmessage = schedule;
    source.onopen = function () { connected("live", "yes"); schedule(); };
    source.onerror = function () { connected("reconnecting", "no"); };
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("release")) { return; }
    event.preventDefault();
    var name = form.dataset.releaseSession;
    if (!window.confirm("Force release " + name + "? Its holder loses it at once.")) { return; }
    var out = document.getElementById("release-result");
    var body = {session_names: [name], reason: form.elements.namedItem("reason").value};
    fetch("/api/release", {method: "POST", headers: {"Content-Type": "application/json"},
                           body: JSON.stringify(body)})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        out.textContent = answer.error ? answer.error
          : "released: " + (answer.released.join(", ") || "nothing");
        schedule();
      })
      .catch(function (e) { out.textContent = String(e); });
  });
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _time(value: str | None, none: str = "-") -> str:
    """An RFC 3339 time as ``2026-12-01 22:13:15`` (UTC), the exact value in ``datetime``."""
    if not value:
        return _e(none)
    shown = f"{value[:10]} {value[11:19]}" if len(value) >= 19 and value[10] == "T" else value
    return f'<time datetime="{_e(value)}" title="{_e(value)}">{_e(shown)}</time>'


def _names(names: list[str]) -> str:
    """Session names one per line (a DCPower session's name holds commas of its own)."""
    return "".join(f'<span class="name">{_e(n)}</span>' for n in names) or "-"


def _holder(owner: Mapping[str, Any] | None) -> str:
    if not owner:
        return "-"
    if owner.get("username") and owner.get("hostname"):
        return f"{owner['username']}@{owner['hostname']}"
    return str(owner.get("username") or owner.get("hostname") or owner.get("peer") or "-")


def _session(name: str, state: str, body: str | None = None, title: str = "") -> str:
    """A session in one of its states; ``body`` is HTML (default: the escaped name)."""
    title_attr = f' title="{_e(title)}"' if title else ""
    return (
        f'<span class="cell" data-session="{_e(name)}" data-state="{_e(state)}"{title_attr}>'
        f"{_e(name) if body is None else body}</span>"
    )


def _channel_label(connection: Mapping[str, Any], pin: str, site: int) -> str:
    """Where a pin is wired, short: ``SMU1/0``, ``SCOPE1/3``, ``RLY1/K0``, ``HSD1``.

    NI-DCPower channels already name their instrument; NI-Digital channels name only the pin
    and site (``site0/SDA``), which the row and the column say already.
    """
    channel = str(connection["channel"])
    resource = str(connection["resource_name"])
    if channel in (f"site{site}/{pin}", pin):
        return resource
    parts = resource.split(", ")
    if channel in parts or channel.split("/", 1)[0] in parts:
        return channel
    return f"{resource}/{channel}"


def _grid_cell(
    connection: Mapping[str, Any], pin: str, site: int, holders: Mapping[str, str]
) -> str:
    via = connection.get("multiplexer")
    holder = holders.get(connection["session_name"])
    title = (
        f"{connection['session_name']} ({connection['instrument_type_id']}), "
        f"channel {connection['channel']}"
        + (f", through multiplexer {via}" if via else "")
        + (f", held by {holder}" if holder else "")
    )
    body = (
        f'<span class="where">{_e(_channel_label(connection, pin, site))}</span>'
        f'<span class="type">{_e(connection["instrument_type_id"])}{" + mux" if via else ""}'
        "</span>"
    )
    return _session(connection["session_name"], connection["state"], body, title)


def _table(caption: str, headers: Iterable[str], rows: list[str], empty: str) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _pin_map_section(summary: JsonObject, grid: JsonObject, holders: Mapping[str, str]) -> str:
    sites = grid["sites"]
    head = '<th scope="col">Pin</th>' + "".join(f'<th scope="col">Site {_e(s)}</th>' for s in sites)
    rows = []
    for kind, pin in [("pin", p) for p in grid["pins"]] + [
        ("relay", r) for r in grid.get("relays", [])
    ]:
        by_site = {entry["site"]: entry["connections"] for entry in pin["sites"]}
        cells = []
        for site in [-1] if pin["system"] else sites:
            parts = [_grid_cell(c, pin[kind], site, holders) for c in by_site.get(site, [])]
            span = f' colspan="{len(sites)}"' if pin["system"] and sites else ""
            cells.append(f"<td{span}>{''.join(parts) or '-'}</td>")
        label = (
            pin[kind]
            + {
                ("pin", False): "",
                ("pin", True): " (system)",
                ("relay", False): " (relay)",
                ("relay", True): " (system relay)",
            }[kind, pin["system"]]
        )
        rows.append(f'<tr><th scope="row">{_e(label)}</th>{"".join(cells)}</tr>')
    loaded = f", loaded {_time(summary['loaded'])} UTC" if summary.get("loaded") else ""
    caption = (
        _e(
            f"Pin map {summary['id']}: {len(summary['pins'])} pins, {len(sites)} sites, "
            f"{summary['instruments']} instruments"
        )
        + loaded
    )
    return (
        f'<table class="grid" data-pin-map="{_e(summary["id"])}"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_page(
    *,
    status: JsonObject,
    pin_maps: list[tuple[JsonObject, JsonObject]],
    sessions: JsonObject,
    events: list[JsonObject],
    can_release: bool,
) -> str:
    """Render the whole page from the ``/api/`` JSON values.

    Args:
        status: ``/api/status``.
        pin_maps: For each pin map, its ``/api/pin-maps`` entry and its ``/api/pin-maps/{id}``.
        sessions: ``/api/sessions``.
        events: ``/api/events`` events, oldest first (the page shows the newest first).
        can_release: Whether to show the force-release forms.
    """
    known = {s["session_name"]: s for s in sessions["sessions"]}
    held_rows = []
    for h in status["held"]:
        info = known.get(h["session_name"], {})
        form = ""
        if can_release:
            form = (
                f'<td><form class="release" data-release-session="{_e(h["session_name"])}">'
                '<label>Reason <input name="reason" required></label>'
                f'<button type="submit">Force release</button></form></td>'
            )
        held_rows.append(
            "<tr>"
            f"<td>{_session(h['session_name'], 'held')}</td>"
            f"<td>{_e(info.get('resource_name') or '-')}</td>"
            f"<td>{_e(info.get('instrument_type_id') or '-')}</td>"
            f'<td class="who">{_e(_holder(h["owner"]))}</td><td>{_time(h["since"])}</td>'
            f"<td>{_e(h['lease']['state'])}</td>{form}</tr>"
        )
    held_headers = ["Session", "Resource", "Type", "Holder", "Since (UTC)", "Lease"]
    if can_release:
        held_headers.append("Action")
    held_names = {h["session_name"] for h in status["held"]}
    by_reservation = {h["reservation_id"]: _holder(h["owner"]) for h in status["held"]}
    queue_rows = []
    for w in status["waiting"]:
        wanted = "".join(
            _session(n, "held" if n in held_names else "wanted") for n in w["session_names"]
        )
        blocked = (
            ", ".join(
                f"reservation {b}" + (f" ({by_reservation[b]})" if b in by_reservation else "")
                for b in w["blocked_by"]
            )
            or "-"
        )
        queue_rows.append(
            f'<tr data-queue-position="{_e(w["position"])}"><td>{_e(w["position"])}</td>'
            f'<td class="who">{_e(_holder(w["owner"]))}</td><td>{wanted}</td>'
            f"<td>{_time(w['since'])}</td>"
            f"<td>{_time(w['deadline'], 'none')}</td>"
            f"<td>{_e(blocked)}</td></tr>"
        )
    session_rows = [
        f"<tr><td>{_session(s['session_name'], s['state'])}</td>"
        f"<td>{_e(s['resource_name'])}</td><td>{_e(s['instrument_type_id'])}</td>"
        f"<td>{_e(s['channel_list'])}</td><td>{'yes' if s['registered'] else 'no'}</td></tr>"
        for s in sessions["sessions"]
    ]
    mux_rows = [
        f"<tr><td>{_e(m['session_name'])}</td><td>{_e(m['resource_name'])}</td>"
        f"<td>{_e(m['multiplexer_type_id'])}</td></tr>"
        for m in sessions["multiplexers"]
    ]
    event_rows = [
        f'<tr data-revision="{_e(ev["revision"])}"><td>{_e(ev["revision"])}</td>'
        f"<td>{_time(ev['time'])}</td><td>{_e(ev['kind'])}</td>"
        f'<td class="names">{_names(ev["session_names"])}</td>'
        f'<td class="who">{_e(_holder(ev["owner"]))}</td>'
        f'<td class="names">{_e(ev["reason"] or "")}</td></tr>'
        for ev in reversed(events[-RECENT_EVENTS:])
    ]
    holders = {h["session_name"]: _holder(h["owner"]) for h in status["held"]}
    grids = "".join(_pin_map_section(summary, grid, holders) for summary, grid in pin_maps)
    live = (
        f'<p class="meta">Revision <span data-revision="{_e(status["revision"])}">'
        f"{_e(status['revision'])}</span></p>"
        '<section aria-labelledby="h-pin-maps"><h2 id="h-pin-maps">Pin maps</h2>'
        '<p class="legend">Legend: <span data-state="free">free</span>'
        '<span data-state="held">held</span><span data-state="wanted">wanted</span></p>'
        f"{grids or '<p class=empty>No pin map loaded.</p>'}</section>"
        '<section aria-labelledby="h-held"><h2 id="h-held">Held sessions</h2>'
        f"{_table('Held sessions', held_headers, held_rows, 'Nothing is held.')}</section>"
        '<section aria-labelledby="h-queue"><h2 id="h-queue">Queue</h2>'
        + _table(
            "Waiting requests, next first",
            [
                "Position",
                "Requester",
                "Sessions",
                "Waiting since (UTC)",
                "Deadline (UTC)",
                "Blocked by",
            ],
            queue_rows,
            "Nobody is waiting.",
        )
        + "</section>"
        '<section aria-labelledby="h-registered"><h2 id="h-registered">Registered sessions</h2>'
        + _table(
            "Sessions",
            ["Session", "Resource", "Type", "Channels", "Registered"],
            session_rows,
            "No session registered.",
        )
        + _table(
            "Multiplexer sessions",
            ["Session", "Resource", "Multiplexer type"],
            mux_rows,
            "No multiplexer session registered.",
        )
        + "</section>"
        '<section aria-labelledby="h-events"><h2 id="h-events">Recent events</h2>'
        + _table(
            "Recent events, newest first",
            ["Revision", "Time (UTC)", "Kind", "Sessions", "By", "Reason"],
            event_rows,
            "No events yet.",
        )
        + "</section>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No favicon: an empty data URL keeps the browser from asking for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"<title>pinbroker status</title><style>{_STYLE}</style></head>"
        "<body><header><h1>pinbroker status</h1>"
        '<p class="meta">Updates: <span id="connection" data-connected="no">connecting</span></p>'
        '<p id="release-result" role="status"></p></header>'
        f'<main id="live">{live}</main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
