/**
 * A search request (library `search`, HTTP `POST /memory/search`, MCP `memory_search`), its
 * filters, and the query-string form of `GET /memory/search`, which decodes into the same
 * request.
 */
import * as Schema from "effect/Schema";
import { IsoDate, LIMITS, opt, Text, Unit, Uuid, Vector } from "./fields.ts";

export const SearchFilters = Schema.Struct({
  tenant_id: opt(Uuid),
  memory_type: opt(Text(LIMITS.text)),
  source_agent: opt(Text(LIMITS.text)),
  min_importance: opt(Unit),
  tags: opt(Schema.Array(Text(LIMITS.text)).check(Schema.isMaxLength(LIMITS.filterTags)).annotate({ description: "every listed tag must be present" })),
  created_after: opt(IsoDate),
  created_before: opt(IsoDate),
}).annotate({ title: "SearchFilters", description: "SQL predicates applied before ranking; tenant_id also admits shared (NULL-tenant) rows" });

export type SearchFilters = typeof SearchFilters.Type;

export const SearchRequest = Schema.Struct({
  query: opt(Text(LIMITS.query)),
  embedding: opt(Vector.annotate({ description: "A query vector with the replica's dimension" })),
  limit: opt(Schema.Int.annotate({ description: "1..100, default 10; clamped" })),
  filters: opt(SearchFilters),
  min_score: opt(Unit.annotate({ description: "the relevance floor: results scoring below it (0..1) are not returned; default the replica's SEARCH_MIN_SCORE" })),
}).annotate({ title: "SearchRequest" });

/** What `search()` takes. */
export type SearchRequest = typeof SearchRequest.Type;

const IntString = Schema.String.check(Schema.isPattern(/^-?\d+$/, { message: "expected a whole number" }));
const UnitString = Schema.String.check(
  Schema.isPattern(/^\d+(\.\d+)?$/, { message: "expected a number from 0 to 1" }),
  Schema.makeFilter((s: string) => Number(s) <= 1 || "expected a number from 0 to 1"),
);

/** GET /memory/search: every value is text. */
export const SearchQuery = Schema.Struct({
  q: opt(Text(LIMITS.query)),
  query: opt(Text(LIMITS.query)),
  limit: opt(IntString.annotate({ description: "1..100, default 10; clamped" })),
  memory_type: opt(Text(LIMITS.text)),
  source_agent: opt(Text(LIMITS.text)),
  min_importance: opt(UnitString.annotate({ description: "0..1" })),
  tenant_id: opt(Uuid),
  tags: opt(Text(4_000).annotate({ description: "comma-separated; all must be present" })),
  created_after: opt(IsoDate),
  created_before: opt(IsoDate),
  min_score: opt(UnitString.annotate({ description: "0..1, the relevance floor" })),
});

export type SearchQuery = typeof SearchQuery.Type;

/** The query-string form as a SearchRequest (empty values are absent). */
export function searchRequestFromQuery(q: SearchQuery): SearchRequest {
  const tags = q.tags?.split(",").filter((t) => t !== "");
  const filters: Record<string, unknown> = {
    memory_type: q.memory_type || undefined,
    source_agent: q.source_agent || undefined,
    min_importance: q.min_importance ? Number(q.min_importance) : undefined,
    tenant_id: q.tenant_id || undefined,
    tags: tags?.length ? tags : undefined,
    created_after: q.created_after || undefined,
    created_before: q.created_before || undefined,
  };
  for (const k of Object.keys(filters)) if (filters[k] === undefined) delete filters[k];
  return {
    query: q.q ?? q.query ?? "",
    ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
    ...(q.min_score ? { min_score: Number(q.min_score) } : {}),
    filters: filters as SearchFilters,
  };
}

export const ForceSyncQuery = Schema.Struct({ full: opt(Schema.Literals(["true", "false"])) });
