/**
 * API-key auth for protected routes (the MCP endpoint included): `X-API-Key: <key>` or
 * `Authorization: Bearer <key>`, compared in constant time (both sides hashed first, so length
 * does not leak either). A key may be scoped to a tenant (`key:<tenant uuid>`): routes read it
 * with `tenantOf(c)`.
 *
 * An empty X-API-Key counts as absent (a client template whose variable was unset sends one):
 * the Authorization header is read instead. A non-empty X-API-Key is the one checked. An
 * Authorization header must use the Bearer scheme: a bare key there is refused (401) rather
 * than guessed at. Error messages never repeat what was sent.
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

const FORMS = "send X-API-Key: <key> or Authorization: Bearer <key>";

/** The key a request presents, or why it presents none (naming the header, never its value). */
export function credential(apiKey: string | undefined, authorization: string | undefined): { ok: true; key: string } | { ok: false; error: string } {
  const direct = apiKey?.trim();
  if (direct) return { ok: true, key: direct };
  const auth = authorization?.trim();
  if (auth) {
    const bearer = /^Bearer(?:[ \t]+(.*))?$/i.exec(auth);
    if (!bearer) return { ok: false, error: `the Authorization header does not use the Bearer scheme: ${FORMS}` };
    const key = bearer[1]?.trim();
    return key ? { ok: true, key } : { ok: false, error: `the Authorization header has the Bearer scheme but no key: ${FORMS}` };
  }
  if (apiKey !== undefined) return { ok: false, error: `the X-API-Key header is empty: ${FORMS}` };
  if (authorization !== undefined) return { ok: false, error: `the Authorization header is empty: ${FORMS}` };
  return { ok: false, error: `missing API key: ${FORMS}` };
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
    const given = credential(header(c, "x-api-key"), header(c, "authorization"));
    if (!given.ok) return c.json({ error: given.error }, 401);
    const i = matchingKey(digest(given.key), digests);
    if (i < 0) return c.json({ error: "invalid API key" }, 401);
    c.set("tenant" as never, keys[i]!.tenant as never);
    await next();
  };
}
