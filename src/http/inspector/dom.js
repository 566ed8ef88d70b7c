/** Small DOM and formatting helpers shared by the inspector's modules. */

const SVGNS = "http://www.w3.org/2000/svg";

function withContent(node, attrs, text) {
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, String(v));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export const $ = (id) => document.getElementById(id);
/** An HTML element with attributes and text content (set as text, never parsed as HTML). */
export const el = (tag, attrs, text) => withContent(document.createElement(tag), attrs, text);
/** The same for an SVG element. */
export const sv = (tag, attrs, text) => withContent(document.createElementNS(SVGNS, tag), attrs, text);

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Local wall-clock time of an ISO instant (now when none), with milliseconds when asked. */
export function clock(iso, withMs) {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return "—";
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${hms}.${pad(d.getMilliseconds(), 3)}` : hms;
}

export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The colour class of a state (inspector.css). */
export function tone(name) {
  switch (name) {
    case "idle":
      return "t-ok";
    case "settling":
    case "syncing":
    case "uploading":
      return "t-busy";
    case "backoff":
      return "t-bad";
    case "awaitingPool":
    case "empty":
      return "t-wait";
    case "stopped":
      return "t-off";
    default:
      return "t-other";
  }
}
