/**
 * The inspector page (GET /inspector, index.html): the sync and upload statecharts with each
 * machine's current state lit, the latest transitions and events, and the counters.
 *
 * Endpoints it reads (none needs an API key; the paths are relative, so the page also works
 * behind a path prefix):
 * - GET memory/machines — the machines' definitions (drawn by chart.js) and current states;
 *   read at start and again after every reconnect of the stream.
 * - GET memory/events — Server-Sent Events: `snapshot` (current states on connect), `transition`
 *   and `event`. Reopened with a backoff (1 s doubling to 15 s) when the browser gives up.
 * - GET memory/stats — the counters, polled every 2 s.
 *
 * Every drawn state is a `<g data-machine="sync|upload" data-state="<name>" data-active>`;
 * exactly the current state of each machine has data-active="true" (CONTRACT.md, and what
 * test/inspector.test.ts reads).
 */
import { draw } from "./chart.js";
import { $, ago, clock, el, tone } from "./dom.js";
import { trLabel } from "./layout.js";

const MACHINES = ["sync", "upload"];
const MAX_LOG = 50;
const STATS_EVERY_MS = 2000;

let defs = null;
let defsKey = "";
let charts = {};
const current = { sync: null, upload: null };
const since = { sync: null, upload: null };
// Counts the live updates of each machine: a memory/machines answer that raced with one is
// older than what the stream said, so it must not overwrite it.
const seq = { sync: 0, upload: 0 };

let source = null;
let retryMs = 1000;
let retryTimer = null;
let everOpened = false;

/* ---------- charts ---------- */

function transitionTable(def) {
  const table = el("table", { class: "tr" });
  for (const s of def.states) {
    for (const t of s.transitions) {
      const tr = el("tr");
      tr.append(el("td", null, s.name), el("td", null, t.event), el("td", null, `→ ${t.target}`), el("td", { class: "g" }, t.guard ? `if ${t.guard}` : ""));
      table.appendChild(tr);
    }
  }
  for (const g of def.global ?? []) {
    const tr = el("tr");
    tr.append(el("td", { class: "g" }, "any"), el("td", null, g.event), el("td", null, g.target ? `→ ${g.target}` : "(stays)"), el("td"));
    table.appendChild(tr);
  }
  return table;
}

function renderCharts() {
  const host = $("charts");
  host.textContent = "";
  charts = {};
  for (const m of MACHINES) {
    const def = defs?.[m];
    const card = el("section", { class: "card", id: `card-${m}` });
    const h = el("h2");
    h.append(el("span", { class: "id" }, m), el("span", { class: "cur", id: `cur-${m}` }, "…"));
    card.appendChild(h);
    if (!def) {
      card.appendChild(el("div", { class: "empty-note" }, "no definition"));
      host.appendChild(card);
      continue;
    }
    const chart = el("div", { class: "chart" });
    chart.appendChild(draw(m, def));
    card.append(chart, el("div", { class: "error-line", id: `err-${m}`, hidden: "" }), el("div", { class: "next", id: `next-${m}` }));
    const targetless = (def.global ?? []).filter((g) => !g.target);
    if (targetless.length) {
      const gl = el("div", { class: "globals" }, "Handled in every state: ");
      for (const g of targetless) gl.appendChild(el("span", { class: "chip" }, g.event));
      card.appendChild(gl);
    }
    const details = el("details");
    const count = def.states.reduce((n, s) => n + s.transitions.length, 0);
    details.append(el("summary", null, `All transitions (${count})`), transitionTable(def));
    card.appendChild(details);
    host.appendChild(card);
    charts[m] = card;
  }
  for (const m of MACHINES) if (current[m]) paint(m, false);
}

/* ---------- current states ---------- */

function setCurrent(m, view, at, flash) {
  if (!view || typeof view.state !== "string") return;
  const prev = current[m];
  if (!prev || prev.state !== view.state) since[m] = at || null;
  current[m] = { state: view.state, attempt: view.attempt || 0, lastError: view.lastError || null };
  paint(m, flash && (!prev || prev.state !== view.state));
}

