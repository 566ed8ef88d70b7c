/**
 * GET /inspector: the live inspector page (see inspectorPage.ts). It only reads
 * GET /memory/machines, GET /memory/events and GET /memory/stats, which need no API key.
 */
import type { Hono } from "hono";
import { inspectorPage } from "./inspectorPage.ts";

/** Everything the page uses is inline (or a data: image) or from this origin; nothing else may load. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:", // the inline favicon
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function inspectorRoutes(app: Hono): void {
  const html = inspectorPage();
  app.get("/inspector", (c) => {
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    return c.html(html);
  });
}
