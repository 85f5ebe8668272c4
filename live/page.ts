/**
 * The live page itself: HTML, script and style as strings, served by Herald
 * (no build step, nothing from a CDN). The script renders every value with
 * `textContent`, never as HTML, and the page's CSP allows no inline script.
 *
 * @module
 */

const HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/live/app.css">
<title>Herald live events</title>
</head>`;

/** The page; `logout` adds a log-out button (when the page has a key). */
export function livePage(logout: boolean): string {
  const out = logout
    ? `<form method="post" action="/live/logout"><button type="submit">Log out</button></form>`
    : "";
  return `${HEAD}
<body>
<header>
  <h1>Herald live</h1>
  <span id="conn" class="conn">connecting…</span>
  <span id="rate" class="rate">0 events/s</span>
  <span id="worker" class="worker"></span>
  ${out}
</header>
<nav>
  <label>Action <select id="f-action"><option value="">all</option></select></label>
  <label>Status <select id="f-status">
    <option value="">all</option>
    <option value="accepted">accepted</option>
    <option value="rejected">rejected</option>
  </select></label>
  <label>Search <input id="f-text" type="search" placeholder="any text" autocomplete="off"></label>
  <button id="pause" type="button">Pause</button>
  <button id="clear" type="button">Clear</button>
  <span id="shown" class="shown"></span>
</nav>
<div id="banner" class="banner" hidden></div>
<div id="sampled" class="sampled" hidden></div>
<main>
  <div class="list"><table>
    <thead><tr>
      <th>time</th><th>status</th><th>action / path</th><th>event type / error</th>
      <th>host</th><th>fields / problems</th><th>request id</th>
    </tr></thead>
    <tbody id="rows"></tbody>
  </table></div>
  <aside id="detail" hidden>
    <div class="detail-head"><strong>Whole JSON</strong>
      <button id="close" type="button">Close</button></div>
    <pre id="json"></pre>
  </aside>
</main>
<script src="/live/app.js"></script>
</body>
</html>
`;
}

/** The key prompt; `wrong` says the last key was wrong. */
export function loginPage(wrong: boolean): string {
  const message = wrong ? `<p class="error">Wrong key.</p>` : "";
  return `${HEAD}
<body class="login">
<h1>Herald live</h1>
<p>This page needs its key (<code>live.key_env</code> or <code>live.key_file</code>).</p>
${message}
<form method="post" action="/live/login">
  <label>Key <input name="key" type="password" autocomplete="current-password" autofocus></label>
  <button type="submit">Open</button>
</form>
</body>
</html>
`;
}

/** The page's style. */
export const LIVE_CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --muted: #6e7781; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; }
header, nav { display: flex; gap: 12px; align-items: center; padding: 6px 12px; flex-wrap: wrap; }
header { border-bottom: 1px solid #8884; }
header form { margin-left: auto; }
h1 { font-size: 16px; margin: 0; }
.conn.on { color: var(--ok); } .conn.off { color: var(--bad); }
.rate, .worker, .shown { color: var(--muted); }
.banner { background: #fff8c5; color: #4d2d00; padding: 6px 12px; }
.sampled { background: #ddf4ff; color: #0a3069; padding: 6px 12px; }
main { display: flex; align-items: flex-start; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #8883; vertical-align: top; }
th { position: sticky; top: 0; background: Canvas; }
td { font-family: ui-monospace, monospace; white-space: nowrap; }
td.fields, td.problems { white-space: normal; word-break: break-word; min-width: 16em; }
td.id { font-size: 11px; color: var(--muted); }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #8881; }
tr.selected { background: #8883; }
tr.rejected td.status { color: var(--bad); font-weight: bold; }
tr.accepted td.status { color: var(--ok); }
td.problems span { display: block; }
.list { flex: 1 1 auto; min-width: 0; overflow-x: auto; }
aside { flex: 0 0 32%; min-width: 260px; position: sticky; top: 0; padding: 8px;
  border-left: 1px solid #8884; max-height: 100vh; overflow: auto; }
.detail-head { display: flex; justify-content: space-between; }
pre { white-space: pre-wrap; word-break: break-word; }
body.login { padding: 24px; }
.error { color: var(--bad); }
`;