function paint(m, flash) {
  const card = charts[m], cur = current[m];
  if (!card || !cur) return;
  for (const node of card.querySelectorAll(".node[data-machine]")) {
    const on = node.getAttribute("data-state") === cur.state;
    node.setAttribute("data-active", on ? "true" : "false");
    if (!on || flash) node.classList.remove("flash");
    if (on && flash) {
      void node.getBoundingClientRect(); // a reflow between, so the animation starts again
      node.classList.add("flash");
    }
  }
  for (const edge of card.querySelectorAll(".edge[data-from]")) edge.classList.toggle("out", edge.getAttribute("data-from") === cur.state);
  $(`cur-${m}`).replaceChildren(
    "now ",
    el("b", { class: `tag ${tone(cur.state)}` }, cur.state),
    `${since[m] ? ` since ${clock(since[m])}` : ""} · attempt ${cur.attempt}`,
  );
  const err = $(`err-${m}`);
  err.hidden = !cur.lastError;
  err.textContent = cur.lastError ? `last error: ${cur.lastError}` : "";
  const next = $(`next-${m}`);
  next.textContent = "";
  const st = defs?.[m]?.states.find((s) => s.name === cur.state);
  if (st) {
    next.append(
      st.transitions.length ? "From here: " : "No transitions out of this state.",
      ...st.transitions.map((t) => el("span", { class: "chip" }, `${trLabel(t)} → ${t.target}`)),
    );
  }
}

function flashEdge(m, from, to) {
  const card = charts[m];
  if (!card || !from) return;
  for (const edge of card.querySelectorAll(".edge[data-from]")) {
    if (edge.getAttribute("data-from") === from && edge.getAttribute("data-to") === to) {
      edge.classList.add("hot");
      setTimeout(() => edge.classList.remove("hot"), 2500);
    }
  }
}

/* ---------- activity log ---------- */

function log(kind, machine, build, at) {
  const d = el("span", { class: "d" });
  build(d);
  const li = el("li", { class: kind });
  li.append(el("span", { class: "t" }, clock(at, true)), el("span", { class: `m ${machine || "page"}` }, machine || "page"), d);
  const list = $("log");
  list.prepend(li);
  while (list.children.length > MAX_LOG) list.lastChild.remove();
  $("log-empty").hidden = true;
  applyFilter();
}

function applyFilter() {
  $("log").classList.toggle("hide-ev", !$("show-events").checked);
}

/* ---------- definitions and current states ---------- */

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store", headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

async function resync() {
  const started = { ...seq };
  const j = await getJson("memory/machines");
  const key = JSON.stringify(j.definitions);
  if (key !== defsKey) {
    defs = j.definitions;
    defsKey = key;
    renderCharts();
  }
  for (const m of MACHINES) if (seq[m] === started[m] && j.current) setCurrent(m, j.current[m], null, false);
}

/* ---------- live stream ---------- */

function setConn(state, text) {
  const pill = $("conn");
  pill.setAttribute("data-conn", state);
  pill.textContent = text;
}

/** An SSE listener that hands the parsed JSON payload on, and ignores one that is not JSON. */
const onJson = (handler) => (ev) => {
  let data;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return;
  }
  handler(data);
};

function onTransition(t) {
  if (!MACHINES.includes(t.machine)) return;
  seq[t.machine]++;
  setCurrent(t.machine, { state: t.to, attempt: t.attempt, lastError: t.lastError }, t.at, true);
  flashEdge(t.machine, t.from, t.to);
  log("tr", t.machine, (d) => {
    if (t.from) d.append(el("span", { class: `tag ${tone(t.from)}` }, t.from), " → ");
    d.appendChild(el("span", { class: `tag ${tone(t.to)}` }, t.to));
    if (t.attempt) d.append(` · attempt ${t.attempt}`);
    if (t.lastError && t.to === "backoff") d.appendChild(el("span", { class: "err" }, t.lastError));
  }, t.at);
}

