/**
 * GET /inspector: one self-contained HTML page (inline CSS and JS, nothing fetched from
 * elsewhere, works offline) that draws both statecharts from GET /memory/machines, lights
 * the current states live from GET /memory/events, lists the latest events and shows the
 * counters of GET /memory/stats.
 *
 * Every drawn state is a `<g data-machine="sync|upload" data-state="<name>" data-active>`;
 * exactly the current state of each machine has `data-active="true"`.
 *
 * The inline script uses no template literals (this file is one), no external URLs and only
 * relative paths (`memory/…`), so the page also works behind a path prefix.
 */

const STYLE = /* css */ `
:root {
  --bg: #f4f6fa; --card: #ffffff; --ink: #18202c; --muted: #5d6878; --line: #dfe4ec; --edge: #9aa5b5; --edge-hot: #18202c;
  --ok: #15803d; --ok-bg: #e7f6ec; --busy: #1d4ed8; --busy-bg: #e6eeff; --bad: #c2410c; --bad-bg: #fdeae4;
  --wait: #b45309; --wait-bg: #fdf3dc; --off: #64748b; --off-bg: #eef1f5; --other: #7c3aed; --other-bg: #f1eafe;
  --bad-strong: #dc2626; --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
header { display: flex; align-items: center; gap: 14px; padding: 14px 24px; background: #111827; color: #f8fafc; }
header h1 { font-size: 17px; font-weight: 650; margin: 0; letter-spacing: 0.2px; }
header h1 span { color: #94a3b8; font-weight: 450; }
header .where { color: #94a3b8; font: 12px var(--mono); margin-left: auto; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pill { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; font-weight: 600; padding: 3px 10px; border-radius: 999px; background: #374151; color: #e5e7eb; }
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.pill[data-conn="live"] { background: #052e16; color: #4ade80; }
.pill[data-conn="connecting"] { background: #422006; color: #fbbf24; }
.pill[data-conn="reconnecting"] { background: #450a0a; color: #f87171; }
main { padding: 18px 24px 28px; display: grid; gap: 18px; grid-template-columns: minmax(0, 1fr) 360px; align-items: start; }
@media (max-width: 1100px) { main { grid-template-columns: minmax(0, 1fr); } }
.stats { grid-column: 1 / -1; display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; min-width: 0; }
.stat .k { font-size: 11px; text-transform: uppercase; letter-spacing: 0.6px; color: var(--muted); font-weight: 600; }
.stat .v { font-size: 21px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stat .s { font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stat.err .v { font-size: 13px; font-weight: 500; white-space: normal; word-break: break-word; max-height: 3.9em; overflow: hidden; }
.stat .v.good { color: var(--ok); } .stat .v.bad { color: var(--bad-strong); } .stat .v.warn { color: var(--wait); }
.charts { display: grid; gap: 18px; min-width: 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px 12px; min-width: 0; }
.card h2 { font-size: 15px; margin: 0; display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
.card h2 .id { font-family: var(--mono); }
.card h2 .cur { font-size: 13px; font-weight: 500; color: var(--muted); }
.card h2 .cur b { font-weight: 650; }
.chart { margin-top: 8px; overflow-x: auto; }
.chart svg { display: block; max-width: 100%; height: auto; }
.next { margin-top: 6px; font-size: 12.5px; color: var(--muted); }
.next .chip, .globals .chip { display: inline-block; font-family: var(--mono); font-size: 11.5px; padding: 1px 7px; margin: 2px 4px 2px 0; border-radius: 6px; background: #eef1f5; color: var(--ink); }
.globals { margin-top: 4px; font-size: 12.5px; color: var(--muted); }
.error-line { margin-top: 6px; font-size: 12.5px; color: var(--bad-strong); font-family: var(--mono); word-break: break-word; }
details { margin-top: 8px; font-size: 12.5px; }
details summary { cursor: pointer; color: var(--muted); }
table.tr { border-collapse: collapse; margin-top: 6px; font-family: var(--mono); font-size: 12px; }
table.tr td { padding: 2px 14px 2px 0; border-bottom: 1px solid #eef1f5; }
table.tr td.g { color: var(--muted); }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
.node rect.box { stroke-width: 1.6; }
.node text.name { font-size: 13.5px; font-weight: 650; text-anchor: middle; dominant-baseline: central; }
.node text.inv { font-size: 10.5px; text-anchor: middle; dominant-baseline: central; opacity: 0.75; font-family: var(--mono); }
.node rect.inner { fill: none; stroke-width: 1; }
.node { transition: opacity 0.2s; }
.t-ok rect.box { fill: var(--ok-bg); stroke: var(--ok); } .t-ok text { fill: var(--ok); } .t-ok rect.inner { stroke: var(--ok); }
.t-busy rect.box { fill: var(--busy-bg); stroke: var(--busy); } .t-busy text { fill: var(--busy); } .t-busy rect.inner { stroke: var(--busy); }
.t-bad rect.box { fill: var(--bad-bg); stroke: var(--bad); } .t-bad text { fill: var(--bad); } .t-bad rect.inner { stroke: var(--bad); }
.t-wait rect.box { fill: var(--wait-bg); stroke: var(--wait); } .t-wait text { fill: var(--wait); } .t-wait rect.inner { stroke: var(--wait); }
.t-off rect.box { fill: var(--off-bg); stroke: var(--off); } .t-off text { fill: var(--off); } .t-off rect.inner { stroke: var(--off); }
.t-other rect.box { fill: var(--other-bg); stroke: var(--other); } .t-other text { fill: var(--other); } .t-other rect.inner { stroke: var(--other); }
.node[data-active="true"] rect.box { stroke-width: 3; filter: url(#glow); }
.node.t-ok[data-active="true"] rect.box { fill: var(--ok); } .node.t-busy[data-active="true"] rect.box { fill: var(--busy); }
.node.t-bad[data-active="true"] rect.box { fill: #dc2626; stroke: #991b1b; } .node.t-wait[data-active="true"] rect.box { fill: #d97706; stroke: #92400e; }
.node.t-off[data-active="true"] rect.box { fill: var(--off); } .node.t-other[data-active="true"] rect.box { fill: var(--other); }
.node[data-active="true"] text { fill: #ffffff; } .node[data-active="true"] rect.inner { stroke: #ffffff; }
.node.flash[data-active="true"] rect.box { animation: flash 0.9s ease-out; }
@keyframes flash { from { stroke-width: 7; } to { stroke-width: 3; } }
.edge path { fill: none; stroke: var(--edge); stroke-width: 1.3; }
.edge text, .lbl { font-size: 10.5px; fill: #4b5563; paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; font-family: var(--mono); }
.edge.out path { stroke: #4b5563; stroke-width: 1.6; }
.edge.out text { fill: var(--ink); font-weight: 600; }
.edge.hot path { stroke: var(--edge-hot); stroke-width: 2.2; }
.edge.hot text { fill: var(--edge-hot); font-weight: 700; }
.edge.global path { stroke-dasharray: 4 3; }
.log { position: sticky; top: 12px; max-height: calc(100vh - 24px); display: flex; flex-direction: column; }
.log h2 { justify-content: space-between; }
.log label { font-size: 12px; font-weight: 500; color: var(--muted); display: inline-flex; align-items: center; gap: 4px; }
.log ol { list-style: none; margin: 8px 0 0; padding: 0; overflow-y: auto; min-height: 120px; }
.log li { display: grid; grid-template-columns: 86px 52px minmax(0, 1fr); gap: 6px; align-items: baseline; padding: 4px 2px; border-bottom: 1px solid #eef1f5; font-size: 12.5px; }
.log li .t { font-family: var(--mono); font-size: 11.5px; color: var(--muted); font-variant-numeric: tabular-nums; }
.log li .m { font-family: var(--mono); font-size: 11px; font-weight: 600; border-radius: 5px; padding: 0 5px; text-align: center; background: #eef1f5; color: #334155; }
.log li .m.sync { background: #e0e7ff; color: #3730a3; } .log li .m.upload { background: #fae8ff; color: #86198f; } .log li .m.page { background: #f1f5f9; color: #475569; }
.log li .d { min-width: 0; word-break: break-word; }
.log li .d code { font-family: var(--mono); font-size: 12px; }
.log li.ev .d { color: var(--muted); }
.log li.sys .d { color: var(--muted); font-style: italic; }
.log li .err { display: block; color: var(--bad-strong); font-family: var(--mono); font-size: 11.5px; }
.tag { font-family: var(--mono); font-size: 12px; font-weight: 650; padding: 0 5px; border-radius: 4px; }
.tag.t-ok { color: var(--ok); background: var(--ok-bg); } .tag.t-busy { color: var(--busy); background: var(--busy-bg); } .tag.t-bad { color: var(--bad); background: var(--bad-bg); }
.tag.t-wait { color: var(--wait); background: var(--wait-bg); } .tag.t-off { color: var(--off); background: var(--off-bg); } .tag.t-other { color: var(--other); background: var(--other-bg); }
.empty-note { color: var(--muted); font-size: 13px; padding: 10px 0; }
@media (prefers-reduced-motion: reduce) { .node.flash[data-active="true"] rect.box { animation: none; } }
`;

