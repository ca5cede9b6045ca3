"""The console's HTML: the page, its live panels and the rider page, every value escaped.

Rider ids, zone ids, alert texts and operator names come from input topics or from people, so
everything rendered goes through :func:`html.escape` (:func:`e`); the script fills the live feed
with ``textContent`` only. The script and the style are served from ``/static/`` so the page's
Content-Security-Policy can forbid inline script.

>>> e('<img src=x onerror="alert(1)">')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
>>> "<script>" in panels({"clock": 0, "zones": [{"zone_id": "<script>", "heat_index_c": None,
...     "heat_category": "unknown", "air_temp_c": None, "relative_humidity_pct": None, "wind_speed_ms": None,
...     "precipitation_mm_h": None, "road_flooding": False, "riders_online": 0, "riders_high_or_severe": 0,
...     "alerts_last_hour": 0}], "open_questions": [], "model_versions": {}, "conservative_mode": False,
...     "dead_letters": 0, "dead_letter_latest": "", "dead_letters_per_minute": []})
False
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote


def e(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _time(epoch: float) -> str:
    if not epoch:
        return "no events yet"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}{unit}"


def _rider_link(rider_id: str) -> str:
    return f'<a href="/rider/{e(quote(rider_id, safe=""))}">{e(rider_id)}</a>'


def page(notice: str) -> str:
    """The whole page; the panels are fetched and refreshed by ``/static/console.js``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>riskstream safety console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/console.css"></head>