/** The page's script. */
export const LIVE_JS = `"use strict";
(function () {
  var BASE = ["event_id", "event_type", "action", "received_at", "host", "user_agent",
    "accept", "client_ip", "request_id", "source"];
  var rows = document.getElementById("rows");
  var fAction = document.getElementById("f-action");
  var fStatus = document.getElementById("f-status");
  var fText = document.getElementById("f-text");
  var pauseButton = document.getElementById("pause");
  var banner = document.getElementById("banner");
  var sampled = document.getElementById("sampled");
  var conn = document.getElementById("conn");
  var rate = document.getElementById("rate");
  var workerInfo = document.getElementById("worker");
  var shown = document.getElementById("shown");
  var detail = document.getElementById("detail");
  var json = document.getElementById("json");
  var maxRows = 1000;
  var paused = false;
  var held = [];
  var droppedByServer = 0;
  var droppedHere = 0;
  var actions = new Set();
  var haystack = new WeakMap();
  var records = new WeakMap();
  var selected = null;

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function timeOf(iso) {
    return typeof iso === "string" && iso.length >= 23 ? iso.slice(11, 23) : String(iso);
  }

  function problemsOf(body) {
    var out = [];
    if (!body || typeof body !== "object") return out;
    if (Array.isArray(body.fields)) {
      body.fields.forEach(function (f) { out.push(f.field + ": " + f.problem); });
    }
    if (Array.isArray(body.results)) {
      body.results.forEach(function (r) {
        if (r.status !== "rejected") return;
        var line = "[" + r.index + "] " + r.error;
        if (Array.isArray(r.fields)) {
          line += " (" + r.fields.map(function (f) { return f.field + ": " + f.problem; })
            .join("; ") + ")";
        }
        out.push(line);
      });
    }
    return out;
  }

  function buildRow(record) {
    var tr = document.createElement("tr");
    if (record.kind === "accepted") {
      var e = record.event;
      tr.className = "accepted";
      tr.dataset.status = "accepted";
      tr.dataset.action = e.action;
      cell(tr, timeOf(e.received_at));
      cell(tr, "accepted", "status");
      cell(tr, e.action);
      cell(tr, e.event_type);
      cell(tr, e.host);
      var fields = Object.keys(e).filter(function (k) { return BASE.indexOf(k) < 0; })
        .map(function (k) { return k + "=" + (typeof e[k] === "string" ? e[k] : JSON.stringify(e[k])); });
      cell(tr, fields.join("  "), "fields");
      cell(tr, e.request_id, "id");
      noteAction(e.action);
    } else {
      var body = record.body || {};
      tr.className = "rejected";
      tr.dataset.status = "rejected";
      tr.dataset.action = "";
      cell(tr, timeOf(record.time));
      cell(tr, record.status, "status");
      cell(tr, record.method + " " + record.path);
      cell(tr, body.error || "");
      cell(tr, "");
      var td = cell(tr, "", "problems");
      var problems = problemsOf(body);
      if (problems.length === 0 && body.message) problems.push(body.message);
      problems.forEach(function (p) {
        var span = document.createElement("span");
        span.textContent = p;
        td.appendChild(span);
      });
      cell(tr, record.request_id, "id");
    }
    tr.dataset.time = record.kind === "accepted" ? record.event.received_at : record.time;
    records.set(tr, record);
    haystack.set(tr, JSON.stringify(record).toLowerCase());
    applyFilter(tr);
    return tr;
  }

  function noteAction(name) {
    if (typeof name !== "string" || actions.has(name)) return;
    actions.add(name);
    fAction.appendChild(new Option(name, name));
  }

  function applyFilter(tr) {
    var a = fAction.value, s = fStatus.value, t = fText.value.trim().toLowerCase();
    var visible = (!a || tr.dataset.action === a) && (!s || tr.dataset.status === s) &&
      (!t || haystack.get(tr).indexOf(t) >= 0);
    tr.hidden = !visible;
  }

  function refilter() {
    var n = 0;
    for (var tr = rows.firstElementChild; tr; tr = tr.nextElementSibling) {
      applyFilter(tr);
      if (!tr.hidden) n++;
    }
    shown.textContent = n + " of " + rows.childElementCount + " shown";
  }

  function add(record) {
    if (paused) {
      held.push(record);
      if (held.length > maxRows) { held.shift(); droppedHere++; showBanner(); }
      return;
    }
    // Newest first by time: another worker's buffer may arrive after newer rows.
    var tr = buildRow(record);
    var at = rows.firstElementChild;
    while (at && at.dataset.time > tr.dataset.time) at = at.nextElementSibling;
    rows.insertBefore(tr, at);
    while (rows.childElementCount > maxRows) rows.removeChild(rows.lastElementChild);
  }

  function showBanner() {
    var parts = [];
    if (droppedByServer > 0) {
      parts.push(droppedByServer + " events dropped: this page could not keep up with the stream");
    }
    if (droppedHere > 0) parts.push(droppedHere + " events dropped while paused");
    banner.textContent = parts.join(" · ");
    banner.hidden = parts.length === 0;
  }

  function onStatus(s) {
    maxRows = s.buffer_events || maxRows;
    var perS = s.accepted.seen;
    rate.textContent = perS + " events/s · " + s.rejected.seen + " rejected/s";
    if (s.workers <= 1) workerInfo.textContent = "";
    else if (s.worker !== null) {
      workerInfo.textContent = "worker " + s.worker + " of " + s.workers +
        " (this page sees only its worker)";
    } else {
      workerInfo.textContent = s.sources === s.workers
        ? "all " + s.workers + " workers"
        : s.sources + " of " + s.workers + " workers answering";
    }
    if (s.dropped > droppedByServer) { droppedByServer = s.dropped; showBanner(); }
    var notes = [];
    if (s.accepted.kept < s.accepted.seen) {
      notes.push("sampled: kept " + s.accepted.kept + " of " + s.accepted.seen + " events");
    }
    if (s.rejected.kept < s.rejected.seen) {
      notes.push("kept " + s.rejected.kept + " of " + s.rejected.seen + " rejections");
    }
    sampled.textContent = notes.length ? notes.join(" · ") + " in the last second (at most " +
      s.max_events_per_s + " events/s are shown)" : "";
    sampled.hidden = notes.length === 0;
    shown.textContent = rows.querySelectorAll("tr:not([hidden])").length + " of " +
      rows.childElementCount + " shown";
  }

  rows.addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr");
    if (!tr || !records.has(tr)) return;
    if (selected) selected.classList.remove("selected");
    selected = tr;
    tr.classList.add("selected");
    json.textContent = JSON.stringify(records.get(tr), null, 2);
    detail.hidden = false;
  });
  document.getElementById("close").addEventListener("click", function () {
    detail.hidden = true;
    if (selected) selected.classList.remove("selected");
    selected = null;
  });
  document.getElementById("clear").addEventListener("click", function () {
    rows.textContent = "";
    refilter();
  });
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      var pending = held;
      held = [];
      pending.forEach(add);
    }
  });
  [fAction, fStatus].forEach(function (el) { el.addEventListener("change", refilter); });
  fText.addEventListener("input", refilter);

  var source = new EventSource("/live/stream");
  source.onopen = function () { conn.textContent = "live"; conn.className = "conn on"; };
  source.onmessage = function (ev) { add(JSON.parse(ev.data)); };
  source.addEventListener("status", function (ev) { onStatus(JSON.parse(ev.data)); });
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      conn.textContent = "closed: reload the page (a session expired, or too many viewers)";
    } else {
      conn.textContent = "reconnecting…";
    }
    conn.className = "conn off";
  };
})();
`;
