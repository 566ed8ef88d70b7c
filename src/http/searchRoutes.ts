/**
 * GET and POST /memory/search: input decoding only; the search itself is the library's.
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { SearchRequest, SearchResponse } from "../search/Search.ts";
import { decode, SearchBody, SearchQuery } from "./schemas.ts";
import { jsonBody } from "./jsonBody.ts";

export interface SearchApi {
  readonly search: (request: SearchRequest) => Promise<SearchResponse>;
}

export const SEARCH_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export function searchRoutes(app: Hono, api: SearchApi, auth: MiddlewareHandler): void {
  app.get("/memory/search", auth, async (c) => {
    const q = decode(SearchQuery, c.req.query(), "query");
    const filters = {
      memory_type: q.memory_type,
      source_agent: q.source_agent,
      min_importance: q.min_importance,
      tenant_id: q.tenant_id,
      tags: q.tags,
      created_after: q.created_after,
      created_before: q.created_before,
    };
    return c.json(await api.search({ query: q.q ?? q.query ?? "", limit: q.limit, filters: Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined && v !== "")) }));
  });

  app.post("/memory/search", auth, async (c) => {
    const b = decode(SearchBody, await jsonBody(c, SEARCH_BODY_LIMIT_BYTES));
    return c.json(await api.search({ query: b.query, embedding: b.embedding, limit: b.limit, filters: b.filters }));
  });
}
