/**
 * Draws one machine's statechart as SVG from its description (GET memory/machines) and the
 * placement of layout.js. Every state is a `<g class="node" data-machine data-state
 * data-active="false">`; every edge a `<g class="edge" data-from data-to>` (inspector.js lights
 * them).
 */
import { sv, tone } from "./dom.js";
import { BOX_H, BOX_W, LINE_H, layout, textWidth } from "./layout.js";

const hw = BOX_W / 2;
const hh = BOX_H / 2;

/** Label lines at x: dir 1 stacks them downward from y, -1 upward ending at y. */
function addLabel(g, lines, x, y, anchor, dir) {
  const n = lines.length;
  lines.forEach((line, i) => {
    const yy = dir < 0 ? y - (n - 1 - i) * LINE_H : y + i * LINE_H;
    g.appendChild(sv("text", { x, y: yy, "text-anchor": anchor || "middle" }, line));
  });
}

function edgeGroup(layer, e, extraClass) {
  const g = sv("g", { class: extraClass ? `edge ${extraClass}` : "edge", "data-from": e.from, "data-to": e.to });
  g.appendChild(sv("title", null, `${e.from} → ${e.to}: ${e.labels.join(", ")}`));
  layer.appendChild(g);
  return g;
}

function path(g, d, marker) {
  g.appendChild(sv("path", { d, "marker-end": `url(#${marker})` }));
}

/** The point where the line from p's centre towards (tx, ty) leaves p's box. */
function border(p, tx, ty) {
  const dx = tx - p.x, dy = ty - p.y;
  const s = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
  return { x: p.x + dx * s, y: p.y + dy * s };
}

