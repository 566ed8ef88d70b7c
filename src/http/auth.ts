/**
 * API-key auth for protected routes: `X-API-Key: <key>` or `Authorization: Bearer <key>`,
 * compared in constant time (both sides hashed first, so length does not leak either).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

function matchesDigests(given: Buffer, digests: readonly Buffer[]): boolean {
  let ok = false;
  // Every key is compared, so timing does not tell which one (or whether any) matched.
  for (const d of digests) ok = timingSafeEqual(given, d) || ok;
  return ok;
}

/**
 * A request header. On Node, from the IncomingMessage's parsed headers: Hono's c.req.header()
 * makes @hono/node-server build a web Headers object for the request first.
 */
function header(c: Context, name: "x-api-key" | "authorization"): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) return c.req.header(name);
  // Every value, joined as web Headers join them: Node's `headers` keeps only the first
  // Authorization, which would accept "Bearer <key>" followed by any other.
  return incoming.headersDistinct[name]?.join(", ");
}

export function requireApiKey(keys: readonly string[]): MiddlewareHandler {
  const digests = keys.map(digest);
  return async (c, next) => {
    if (keys.length === 0) {
      return c.json({ error: "set API_KEYS to enable this endpoint (it needs an API key, and none is configured)" }, 503);
    }
    const given = header(c, "x-api-key") ?? header(c, "authorization")?.replace(/^Bearer\s+/i, "");
    if (!given) return c.json({ error: "missing API key: send X-API-Key or Authorization: Bearer" }, 401);
    if (!matchesDigests(digest(given), digests)) return c.json({ error: "invalid API key" }, 401);
    await next();
  };
}
