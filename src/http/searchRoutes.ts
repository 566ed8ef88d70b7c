/**
 * GET and POST /memory/search. The POST body goes to the library, which decodes it with the
 * SearchRequest schema; the query string is decoded here (its own schema, every value text)
 * into the same request. The search itself is the library's.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { decodeInput, SearchQuery, searchRequestFromQuery, type EmbeddedMemory, type SearchRequest } from "../index.ts";
import { jsonBody } from "./jsonBody.ts";

export type SearchApi = Pick<EmbeddedMemory, "search">;

export const SEARCH_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export function searchRoutes(app: Hono, api: SearchApi, auth: MiddlewareHandler): void {
  app.get("/memory/search", auth, async (c) => c.json(await api.search(searchRequestFromQuery(decodeInput(SearchQuery, c.req.query(), "query")))));

  app.post("/memory/search", auth, async (c) => c.json(await api.search((await jsonBody(c, SEARCH_BODY_LIMIT_BYTES)) as SearchRequest)));
}
