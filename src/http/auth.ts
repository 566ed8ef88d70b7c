/**
 * API-key auth for protected routes: `X-API-Key: <key>` or `Authorization: Bearer <key>`,
 * compared in constant time (both sides hashed first, so length does not leak either).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export function keyMatches(given: string, keys: readonly string[]): boolean {
  const g = digest(given);
  let ok = false;
  // Every key is compared, so timing does not tell which one (or whether any) matched.
  for (const k of keys) ok = timingSafeEqual(g, digest(k)) || ok;
  return ok;
}

export function requireApiKey(keys: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (keys.length === 0) {
      return c.json({ error: "set API_KEYS to enable this endpoint (it needs an API key, and none is configured)" }, 503);
    }
    const header = c.req.header("x-api-key") ?? c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
    if (!header) return c.json({ error: "missing API key: send X-API-Key or Authorization: Bearer" }, 401);
    if (!keyMatches(header, keys)) return c.json({ error: "invalid API key" }, 401);
    await next();
  };
}