const SCRIPT = /* js */ `
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var MACHINES = ["sync", "upload"];
  var MAX_LOG = 50;
  var BOX_W = 136, BOX_H = 48, COL_W = 264, PAD = 24, PAD_L = 48, LINE_H = 13, CHAR_W = 6.4;

  var defs = null, defsKey = "";
  var current = { sync: null, upload: null };
  var since = { sync: null, upload: null };
  var seq = { sync: 0, upload: 0 };
  var charts = {};
  var es = null, esRetryMs = 1000, esTimer = null, everOpened = false;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pad(n, w) { var s = String(n); while (s.length < (w || 2)) s = "0" + s; return s; }
  function clock(iso, ms) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) return "—";
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + (ms ? "." + pad(d.getMilliseconds(), 3) : "");
  }
  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function tone(name) {
    switch (name) {
      case "idle": return "t-ok";
      case "syncing": case "uploading": return "t-busy";
      case "backoff": return "t-bad";
      case "awaitingPool": case "empty": return "t-wait";
      case "stopped": return "t-off";
      default: return "t-other";
    }
  }
  function textWidth(s) { return s.length * CHAR_W; }
  function trLabel(t) { return t.event + (t.guard ? " [" + t.guard + "]" : ""); }

  /* ---------- layout: the main path on a top row, error sinks below, final states bottom right ---------- */

  function layout(def) {
    var states = def.states;
    var errorTargets = {};
    states.forEach(function (s) { s.transitions.forEach(function (t) { if (t.event === "error") errorTargets[t.target] = true; }); });
    var top = states.filter(function (s) { return !s.final && !errorTargets[s.name]; });
    var bottom = states.filter(function (s) { return !s.final && errorTargets[s.name]; });
    var finals = states.filter(function (s) { return s.final; });
    if (top.length === 0) { top = bottom; bottom = []; }
    var n = top.length;
    var pos = {};
    function colX(c) { return PAD_L + BOX_W / 2 + c * COL_W; }
    top.forEach(function (s, i) { pos[s.name] = { row: "top", col: i, x: colX(i) }; });
    var maxBottomX = -Infinity;
    bottom.forEach(function (s, j) {
      var x = colX(((j + 1) / (bottom.length + 1)) * Math.max(n - 1, 1));
      pos[s.name] = { row: "bottom", x: x };
      maxBottomX = Math.max(maxBottomX, x);
    });
    var fx = Math.max(colX(n - 1), maxBottomX + COL_W * 0.75);
    finals.forEach(function (s, k) { pos[s.name] = { row: "bottom", x: fx + k * (BOX_W + 40), final: true }; });

    /* edges, grouped by from → to */
    var edges = [], byKey = {};
    states.forEach(function (s) {
      s.transitions.forEach(function (t) {
        var key = s.name + "\\u0000" + t.target;
        var e = byKey[key];
        if (!e) { e = byKey[key] = { from: s.name, to: t.target, labels: [] }; edges.push(e); }
        var l = trLabel(t);
        if (e.labels.indexOf(l) < 0) e.labels.push(l);
      });
    });
    var globals = (def.global || []).filter(function (g) { return g.target && pos[g.target]; });

    /* classify */
    var selfs = [], adj = [], arcs = [], downs = [], ups = [], others = [];
    edges.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to];
      if (!a || !b) return;
      if (e.from === e.to) { selfs.push(e); return; }
      if (a.row === "top" && b.row === "top") {
        var d = b.col - a.col, maxW = 0;
        e.labels.forEach(function (l) { maxW = Math.max(maxW, textWidth(l)); });
        if (Math.abs(d) === 1 && maxW <= COL_W - BOX_W - 10) adj.push(e); else arcs.push(e);
        return;
      }
      if (a.row === "top" && b.row === "bottom" && !b.final) { downs.push(e); return; }
      if (a.row === "bottom" && !a.final && b.row === "top") { ups.push(e); return; }
      others.push(e);
    });

    /* arcs above the top row: interval levels, wider spans higher */
    arcs.forEach(function (e) {
      var a = pos[e.from].col, b = pos[e.to].col;
      e.lo = Math.min(a, b); e.hi = Math.max(a, b);
      e.oneLine = textWidth(e.labels.join(" · ")) <= (e.hi - e.lo) * COL_W - BOX_W - 16;
    });
    arcs.sort(function (p, q) { return (p.hi - p.lo) - (q.hi - q.lo) || p.lo - q.lo; });
    var levels = [];
    arcs.forEach(function (e) {
      var L = 0;
      for (;;) {
        var clash = (levels[L] || []).some(function (o) { return !(e.hi < o.lo || e.lo > o.hi); });
        if (!clash) break;
        L++;
      }
      (levels[L] = levels[L] || []).push(e);
      e.level = L;
    });
    var levelY = [], acc = 30 + (selfs.length ? 8 : 0);
    levels.forEach(function (list, L) {
      levelY[L] = acc;
      var lines = 1;
      list.forEach(function (e) { lines = Math.max(lines, e.oneLine ? 1 : e.labels.length); });
      acc += lines * LINE_H + 14;
    });
    var topY = PAD + acc + BOX_H / 2 + (selfs.length ? 10 : 0);
    var boxTop = topY - BOX_H / 2;
    levelY = levelY.map(function (v) { return boxTop - v; });

    /* space below the top row: labels of backward adjacent edges, then the error routes */
    var belowLines = 0;
    adj.forEach(function (e) { if (pos[e.to].col < pos[e.from].col) belowLines = Math.max(belowLines, e.labels.length); });
    var bottomY = topY + BOX_H + Math.max(96, belowLines * LINE_H + 70);
    var hasBottom = bottom.length + finals.length > 0;
    Object.keys(pos).forEach(function (k) { pos[k].y = pos[k].row === "top" ? topY : bottomY; });

    var maxX = 0;
    Object.keys(pos).forEach(function (k) { maxX = Math.max(maxX, pos[k].x + BOX_W / 2); });
    var width = maxX + PAD + (globals.length ? 120 : 0);
    var height = (hasBottom ? bottomY + BOX_H / 2 : topY + BOX_H / 2 + belowLines * LINE_H + 12) + PAD + (ups.length ? 34 : 0);
    return { pos: pos, selfs: selfs, adj: adj, arcs: arcs, levelY: levelY, downs: downs, ups: ups, others: others, globals: globals, width: width, height: height, topY: topY };
  }

  /* ---------- drawing ---------- */

  function addLabel(g, lines, x, y, anchor, dir) {
    /* dir: 1 stacks downward from y, -1 stacks upward ending at y */
    var n = lines.length;
    lines.forEach(function (l, i) {
      var yy = dir < 0 ? y - (n - 1 - i) * LINE_H : y + i * LINE_H;
      g.appendChild(sv("text", { x: x, y: yy, "text-anchor": anchor || "middle" }, l));
    });
  }
  function edgeGroup(svg, e, extraClass) {
    var g = sv("g", { "class": "edge" + (extraClass ? " " + extraClass : ""), "data-from": e.from, "data-to": e.to });
    var title = sv("title", null, e.from + " → " + e.to + ": " + e.labels.join(", "));
    g.appendChild(title);
    svg.appendChild(g);
    return g;
  }
  function path(g, d, m) { g.appendChild(sv("path", { d: d, "marker-end": "url(#" + m + ")" })); }

  function draw(machine, def) {
    var L = layout(def);
    var pos = L.pos;
    var mk = "arrow-" + machine;
    var w = Math.ceil(L.width), h = Math.ceil(L.height);
    var svg = sv("svg", { viewBox: "0 0 " + w + " " + h, width: w, height: h, role: "img", "aria-label": machine + " statechart" });
    var defsEl = sv("defs");
    var marker = sv("marker", { id: mk, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7280" }));
    defsEl.appendChild(marker);
    svg.appendChild(defsEl);
    var edgeLayer = sv("g"), nodeLayer = sv("g");
    svg.appendChild(edgeLayer);
    svg.appendChild(nodeLayer);
    var hw = BOX_W / 2, hh = BOX_H / 2;

    /* adjacent edges on the top row */
    L.adj.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to], fwd = b.x > a.x;
      var twoWay = L.adj.some(function (o) { return o.from === e.to && o.to === e.from; });
      var y = a.y + (twoWay ? (fwd ? -8 : 8) : 0);
      var x1 = a.x + (fwd ? hw : -hw), x2 = b.x + (fwd ? -hw : hw);
      var g = edgeGroup(edgeLayer, e);
      path(g, "M" + x1 + "," + y + " L" + x2 + "," + y, mk);
      if (fwd || !twoWay) addLabel(g, e.labels, (x1 + x2) / 2, y - 6, "middle", -1);
      else addLabel(g, e.labels, (x1 + x2) / 2, y + 15, "middle", 1);
    });

    /* arcs above the top row: ports on the box's top edge */
    var ports = {};
    L.arcs.forEach(function (e) {
      [["from", e.to], ["to", e.from]].forEach(function (p) {
        var me = e[p[0]], other = pos[p[1]];
        (ports[me] = ports[me] || []).push({ e: e, end: p[0], right: other.x > pos[me].x, level: e.level });
      });
    });
    Object.keys(ports).forEach(function (name) {
      var list = ports[name], x = pos[name].x;
      var hasSelf = L.selfs.some(function (e) { return e.from === name; });
      var lo = x - hw + 14, hi = x + hw - (hasSelf ? 44 : 14);
      list.sort(function (p, q) {
        if (p.right !== q.right) return p.right ? 1 : -1;
        return p.right ? q.level - p.level : p.level - q.level;
      });
      list.forEach(function (p, i) {
        var px = list.length === 1 ? (hasSelf ? x - 14 : x) : lo + (i * (hi - lo)) / (list.length - 1);
        p.e[p.end === "from" ? "x1" : "x2"] = px;
      });
    });
    L.arcs.forEach(function (e) {
      var y0 = L.topY - hh, ly = L.levelY[e.level];
      var g = edgeGroup(edgeLayer, e);
      path(g, "M" + e.x1 + "," + y0 + " L" + e.x1 + "," + ly + " L" + e.x2 + "," + ly + " L" + e.x2 + "," + (y0 - 1), mk);
      addLabel(g, e.oneLine ? [e.labels.join(" · ")] : e.labels, (e.x1 + e.x2) / 2, ly - 5, "middle", -1);
    });

    /* self loops */
    L.selfs.forEach(function (e) {
      var p = pos[e.from], g = edgeGroup(edgeLayer, e);
      var up = p.row === "top" ? -1 : 1, yEdge = p.y + up * hh;
      var xa = p.x + hw - 38, xb = p.x + hw - 12, yc = yEdge + up * 26;
      path(g, "M" + xa + "," + yEdge + " C" + xa + "," + yc + " " + xb + "," + yc + " " + xb + "," + (yEdge + up), mk);
      addLabel(g, e.labels, p.x + hw + 2, yEdge + up * 16 + (up < 0 ? 0 : 8), "start", up < 0 ? -1 : 1);
    });

    /* routes between the top row and the bottom row: side ports on the bottom node */
    var side = {};
    function addSide(node, s, item) { var k = node + "|" + s; (side[k] = side[k] || []).push(item); }
    L.downs.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to];
      if (Math.abs(a.x - b.x) < hw - 10) { e.straight = true; return; }
      e.side = a.x < b.x ? "L" : "R";
      addSide(e.to, e.side, { e: e, dist: Math.abs(a.x - b.x), kind: 0 });
    });
    L.ups.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to];
      if (Math.abs(a.x - b.x) < hw - 10) { e.straight = true; return; }
      e.side = b.x < a.x ? "L" : "R";
      addSide(e.from, e.side, { e: e, dist: Math.abs(a.x - b.x), kind: 1 });
    });
    Object.keys(side).forEach(function (k) {
      var list = side[k], name = k.split("|")[0], y = pos[name].y;
      list.sort(function (p, q) { return p.kind - q.kind || p.dist - q.dist; });
      list.forEach(function (p, i) { p.e.py = list.length === 1 ? y : y - 15 + (i * 30) / (list.length - 1); });
    });
    L.downs.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
      var y0 = a.y + hh;
      if (e.straight) {
        var xs = Math.max(b.x - hw + 12, Math.min(b.x + hw - 12, a.x));
        path(g, "M" + xs + "," + y0 + " L" + xs + "," + (b.y - hh - 1), mk);
        addLabel(g, e.labels, xs + 6, (y0 + b.y - hh) / 2, "start", 1);
        return;
      }
      var left = e.side === "L";
      var x = a.x + (left ? 20 : -20), xe = b.x + (left ? -hw : hw);
      path(g, "M" + x + "," + y0 + " L" + x + "," + e.py + " L" + (xe + (left ? -1 : 1)) + "," + e.py, mk);
      addLabel(g, e.labels, x + (left ? 6 : -6), y0 + 58, left ? "start" : "end", 1);
    });
    L.ups.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
      var yt = b.y + hh;
      if (e.straight) {
        var xs = Math.max(a.x - hw + 12, Math.min(a.x + hw - 12, b.x));
        path(g, "M" + xs + "," + (a.y - hh) + " L" + xs + "," + (yt + 1), mk);
        addLabel(g, e.labels, xs - 6, (yt + a.y - hh) / 2, "end", 1);
        return;
      }
      var left = e.side === "L";
      var xs2 = a.x + (left ? -hw : hw), x = b.x + (left ? -20 : 20);
      path(g, "M" + xs2 + "," + e.py + " L" + x + "," + e.py + " L" + x + "," + (yt + 1), mk);
      var label = e.labels.join(" · ");
      var lines = textWidth(label) <= Math.abs(xs2 - x) - 12 ? [label] : e.labels;
      addLabel(g, lines, (xs2 + x) / 2, e.py + 16, "middle", 1);
    });

    /* anything else: a straight line between the box borders */
    function border(p, tx, ty) {
      var dx = tx - p.x, dy = ty - p.y;
      var s = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
      return { x: p.x + dx * s, y: p.y + dy * s };
    }
    L.others.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
      var s = border(a, b.x, b.y), t = border(b, a.x, a.y);
      path(g, "M" + s.x + "," + s.y + " L" + t.x + "," + t.y, mk);
      addLabel(g, e.labels, (s.x + t.x) / 2 + 4, (s.y + t.y) / 2 - 4, "start", -1);
    });

    /* transitions taken from any state (root-level "on" with a target) */
    L.globals.forEach(function (gl, i) {
      var b = pos[gl.target];
      var e = { from: "*", to: gl.target, labels: [gl.event] };
      var g = edgeGroup(edgeLayer, e, "global");
      var y = b.y + (i - (L.globals.length - 1) / 2) * 12;
      path(g, "M" + (b.x + hw + 100) + "," + y + " L" + (b.x + hw + 1) + "," + y, mk);
      addLabel(g, [gl.event], b.x + hw + 50, y - 6, "middle", -1);
      addLabel(g, ["from any state"], b.x + hw + 50, y + 14, "middle", 1);
    });

    /* states */
    def.states.forEach(function (s) {
      var p = pos[s.name];
      if (!p) return;
      var g = sv("g", { "class": "node " + tone(s.name), "data-machine": machine, "data-state": s.name, "data-active": "false" });
      g.appendChild(sv("title", null, s.name + (s.invokes.length ? " — runs " + s.invokes.join(", ") : "") + (s.final ? " (final)" : "") + (s.name === def.initial ? " (initial)" : "")));
      g.appendChild(sv("rect", { "class": "box", x: p.x - hw, y: p.y - hh, width: BOX_W, height: BOX_H, rx: 10, ry: 10 }));
      if (s.final) g.appendChild(sv("rect", { "class": "inner", x: p.x - hw + 4, y: p.y - hh + 4, width: BOX_W - 8, height: BOX_H - 8, rx: 7, ry: 7 }));
      var inv = s.invokes.length ? "⟳ " + s.invokes.join(", ") : (s.final ? "final" : "");
      g.appendChild(sv("text", { "class": "name", x: p.x, y: p.y + (inv ? -7 : 0) }, s.name));
      if (inv) g.appendChild(sv("text", { "class": "inv", x: p.x, y: p.y + 11 }, inv));
      nodeLayer.appendChild(g);
    });
    /* the initial state: a dot and a short arrow */
    var ip = pos[def.initial];
    if (ip) {
      var ig = sv("g", { "class": "edge initial" });
      ig.appendChild(sv("title", null, "initial state"));
      ig.appendChild(sv("circle", { cx: ip.x - hw - 30, cy: ip.y, r: 5, fill: "#374151" }));
      ig.appendChild(sv("path", { d: "M" + (ip.x - hw - 25) + "," + ip.y + " L" + (ip.x - hw - 1) + "," + ip.y, "marker-end": "url(#" + mk + ")" }));
      edgeLayer.appendChild(ig);
    }
    return svg;
  }

  function renderCharts() {
    var host = $("charts");
    host.textContent = "";
    charts = {};
    MACHINES.forEach(function (m) {
      var def = defs && defs[m];
      var card = el("section", { "class": "card", id: "card-" + m });
      var h = el("h2");
      h.appendChild(el("span", { "class": "id" }, m));
      h.appendChild(el("span", { "class": "cur", id: "cur-" + m }, "…"));
      card.appendChild(h);
      if (!def) { card.appendChild(el("div", { "class": "empty-note" }, "no definition")); host.appendChild(card); return; }
      var chart = el("div", { "class": "chart" });
      chart.appendChild(draw(m, def));
      card.appendChild(chart);
      card.appendChild(el("div", { "class": "error-line", id: "err-" + m, hidden: "" }));
      card.appendChild(el("div", { "class": "next", id: "next-" + m }));
      var targetless = (def.global || []).filter(function (g) { return !g.target; });
      if (targetless.length) {
        var gl = el("div", { "class": "globals" }, "Handled in every state: ");
        targetless.forEach(function (g) { gl.appendChild(el("span", { "class": "chip" }, g.event)); });
        card.appendChild(gl);
      }
      var det = el("details");
      det.appendChild(el("summary", null, "All transitions (" + def.states.reduce(function (n, s) { return n + s.transitions.length; }, 0) + ")"));
      var table = el("table", { "class": "tr" });
      def.states.forEach(function (s) {
        s.transitions.forEach(function (t) {
          var tr = el("tr");
          tr.appendChild(el("td", null, s.name));
          tr.appendChild(el("td", null, t.event));
          tr.appendChild(el("td", null, "→ " + t.target));
          tr.appendChild(el("td", { "class": "g" }, t.guard ? "if " + t.guard : ""));
          table.appendChild(tr);
        });
      });
      (def.global || []).forEach(function (g) {
        var tr = el("tr");
        tr.appendChild(el("td", { "class": "g" }, "any"));
        tr.appendChild(el("td", null, g.event));
        tr.appendChild(el("td", null, g.target ? "→ " + g.target : "(stays)"));
        tr.appendChild(el("td"));
        table.appendChild(tr);
      });
      det.appendChild(table);
      card.appendChild(det);
      host.appendChild(card);
      charts[m] = card;
    });
    MACHINES.forEach(function (m) { if (current[m]) paint(m, false); });
  }

  /* ---------- current states ---------- */

  function setCurrent(m, view, at, flash) {
    if (!view || typeof view.state !== "string") return;
    var prev = current[m];
    if (!prev || prev.state !== view.state) since[m] = at || null;
    current[m] = { state: view.state, attempt: view.attempt || 0, lastError: view.lastError || null };
    paint(m, flash && (!prev || prev.state !== view.state));
  }
  function paint(m, flash) {
    var card = charts[m], cur = current[m];
    if (!card || !cur) return;
    var nodes = card.querySelectorAll(".node[data-machine]");
    for (var i = 0; i < nodes.length; i++) {
      var on = nodes[i].getAttribute("data-state") === cur.state;
      nodes[i].setAttribute("data-active", on ? "true" : "false");
      if (!on || flash) nodes[i].classList.remove("flash");
      if (on && flash) { void nodes[i].getBoundingClientRect(); nodes[i].classList.add("flash"); }
    }
    var edges = card.querySelectorAll(".edge[data-from]");
    for (var j = 0; j < edges.length; j++) edges[j].classList.toggle("out", edges[j].getAttribute("data-from") === cur.state);
    var head = $("cur-" + m);
    head.textContent = "";
    head.appendChild(document.createTextNode("now "));
    head.appendChild(el("b", { "class": "tag " + tone(cur.state) }, cur.state));
    head.appendChild(document.createTextNode((since[m] ? " since " + clock(since[m]) : "") + " · attempt " + cur.attempt));
    var err = $("err-" + m);
    if (cur.lastError) { err.hidden = false; err.textContent = "last error: " + cur.lastError; } else { err.hidden = true; err.textContent = ""; }
    var next = $("next-" + m);
    next.textContent = "";
    var st = defs && defs[m] && defs[m].states.filter(function (s) { return s.name === cur.state; })[0];
    if (st) {
      next.appendChild(document.createTextNode(st.transitions.length ? "From here: " : "No transitions out of this state."));
      st.transitions.forEach(function (t) { next.appendChild(el("span", { "class": "chip" }, trLabel(t) + " → " + t.target)); });
    }
  }
  function flashEdge(m, from, to) {
    var card = charts[m];
    if (!card || !from) return;
    var edges = card.querySelectorAll(".edge[data-from]");
    for (var i = 0; i < edges.length; i++) {
      var e = edges[i];
      if (e.getAttribute("data-from") === from && e.getAttribute("data-to") === to) {
        e.classList.add("hot");
        (function (node) { setTimeout(function () { node.classList.remove("hot"); }, 2500); })(e);
      }
    }
  }

  /* ---------- activity log ---------- */

  function log(kind, machine, build, at) {
    var list = $("log");
    var li = el("li", { "class": kind });
    li.appendChild(el("span", { "class": "t" }, clock(at, true)));
    li.appendChild(el("span", { "class": "m " + (machine || "page") }, machine || "page"));
    var d = el("span", { "class": "d" });
    build(d);
    li.appendChild(d);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_LOG) list.removeChild(list.lastChild);
    $("log-empty").hidden = true;
    applyFilter();
  }
  function applyFilter() {
    $("log").classList.toggle("hide-ev", !$("show-events").checked);
  }

  /* ---------- definitions and current states ---------- */

  function resync() {
    var started = { sync: seq.sync, upload: seq.upload };
    return fetch("memory/machines", { cache: "no-store", headers: { accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (j) {
        var key = JSON.stringify(j.definitions);
        if (key !== defsKey) { defs = j.definitions; defsKey = key; renderCharts(); }
        MACHINES.forEach(function (m) { if (seq[m] === started[m] && j.current) setCurrent(m, j.current[m], null, false); });
        return true;
      });
  }

  /* ---------- live stream ---------- */

  function setConn(state, text) {
    var p = $("conn");
    p.setAttribute("data-conn", state);
    p.textContent = text;
  }
  function onJson(handler) {
    return function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      handler(data);
    };
  }
  function connect() {
    esTimer = null;
    if (es) es.close();
    setConn(everOpened ? "reconnecting" : "connecting", everOpened ? "reconnecting…" : "connecting…");
    es = new EventSource("memory/events");
    es.onopen = function () {
      esRetryMs = 1000;
      setConn("live", "live");
      if (everOpened) log("sys", null, function (d) { d.textContent = "event stream reopened — states resynced"; });
      everOpened = true;
      resync().catch(function () { /* the snapshot event carries the states too */ });
    };
    es.addEventListener("snapshot", onJson(function (s) {
      MACHINES.forEach(function (m) { if (s[m]) { seq[m]++; setCurrent(m, s[m], null, false); } });
    }));
    es.addEventListener("transition", onJson(function (t) {
      if (MACHINES.indexOf(t.machine) < 0) return;
      seq[t.machine]++;
      setCurrent(t.machine, { state: t.to, attempt: t.attempt, lastError: t.lastError }, t.at, true);
      flashEdge(t.machine, t.from, t.to);
      log("tr", t.machine, function (d) {
        if (t.from) { d.appendChild(el("span", { "class": "tag " + tone(t.from) }, t.from)); d.appendChild(document.createTextNode(" → ")); }
        d.appendChild(el("span", { "class": "tag " + tone(t.to) }, t.to));
        if (t.attempt) d.appendChild(document.createTextNode(" · attempt " + t.attempt));
        if (t.lastError && t.to === "backoff") d.appendChild(el("span", { "class": "err" }, t.lastError));
      }, t.at);
    }));
    es.addEventListener("event", onJson(function (e) {
      log("ev", e.machine, function (d) { d.appendChild(document.createTextNode("event ")); d.appendChild(el("code", null, e.event)); }, e.at);
    }));
    es.onerror = function () {
      if (!es) return;
      if (es.readyState === EventSource.CLOSED) {
        /* the browser gave up (an answer that is not a stream): reopen ourselves, backing off */
        es.close();
        setConn("reconnecting", "reconnecting…");
        if (!esTimer) { esTimer = setTimeout(connect, esRetryMs); esRetryMs = Math.min(esRetryMs * 2, 15000); }
      } else {
        setConn("reconnecting", "reconnecting…");
      }
      if (everOpened && !$("conn").hasAttribute("data-lost")) {
        $("conn").setAttribute("data-lost", "");
        log("sys", null, function (d) { d.textContent = "event stream lost — reconnecting"; });
      }
    };
    es.addEventListener("open", function () { $("conn").removeAttribute("data-lost"); });
  }

  /* ---------- stats ---------- */

  function setStat(name, value, sub, cls) {
    var box = document.querySelector('[data-stat="' + name + '"]');
    if (!box) return;
    var v = box.querySelector(".v"), s = box.querySelector(".s");
    v.textContent = value;
    v.className = "v" + (cls ? " " + cls : "");
    if (s) s.textContent = sub || "";
  }
  function refreshStats() {
    fetch("memory/stats", { cache: "no-store", headers: { accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (st) {
        setStat("total_memories", typeof st.total_memories === "number" ? st.total_memories.toLocaleString() : "—",
          st.snapshot && st.snapshot.complete === false ? "first copy: " + (st.snapshot.rows_copied || 0).toLocaleString() + " rows" : (st.table || ""));
        setStat("last_sync", st.last_sync ? clock(st.last_sync) : "never", st.last_sync ? ago(st.last_sync) : "");
        setStat("pool_connected", st.pool_connected ? "connected" : "unreachable", "change feed " + (st.feed_connected ? "listening" : "down"), st.pool_connected ? "good" : "bad");
        var ob = st.outbox || {};
        setStat("outbox", (ob.pending || 0) + " / " + (ob.parked || 0), "pending / parked · " + (ob.uploaded || 0) + " uploaded", ob.parked ? "bad" : ob.pending ? "warn" : "");
        setStat("attempt", String(st.attempt || 0), "sync state " + (st.state || "?"), st.attempt ? "warn" : "");
        var errText = st.last_error || ob.last_error || "";
        setStat("last_error", errText || "none", errText ? (st.last_error ? "sync" : "upload") : "", errText ? "bad" : "good");
        $("where").textContent = (st.table || "") + (st.local_db_path ? " → " + st.local_db_path : "");
        $("stats-updated").textContent = "stats " + clock(null);
      })
      .catch(function () { $("stats-updated").textContent = "stats unavailable " + clock(null); })
      .then(function () { setTimeout(refreshStats, 2000); });
  }

  /* ---------- start ---------- */

  function start() {
    $("show-events").addEventListener("change", applyFilter);
    refreshStats();
    var delay = 500;
    (function first() {
      resync().then(connect, function () {
        $("charts").textContent = "";
        $("charts").appendChild(el("div", { "class": "card empty-note" }, "Cannot read memory/machines yet — retrying…"));
        setTimeout(first, delay);
        delay = Math.min(delay * 2, 10000);
      });
    })();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
`;

