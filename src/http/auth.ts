/**
 * API-key auth for protected routes: `X-API-Key: <key>` or `Authorization: Bearer <key>`,
 * compared in constant time (both sides hashed first, so length does not leak either). A key
 * may be scoped to a tenant (`key:<tenant uuid>`): routes read it with `tenantOf(c)`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { apiKeysOf } from "../index.ts";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** The index of the key `given` matches, or -1. Every key is compared, so timing tells neither which one matched nor whether any did. */
function matchingKey(given: Buffer, digests: readonly Buffer[]): number {
  let found = -1;
  digests.forEach((d, i) => {
    if (timingSafeEqual(given, d)) found = i;
  });
  return found;
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

/** The tenant the request's key is scoped to (null: every tenant). Set by requireApiKey. */
export const tenantOf = (c: Context): string | null => (c.get("tenant" as never) as string | null | undefined) ?? null;

/** `entries`: API_KEYS entries, `key` or `key:<tenant uuid>` (the config has validated them). */
export function requireApiKey(entries: readonly string[]): MiddlewareHandler {
  const keys = apiKeysOf(entries);
  const digests = keys.map((k) => digest(k.key));
  return async (c, next) => {
    if (keys.length === 0) {
      return c.json({ error: "set API_KEYS to enable this endpoint (it needs an API key, and none is configured)" }, 503);
    }
    const given = header(c, "x-api-key") ?? header(c, "authorization")?.replace(/^Bearer\s+/i, "");
    if (!given) return c.json({ error: "missing API key: send X-API-Key or Authorization: Bearer" }, 401);
    const i = matchingKey(digest(given), digests);
    if (i < 0) return c.json({ error: "invalid API key" }, 401);
    c.set("tenant" as never, keys[i]!.tenant as never);
    await next();
  };
}
