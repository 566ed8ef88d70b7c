/**
 * GET and POST /memory/search: input shaping only; the search itself is the library's.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { SearchRequest, SearchResponse } from "../services/Search.ts";
import { SearchInputError } from "../services/searchFilters.ts";

export interface SearchApi {
  readonly search: (request: SearchRequest) => Promise<SearchResponse>;
}

/** Query-string names that are filters (CONTRACT), plus the extra ones the library knows. */
const FILTER_PARAMS = ["memory_type", "source_agent", "min_importance", "tenant_id", "tags", "created_after", "created_before"] as const;
const SEARCH_BODY_LIMIT_BYTES = 2 * 1024 * 1024;


/** Runs a search and maps bad input to 400 naming the field. */
async function answer(c: Parameters<MiddlewareHandler>[0], api: SearchApi, request: SearchRequest) {
  try {
    return c.json(await api.search(request));
  } catch (e) {
    if (e instanceof SearchInputError) return c.json({ error: e.message, field: e.field }, 400);
    throw e;
  }
}

export function searchRoutes(app: Hono, api: SearchApi, auth: MiddlewareHandler): void {
  app.get("/memory/search", auth, (c) => {
    const filters: Record<string, string> = {};
    for (const name of FILTER_PARAMS) {
      const v = c.req.query(name);
      if (v !== undefined && v !== "") filters[name] = v;
    }
    return answer(c, api, { query: c.req.query("q") ?? c.req.query("query") ?? "", limit: c.req.query("limit"), filters });
  });

  app.post(
    "/memory/search",
    auth,
    bodyLimit({ maxSize: SEARCH_BODY_LIMIT_BYTES, onError: (c) => c.json({ error: `request body larger than ${SEARCH_BODY_LIMIT_BYTES} bytes` }, 413) }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: "body: expected JSON" }, 400);
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return c.json({ error: "body: expected a JSON object" }, 400);
      const b = body as Record<string, unknown>;
      const unknown = Object.keys(b).filter((k) => !["query", "embedding", "limit", "filters"].includes(k));
      if (unknown.length) return c.json({ error: `${unknown[0]}: unknown field (known: query, embedding, limit, filters)`, field: unknown[0] }, 400);
      if (b.limit !== undefined && typeof b.limit !== "number") return c.json({ error: "limit: expected a whole number from 1 to 100", field: "limit" }, 400);
      return answer(c, api, { query: b.query, embedding: b.embedding, limit: b.limit, filters: b.filters });
    },
  );
}
