/**
 * Where a machine's states and edges go: the main path on a top row, the states an `error`
 * event leads to on a row below, final states bottom right. Edges are grouped by from → to and
 * sorted by the route they take (chart.js draws them). Pure: no DOM.
 */

export const BOX_W = 136;
export const BOX_H = 48;
export const LINE_H = 13;
const COL_W = 264;
const PAD = 24;
const PAD_L = 48;
/** A monospace label's width estimate; good enough to decide between one line and several. */
const CHAR_W = 6.4;

export const textWidth = (s) => s.length * CHAR_W;
export const trLabel = (t) => (t.guard ? `${t.event} [${t.guard}]` : t.event);

export function layout(def) {
  const { states } = def;
  const errorTargets = new Set();
  for (const s of states) for (const t of s.transitions) if (t.event === "error") errorTargets.add(t.target);
  let top = states.filter((s) => !s.final && !errorTargets.has(s.name));
  let bottom = states.filter((s) => !s.final && errorTargets.has(s.name));
  const finals = states.filter((s) => s.final);
  if (top.length === 0) [top, bottom] = [bottom, []];
  const n = top.length;
  const pos = {};
  const colX = (c) => PAD_L + BOX_W / 2 + c * COL_W;
  top.forEach((s, i) => {
    pos[s.name] = { row: "top", col: i, x: colX(i) };
  });
  let maxBottomX = -Infinity;
  bottom.forEach((s, j) => {
    const x = colX(((j + 1) / (bottom.length + 1)) * Math.max(n - 1, 1));
    pos[s.name] = { row: "bottom", x };
    maxBottomX = Math.max(maxBottomX, x);
  });
  const fx = Math.max(colX(n - 1), maxBottomX + COL_W * 0.75);
  finals.forEach((s, k) => {
    pos[s.name] = { row: "bottom", x: fx + k * (BOX_W + 40), final: true };
  });

  // Edges, one per from → to, carrying every label that takes it.
  const edges = [];
  const byKey = new Map();
  for (const s of states) {
    for (const t of s.transitions) {
      const key = `${s.name}\u0000${t.target}`;
      let e = byKey.get(key);
      if (!e) {
        e = { from: s.name, to: t.target, labels: [] };
        byKey.set(key, e);
        edges.push(e);
      }
      const label = trLabel(t);
      if (!e.labels.includes(label)) e.labels.push(label);
    }
  }
  const globals = (def.global ?? []).filter((g) => g.target && pos[g.target]);

  const selfs = [], adj = [], arcs = [], downs = [], ups = [], others = [];
  for (const e of edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    if (e.from === e.to) selfs.push(e);
    else if (a.row === "top" && b.row === "top") {
      const widest = Math.max(0, ...e.labels.map(textWidth));
      (Math.abs(b.col - a.col) === 1 && widest <= COL_W - BOX_W - 10 ? adj : arcs).push(e);
    } else if (a.row === "top" && b.row === "bottom" && !b.final) downs.push(e);
    else if (a.row === "bottom" && !a.final && b.row === "top") ups.push(e);
    else others.push(e);
  }

  // Arcs above the top row: interval levels, wider spans higher.
  for (const e of arcs) {
    const a = pos[e.from].col, b = pos[e.to].col;
    e.lo = Math.min(a, b);
    e.hi = Math.max(a, b);
    e.oneLine = textWidth(e.labels.join(" · ")) <= (e.hi - e.lo) * COL_W - BOX_W - 16;
  }
  arcs.sort((p, q) => p.hi - p.lo - (q.hi - q.lo) || p.lo - q.lo);
  const levels = [];
  for (const e of arcs) {
    let level = 0;
    while ((levels[level] ?? []).some((o) => !(e.hi < o.lo || e.lo > o.hi))) level++;
    (levels[level] ??= []).push(e);
    e.level = level;
  }
  const heights = [];
  let acc = 30 + (selfs.length ? 8 : 0);
  levels.forEach((list, level) => {
    heights[level] = acc;
    acc += Math.max(1, ...list.map((e) => (e.oneLine ? 1 : e.labels.length))) * LINE_H + 14;
  });
  const topY = PAD + acc + BOX_H / 2 + (selfs.length ? 10 : 0);
  const boxTop = topY - BOX_H / 2;
  const levelY = heights.map((v) => boxTop - v);

  // Space below the top row: labels of backward adjacent edges, then the error routes.
  let belowLines = 0;
  for (const e of adj) if (pos[e.to].col < pos[e.from].col) belowLines = Math.max(belowLines, e.labels.length);
  const bottomY = topY + BOX_H + Math.max(96, belowLines * LINE_H + 70);
  const hasBottom = bottom.length + finals.length > 0;
  for (const p of Object.values(pos)) p.y = p.row === "top" ? topY : bottomY;

  const maxX = Math.max(0, ...Object.values(pos).map((p) => p.x + BOX_W / 2));
  const width = maxX + PAD + (globals.length ? 120 : 0);
  const height = (hasBottom ? bottomY + BOX_H / 2 : topY + BOX_H / 2 + belowLines * LINE_H + 12) + PAD + (ups.length ? 34 : 0);
  return { pos, selfs, adj, arcs, levelY, downs, ups, others, globals, width, height, topY };
}