const BODY = /* html */ `
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs><filter id="glow" x="-30%" y="-30%" width="160%" height="160%"><feDropShadow dx="0" dy="1" stdDeviation="3.5" flood-color="#0f172a" flood-opacity="0.35"/></filter></defs></svg>
<header>
  <h1>embedded-memory <span>· inspector</span></h1>
  <span class="pill" id="conn" data-conn="connecting">connecting…</span>
  <span class="where" id="where"></span>
</header>
<main>
  <section class="stats" aria-label="counters">
    <div class="stat" data-stat="total_memories"><div class="k">Memories</div><div class="v">—</div><div class="s"></div></div>
    <div class="stat" data-stat="last_sync"><div class="k">Last sync</div><div class="v">—</div><div class="s"></div></div>
    <div class="stat" data-stat="pool_connected"><div class="k">Master</div><div class="v">—</div><div class="s"></div></div>
    <div class="stat" data-stat="outbox"><div class="k">Outbox</div><div class="v">—</div><div class="s"></div></div>
    <div class="stat" data-stat="attempt"><div class="k">Attempt</div><div class="v">—</div><div class="s"></div></div>
    <div class="stat err" data-stat="last_error"><div class="k">Last error</div><div class="v">—</div><div class="s"></div></div>
  </section>
  <div class="charts" id="charts"><div class="card empty-note">Loading the machines…</div></div>
  <aside class="card log">
    <h2>Recent activity <label><input type="checkbox" id="show-events" checked> events</label></h2>
    <div class="next" id="stats-updated"></div>
    <div class="empty-note" id="log-empty">Waiting for transitions and events…</div>
    <ol id="log"></ol>
  </aside>
</main>
`;

/** An inline icon, so the browser does not ask for /favicon.ico (a 404 in the console). */
const ICON =
  "data:image/svg+xml," +
  encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="2" y="2" width="28" height="28" rx="7" fill="#111827"/><circle cx="11" cy="16" r="4.5" fill="#4ade80"/><rect x="18" y="11.5" width="9" height="9" rx="2.5" fill="#60a5fa"/></svg>');

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>embedded-memory inspector</title>
<link rel="icon" href="${ICON}">
<style>${STYLE}
.log ol.hide-ev li.ev { display: none; }
</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** The inspector page: one HTML string with everything inline. */
export function inspectorPage(): string {
  return HTML;
}