function connect() {
  retryTimer = null;
  source?.close();
  setConn(everOpened ? "reconnecting" : "connecting", everOpened ? "reconnecting…" : "connecting…");
  const es = new EventSource("memory/events");
  source = es;
  es.addEventListener("open", () => {
    retryMs = 1000;
    $("conn").removeAttribute("data-lost");
    setConn("live", "live");
    if (everOpened) log("sys", null, (d) => (d.textContent = "event stream reopened — states resynced"));
    everOpened = true;
    resync().catch(() => {
      /* the snapshot event carries the states too */
    });
  });
  es.addEventListener("snapshot", onJson((s) => {
    for (const m of MACHINES) {
      if (!s[m]) continue;
      seq[m]++;
      setCurrent(m, s[m], null, false);
    }
  }));
  es.addEventListener("transition", onJson(onTransition));
  es.addEventListener("event", onJson((e) => {
    log("ev", e.machine, (d) => d.append("event ", el("code", null, e.event)), e.at);
  }));
  es.addEventListener("error", () => {
    setConn("reconnecting", "reconnecting…");
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an answer that is not a stream): reopen it ourselves, backing off.
      es.close();
      if (!retryTimer) {
        retryTimer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 15000);
      }
    }
    const pill = $("conn");
    if (everOpened && !pill.hasAttribute("data-lost")) {
      pill.setAttribute("data-lost", "");
      log("sys", null, (d) => (d.textContent = "event stream lost — reconnecting"));
    }
  });
}

/* ---------- counters ---------- */

function setStat(name, value, sub, cls) {
  const box = document.querySelector(`[data-stat="${name}"]`);
  if (!box) return;
  const v = box.querySelector(".v"), s = box.querySelector(".s");
  v.textContent = value;
  v.className = cls ? `v ${cls}` : "v";
  if (s) s.textContent = sub || "";
}

function showStats(st) {
  const firstCopy = st.snapshot && st.snapshot.complete === false;
  setStat(
    "total_memories",
    typeof st.total_memories === "number" ? st.total_memories.toLocaleString() : "—",
    firstCopy ? `first copy: ${(st.snapshot.rows_copied || 0).toLocaleString()} rows` : st.table || "",
  );
  setStat("last_sync", st.last_sync ? clock(st.last_sync) : "never", st.last_sync ? ago(st.last_sync) : "");
  setStat("pool_connected", st.pool_connected ? "connected" : "unreachable", `change feed ${st.feed_connected ? "listening" : "down"}`, st.pool_connected ? "good" : "bad");
  const ob = st.outbox || {};
  setStat("outbox", `${ob.pending || 0} / ${ob.parked || 0}`, `pending / parked · ${ob.uploaded || 0} uploaded`, ob.parked ? "bad" : ob.pending ? "warn" : "");
  setStat("attempt", String(st.attempt || 0), `sync state ${st.state || "?"}`, st.attempt ? "warn" : "");
  const errText = st.last_error || ob.last_error || "";
  setStat("last_error", errText || "none", errText ? (st.last_error ? "sync" : "upload") : "", errText ? "bad" : "good");
  $("where").textContent = (st.table || "") + (st.local_db_path ? ` → ${st.local_db_path}` : "");
  $("stats-updated").textContent = `stats ${clock(null)}`;
}

async function refreshStats() {
  try {
    showStats(await getJson("memory/stats"));
  } catch {
    $("stats-updated").textContent = `stats unavailable ${clock(null)}`;
  } finally {
    setTimeout(refreshStats, STATS_EVERY_MS);
  }
}

/* ---------- start (a module script runs once the document is parsed) ---------- */

$("show-events").addEventListener("change", applyFilter);
void refreshStats();
let firstDelayMs = 500;
(function first() {
  resync().then(connect, () => {
    $("charts").replaceChildren(el("div", { class: "card empty-note" }, "Cannot read memory/machines yet — retrying…"));
    setTimeout(first, firstDelayMs);
    firstDelayMs = Math.min(firstDelayMs * 2, 10000);
  });
})();