<body>
<header><h1>riskstream safety console</h1><p class="notice">{e(notice)}</p>
<label>Your name (written with each action): <input id="operator" maxlength="64" value="safety-team"></label></header>
<main>
<div id="panels" aria-live="polite">loading…</div>
<section><h2>Live feed</h2><ul id="feed"></ul></section>
</main>
<script src="/static/console.js"></script>
</body></html>"""


def panels(snap: dict[str, Any]) -> str:
    """Zones, open questions, models and dead letters: the part of the page refreshed as records arrive."""
    rows = []
    for z in snap["zones"]:
        weather = (f"{_num(z['air_temp_c'], ' °C')}, {_num(z['relative_humidity_pct'], ' %', 0)} RH, "
                   f"wind {_num(z['wind_speed_ms'], ' m/s')}, rain {_num(z['precipitation_mm_h'], ' mm/h')}"
                   + (", roads flooded" if z["road_flooding"] else ""))
        rows.append(f"<tr><td>{e(z['zone_id'])}</td><td>{e(_num(z['heat_index_c'], ' °C'))}</td>"
                    f"<td class=\"cat-{e(z['heat_category'].replace(' ', '-'))}\">{e(z['heat_category'])}</td>"
                    f"<td>{e(weather)}</td><td>{z['riders_online']}</td><td>{z['riders_high_or_severe']}</td>"
                    f"<td>{z['alerts_last_hour']}</td></tr>")
    zones = ("<table id=\"zones\"><thead><tr><th>zone</th><th>heat index</th><th>category</th><th>weather</th>"
             "<th>riders online</th><th>high/severe band</th><th>alerts last hour</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>") if rows else "<p>No zone weather or riders yet.</p>"
    qs = []
    for q in snap["open_questions"]:
        status = {"asked": "asked “Are you OK?”, no answer yet",
                  "escalated": f"escalated ({(q['escalation_reason'] or '').replace('_', ' ')})",
                  "acknowledged": f"acknowledged by {q['handled_by']}"}[q["status"]]
        actions = "".join(
            f'<button type="button" class="act" data-action="{a}" data-alert="{e(q["alert_id"])}">{label}</button>'
            for a, label in (("acknowledge", "Acknowledge"), ("resolve", "Resolve"))
            if not (a == "acknowledge" and q["status"] == "acknowledged"))
        qs.append(f'<tr class="q-{e(q["status"])}" data-alert="{e(q["alert_id"])}"><td>{_rider_link(q["rider_id"])}</td>'
                  f"<td>{e(q['zone_id'] or '–')}</td><td>{e(_age(q['age_s']))}</td><td>{e(q['last_alert'])}</td>"
                  f"<td class=\"status\">{e(status)}</td><td>{actions}</td></tr>")
    questions = ("<table id=\"questions\"><thead><tr><th>rider</th><th>zone</th><th>age</th><th>last alert</th>"
                 "<th>status</th><th>action</th></tr></thead><tbody>" + "".join(qs) + "</tbody></table>"
                 ) if qs else '<p id="no-questions">No open suspected falls or escalations.</p>'
    models = ", ".join(f"{k} {v}" for k, v in sorted(snap["model_versions"].items())) or "none seen yet"
    mode = ("ON: models failed, rule-based scores; premiums held" if snap["conservative_mode"] else "off")
    per_minute = " · ".join(f"{datetime.fromtimestamp(m, timezone.utc):%H:%M} {n}"
                            for m, n in snap["dead_letters_per_minute"]) or "none"
    latest = f" — latest: {snap['dead_letter_latest']}" if snap["dead_letter_latest"] else ""
    return (f"<p class=\"clock\">stream time {e(_time(snap['clock']))}</p>"
            f"<section><h2>Open suspected falls and escalations</h2>{questions}</section>"
            f"<section><h2>Zones</h2>{zones}</section>"
            f"<section><h2>System</h2><p>models: {e(models)}</p>"
            f"<p class=\"{'conservative' if snap['conservative_mode'] else ''}\">conservative mode: {e(mode)}</p>"
            f"<p>dead letters: {snap['dead_letters']}{e(latest)}</p><p>per minute: {e(per_minute)}</p></section>")


def rider_page(rider_id: str, lines: list[str], hours: float) -> str:
    """One rider's decisions in plain words (as ``riskstream audit`` prints them, without the input values)."""
    body = ("<ol id=\"decisions\">" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ol>" if lines else
            f"<p>No decisions for this rider in the last {hours:g} hours of stream time.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rider {e(rider_id)} · riskstream</title>
<link rel="stylesheet" href="/static/console.css"></head>
<body><header><h1>Rider {e(rider_id)}</h1><p><a href="/">back to the console</a></p>
<p class="notice">Decisions of the last {hours:g} hours of stream time, oldest first, from the audit records the console read: what was
decided, why, the thresholds, the model versions. No biometrics or positions are shown; the input values are in
<code>riskstream audit --rider</code>.</p></header>
<main>{body}</main></body></html>"""


CSS = """
body { font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #1b1b1b; background: #fafafa; }
header h1 { margin-bottom: .2rem; } .notice { color: #555; }
table { border-collapse: collapse; width: 100%; margin-bottom: .5rem; background: white; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef; } section { margin: 1rem 0; }
.q-escalated { background: #fdd; } .q-asked { background: #fff4d6; } .q-acknowledged { background: #e8f4ff; }
.cat-danger, .cat-extreme-danger { color: #b00; font-weight: bold; } .cat-extreme-caution { color: #c60; }
.conservative { color: #b00; font-weight: bold; } .error { color: #b00; }
#feed { list-style: none; padding: 0; max-height: 20rem; overflow-y: auto; background: white; }
#feed li { border-bottom: 1px solid #eee; padding: .2rem .4rem; } #feed .danger { color: #b00; }
#feed .warning { color: #c60; } button { margin-right: .3rem; }
"""

JS = """
"use strict";
const panels = document.getElementById("panels");
const feed = document.getElementById("feed");
const operator = document.getElementById("operator");
operator.value = localStorage.getItem("riskstream-operator") || operator.value;
operator.addEventListener("change", () => localStorage.setItem("riskstream-operator", operator.value));
let pending = false;
let shown = "";
async function refresh() {
  if (pending) return;
  pending = true;
  try {
    const r = await fetch("/panels", {credentials: "same-origin"});
    const text = r.ok ? await r.text() : null;
    if (text !== null && text !== shown) { panels.innerHTML = text; shown = text; }  // server-rendered, escaped
  } finally { pending = false; }
}
function addFeed(item) {
  const li = document.createElement("li");
  li.className = item.severity || "";
  const when = new Date(item.ts * 1000).toISOString().replace("T", " ").slice(0, 19);
  li.textContent = when + "  " + item.text;
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastChild.remove();
}
panels.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button.act");
  if (!b) return;
  b.disabled = true;
  const r = await fetch("/api/ack", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Riskstream-Console": "1"},
    body: JSON.stringify({alert_id: b.dataset.alert, action: b.dataset.action, by: operator.value})});
  if (!r.ok) { alert(await r.text()); b.disabled = false; }
});
const events = new EventSource("/events");
events.addEventListener("feed", (m) => { for (const item of JSON.parse(m.data)) addFeed(item); });
events.addEventListener("update", refresh);
fetch("/api/state", {credentials: "same-origin"}).then((r) => r.json())
  .then((s) => { for (const item of s.feed.slice().reverse()) addFeed(item); });
refresh();
setInterval(refresh, 5000);
"""