export function draw(machine, def) {
  const L = layout(def);
  const { pos } = L;
  const mk = `arrow-${machine}`;
  const w = Math.ceil(L.width), h = Math.ceil(L.height);
  const svg = sv("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", "aria-label": `${machine} statechart` });
  const defs = sv("defs");
  const marker = sv("marker", { id: mk, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
  marker.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7280" }));
  defs.appendChild(marker);
  const edgeLayer = sv("g"), nodeLayer = sv("g");
  svg.append(defs, edgeLayer, nodeLayer);

  // Adjacent edges on the top row; a pair of opposite ones is drawn as two parallel lines.
  for (const e of L.adj) {
    const a = pos[e.from], b = pos[e.to], fwd = b.x > a.x;
    const twoWay = L.adj.some((o) => o.from === e.to && o.to === e.from);
    const y = a.y + (twoWay ? (fwd ? -8 : 8) : 0);
    const x1 = a.x + (fwd ? hw : -hw), x2 = b.x + (fwd ? -hw : hw);
    const g = edgeGroup(edgeLayer, e);
    path(g, `M${x1},${y} L${x2},${y}`, mk);
    if (fwd || !twoWay) addLabel(g, e.labels, (x1 + x2) / 2, y - 6, "middle", -1);
    else addLabel(g, e.labels, (x1 + x2) / 2, y + 15, "middle", 1);
  }

  // Arcs above the top row: ports spread on the box's top edge, so arcs do not overlap.
  const ports = {};
  for (const e of L.arcs) {
    for (const [end, otherName] of [["from", e.to], ["to", e.from]]) {
      const me = e[end];
      (ports[me] ??= []).push({ e, end, right: pos[otherName].x > pos[me].x, level: e.level });
    }
  }
  for (const [name, list] of Object.entries(ports)) {
    const { x } = pos[name];
    const hasSelf = L.selfs.some((e) => e.from === name);
    const lo = x - hw + 14, hi = x + hw - (hasSelf ? 44 : 14);
    list.sort((p, q) => (p.right !== q.right ? (p.right ? 1 : -1) : p.right ? q.level - p.level : p.level - q.level));
    list.forEach((p, i) => {
      p.e[p.end === "from" ? "x1" : "x2"] = list.length === 1 ? (hasSelf ? x - 14 : x) : lo + (i * (hi - lo)) / (list.length - 1);
    });
  }
  for (const e of L.arcs) {
    const y0 = L.topY - hh, ly = L.levelY[e.level];
    const g = edgeGroup(edgeLayer, e);
    path(g, `M${e.x1},${y0} L${e.x1},${ly} L${e.x2},${ly} L${e.x2},${y0 - 1}`, mk);
    addLabel(g, e.oneLine ? [e.labels.join(" · ")] : e.labels, (e.x1 + e.x2) / 2, ly - 5, "middle", -1);
  }

  for (const e of L.selfs) {
    const p = pos[e.from], g = edgeGroup(edgeLayer, e);
    const up = p.row === "top" ? -1 : 1, yEdge = p.y + up * hh;
    const xa = p.x + hw - 38, xb = p.x + hw - 12, yc = yEdge + up * 26;
    path(g, `M${xa},${yEdge} C${xa},${yc} ${xb},${yc} ${xb},${yEdge + up}`, mk);
    addLabel(g, e.labels, p.x + hw + 2, yEdge + up * 16 + (up < 0 ? 0 : 8), "start", up < 0 ? -1 : 1);
  }

  // Routes between the rows: side ports on the bottom node, unless the two boxes overlap in x.
  const side = {};
  const addSide = (node, s, item) => (side[`${node}|${s}`] ??= []).push(item);
  for (const e of L.downs) {
    const a = pos[e.from], b = pos[e.to];
    if (Math.abs(a.x - b.x) < hw - 10) e.straight = true;
    else addSide(e.to, (e.side = a.x < b.x ? "L" : "R"), { e, dist: Math.abs(a.x - b.x), kind: 0 });
  }
  for (const e of L.ups) {
    const a = pos[e.from], b = pos[e.to];
    if (Math.abs(a.x - b.x) < hw - 10) e.straight = true;
    else addSide(e.from, (e.side = b.x < a.x ? "L" : "R"), { e, dist: Math.abs(a.x - b.x), kind: 1 });
  }
  for (const [k, list] of Object.entries(side)) {
    const { y } = pos[k.split("|")[0]];
    list.sort((p, q) => p.kind - q.kind || p.dist - q.dist);
    list.forEach((p, i) => {
      p.e.py = list.length === 1 ? y : y - 15 + (i * 30) / (list.length - 1);
    });
  }
  for (const e of L.downs) {
    const a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
    const y0 = a.y + hh;
    if (e.straight) {
      const xs = Math.max(b.x - hw + 12, Math.min(b.x + hw - 12, a.x));
      path(g, `M${xs},${y0} L${xs},${b.y - hh - 1}`, mk);
      addLabel(g, e.labels, xs + 6, (y0 + b.y - hh) / 2, "start", 1);
      continue;
    }
    const left = e.side === "L";
    const x = a.x + (left ? 20 : -20), xe = b.x + (left ? -hw : hw);
    path(g, `M${x},${y0} L${x},${e.py} L${xe + (left ? -1 : 1)},${e.py}`, mk);
    addLabel(g, e.labels, x + (left ? 6 : -6), y0 + 58, left ? "start" : "end", 1);
  }
  for (const e of L.ups) {
    const a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
    const yt = b.y + hh;
    if (e.straight) {
      const xs = Math.max(a.x - hw + 12, Math.min(a.x + hw - 12, b.x));
      path(g, `M${xs},${a.y - hh} L${xs},${yt + 1}`, mk);
      addLabel(g, e.labels, xs - 6, (yt + a.y - hh) / 2, "end", 1);
      continue;
    }
    const left = e.side === "L";
    const xStart = a.x + (left ? -hw : hw), x = b.x + (left ? -20 : 20);
    path(g, `M${xStart},${e.py} L${x},${e.py} L${x},${yt + 1}`, mk);
    const label = e.labels.join(" · ");
    const lines = textWidth(label) <= Math.abs(xStart - x) - 12 ? [label] : e.labels;
    addLabel(g, lines, (xStart + x) / 2, e.py + 16, "middle", 1);
  }

  // Anything else: a straight line between the box borders.
  for (const e of L.others) {
    const a = pos[e.from], b = pos[e.to], g = edgeGroup(edgeLayer, e);
    const s = border(a, b.x, b.y), t = border(b, a.x, a.y);
    path(g, `M${s.x},${s.y} L${t.x},${t.y}`, mk);
    addLabel(g, e.labels, (s.x + t.x) / 2 + 4, (s.y + t.y) / 2 - 4, "start", -1);
  }

  // Transitions taken from any state (root-level `on` with a target).
  L.globals.forEach((gl, i) => {
    const b = pos[gl.target];
    const g = edgeGroup(edgeLayer, { from: "*", to: gl.target, labels: [gl.event] }, "global");
    const y = b.y + (i - (L.globals.length - 1) / 2) * 12;
    path(g, `M${b.x + hw + 100},${y} L${b.x + hw + 1},${y}`, mk);
    addLabel(g, [gl.event], b.x + hw + 50, y - 6, "middle", -1);
    addLabel(g, ["from any state"], b.x + hw + 50, y + 14, "middle", 1);
  });

  for (const s of def.states) {
    const p = pos[s.name];
    if (!p) continue;
    const g = sv("g", { class: `node ${tone(s.name)}`, "data-machine": machine, "data-state": s.name, "data-active": "false" });
    const runs = s.invokes.length ? ` — runs ${s.invokes.join(", ")}` : "";
    g.appendChild(sv("title", null, s.name + runs + (s.final ? " (final)" : "") + (s.name === def.initial ? " (initial)" : "")));
    g.appendChild(sv("rect", { class: "box", x: p.x - hw, y: p.y - hh, width: BOX_W, height: BOX_H, rx: 10, ry: 10 }));
    if (s.final) g.appendChild(sv("rect", { class: "inner", x: p.x - hw + 4, y: p.y - hh + 4, width: BOX_W - 8, height: BOX_H - 8, rx: 7, ry: 7 }));
    const inv = s.invokes.length ? `⟳ ${s.invokes.join(", ")}` : s.final ? "final" : "";
    g.appendChild(sv("text", { class: "name", x: p.x, y: p.y + (inv ? -7 : 0) }, s.name));
    if (inv) g.appendChild(sv("text", { class: "inv", x: p.x, y: p.y + 11 }, inv));
    nodeLayer.appendChild(g);
  }

  // The initial state: a dot and a short arrow.
  const ip = pos[def.initial];
  if (ip) {
    const g = sv("g", { class: "edge initial" });
    g.appendChild(sv("title", null, "initial state"));
    g.appendChild(sv("circle", { cx: ip.x - hw - 30, cy: ip.y, r: 5, fill: "#374151" }));
    path(g, `M${ip.x - hw - 25},${ip.y} L${ip.x - hw - 1},${ip.y}`, mk);
    edgeLayer.appendChild(g);
  }
  return svg;
}
