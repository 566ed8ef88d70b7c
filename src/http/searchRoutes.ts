/**
 * GET and POST /memory/search. The POST body goes to the library, which decodes it with the
 * SearchRequest schema; the query string is decoded here (its own schema, every value text)
 * into the same request. The search itself is the library's.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { decodeInput, scopeToTenant, SearchQuery, searchRequestFromQuery, type MemoryApi, type SearchRequest } from "../index.ts";
import { jsonBody } from "./jsonBody.ts";
import { tenantOf } from "./auth.ts";

export const SEARCH_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export function searchRoutes(app: Hono, memory: MemoryApi, auth: MiddlewareHandler): void {
  const api = (c: Context) => scopeToTenant(memory, tenantOf(c));
  app.get("/memory/search", auth, async (c) => c.json(await api(c).search(searchRequestFromQuery(decodeInput(SearchQuery, c.req.query(), "query")))));

  app.post("/memory/search", auth, async (c) => c.json(await api(c).search((await jsonBody(c, SEARCH_BODY_LIMIT_BYTES)) as SearchRequest)));
}
