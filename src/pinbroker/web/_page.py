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
body{font-family:system-ui,sans-serif;margin:1rem 2rem;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #bbb;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#eee}
.grid td{font-size:.85em}
[data-state=free]{background:#d8f5d8}
[data-state=held]{background:#f8c9c9}
[data-state=wanted]{background:#fbe7a6}
.cell{display:block;padding:1px 3px;margin:1px 0;border-radius:3px}
.legend span{padding:0 .4rem;margin-right:.4rem;border-radius:3px}
.empty{color:#555;font-style:italic}
form.release{display:flex;gap:.3rem;align-items:center}
"""

_SCRIPT = """
(function () {
  "use strict";
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.pathname, {headers: {"Accept": "text/html"}})
      .then(function (r) { return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("live");
        var live = document.getElementById("live");
        if (fresh && live) { live.innerHTML = fresh.innerHTML; }
      })
      .catch(function () {});
  }
  function schedule() { if (pending === null) { pending = setTimeout(refresh, 100); } }
  if (window.EventSource) {
    var source = new EventSource("/api/events/stream");
    source.onmessage = schedule;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("release")) { return; }
    event.preventDefault();
    var out = document.getElementById("release-result");
    var body = {session_names: [form.dataset.releaseSession],
                reason: form.elements.namedItem("reason").value};
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


def _holder(owner: Mapping[str, Any] | None) -> str:
    if not owner:
        return "-"
    if owner.get("username") and owner.get("hostname"):
        return f"{owner['username']}@{owner['hostname']}"
    return str(owner.get("username") or owner.get("hostname") or owner.get("peer") or "-")


def _session(name: str, state: str, text: str | None = None, title: str = "") -> str:
    title_attr = f' title="{_e(title)}"' if title else ""
    return (
        f'<span class="cell" data-session="{_e(name)}" data-state="{_e(state)}"{title_attr}>'
        f"{_e(name if text is None else text)}</span>"
    )


def _table(caption: str, headers: Iterable[str], rows: list[str], empty: str) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _pin_map_section(summary: JsonObject, grid: JsonObject) -> str:
    sites = grid["sites"]
    head = '<th scope="col">Pin</th>' + "".join(f'<th scope="col">Site {_e(s)}</th>' for s in sites)
    rows = []
    for pin in grid["pins"]:
        by_site = {entry["site"]: entry["connections"] for entry in pin["sites"]}
        cells = []
        for site in [-1] if pin["system"] else sites:
            parts = [
                _session(
                    c["session_name"],
                    c["state"],
                    f"{c['resource_name']}/{c['channel']}",
                    f"{c['session_name']} ({c['instrument_type_id']}) channel {c['channel']}",
                )
                for c in by_site.get(site, [])
            ]
            span = f' colspan="{len(sites)}"' if pin["system"] and sites else ""
            cells.append(f"<td{span}>{''.join(parts) or '-'}</td>")
        label = f"{pin['pin']} (system)" if pin["system"] else pin["pin"]
        rows.append(f'<tr><th scope="row">{_e(label)}</th>{"".join(cells)}</tr>')
    loaded = f", loaded {summary['loaded']}" if summary.get("loaded") else ""
    caption = (
        f"Pin map {summary['id']}: {len(summary['pins'])} pins, {len(sites)} sites, "
        f"{summary['instruments']} instruments{loaded}"
    )
    return (
        f'<table class="grid" data-pin-map="{_e(summary["id"])}"><caption>{_e(caption)}</caption>'
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
                f'<label>Reason <input name="reason" required></label>'
                f'<button type="submit">Force release</button></form></td>'
            )
        held_rows.append(
            "<tr>"
            f"<td>{_session(h['session_name'], 'held')}</td>"
            f"<td>{_e(info.get('resource_name') or '-')}</td>"
            f"<td>{_e(info.get('instrument_type_id') or '-')}</td>"
            f"<td>{_e(_holder(h['owner']))}</td><td>{_e(h['since'])}</td>"
            f"<td>{_e(h['lease']['state'])}</td>{form}</tr>"
        )
    held_headers = ["Session", "Resource", "Type", "Holder", "Since", "Lease"]
    if can_release:
        held_headers.append("Action")
    held_names = {h["session_name"] for h in status["held"]}
    queue_rows = []
    for w in status["waiting"]:
        wanted = "".join(
            _session(n, "held" if n in held_names else "wanted") for n in w["session_names"]
        )
        blocked = ", ".join(f"reservation {b}" for b in w["blocked_by"]) or "-"
        queue_rows.append(
            f'<tr data-queue-position="{_e(w["position"])}"><td>{_e(w["position"])}</td>'
            f"<td>{_e(_holder(w['owner']))}</td><td>{wanted}</td><td>{_e(w['since'])}</td>"
            f"<td>{_e(w['deadline'] or 'none')}</td>"
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
        f"<td>{_e(ev['time'])}</td><td>{_e(ev['kind'])}</td>"
        f"<td>{_e(', '.join(ev['session_names']) or '-')}</td>"
        f"<td>{_e(_holder(ev['owner']))}</td><td>{_e(ev['reason'] or '')}</td></tr>"
        for ev in reversed(events[-RECENT_EVENTS:])
    ]
    grids = "".join(_pin_map_section(summary, grid) for summary, grid in pin_maps)
    live = (
        f'<p>Revision <span data-revision="{_e(status["revision"])}">'
        f"{_e(status['revision'])}</span></p>"
        '<section aria-labelledby="h-pin-maps"><h2 id="h-pin-maps">Pin maps</h2>'
        '<p class="legend">Legend: <span data-state="free">free</span>'
        '<span data-state="held">held</span><span data-state="wanted">wanted</span></p>'
        f"{grids or '<p class=empty>No pin map loaded.</p>'}</section>"
        '<section aria-labelledby="h-held"><h2 id="h-held">Held sessions</h2>'
        f"{_table('Held sessions', held_headers, held_rows, 'Nothing is held.')}"
        '<p id="release-result" role="status"></p></section>'
        '<section aria-labelledby="h-queue"><h2 id="h-queue">Queue</h2>'
        + _table(
            "Waiting requests, next first",
            ["Position", "Requester", "Sessions", "Waiting since", "Deadline", "Blocked by"],
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
        f"<title>pinbroker status</title><style>{_STYLE}</style></head>"
        "<body><header><h1>pinbroker status</h1></header>"
        f'<main id="live">{live}</main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
