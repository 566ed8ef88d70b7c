/**
 * The search benchmark's query classes (bench/search.ts) and what every part shares about
 * them: the targets, the class names and labels, query i of a class, and how that query is
 * put to the library and to the HTTP route. One place, so the library, HTTP and master parts
 * all ask the very same questions.
 */
import type { SearchOptions, SearchRequest } from "../src/search/Search.ts";
import type { SearchRequest as SearchInput } from "../src/schema/search.ts";
import type { QuerySet } from "./searchData.ts";

export const TARGETS = {
  ftsRareP50Ms: 0.2,
  ftsCommonP50Ms: 5,
  vectorP50Ms: 5,
  recallAt10: 0.95,
  hybridP50Ms: 10,
  httpAddedMs: 1,
  /** master p50 / replica p50 */
  loopbackRatio: 1,
  linkRatio: 10,
};

/** The memory table, on the master and in the replica's file. */
export const TABLE = "unified_ai_memory";

export type ClassName = "fts-rare" | "fts-common" | "vector" | "hybrid-topic" | "hybrid-common";
export const CLASSES: readonly ClassName[] = ["fts-rare", "fts-common", "vector", "hybrid-topic", "hybrid-common"];
export const CLASS_INFO: Record<ClassName, { label: string; target?: number; expect: string }> = {
  "fts-rare": { label: "FTS, one rare term (1–5 rows)", target: TARGETS.ftsRareP50Ms, expect: "fts" },
  "fts-common": { label: "FTS, two common terms (~1/6 of rows each)", target: TARGETS.ftsCommonP50Ms, expect: "fts" },
  vector: { label: "vector KNN, query vector", target: TARGETS.vectorP50Ms, expect: "vector" },
  "hybrid-topic": { label: "hybrid: 2 topic terms + vector", target: TARGETS.hybridP50Ms, expect: "hybrid" },
  "hybrid-common": { label: "hybrid: 2 common terms + vector", target: TARGETS.hybridP50Ms, expect: "hybrid" },
};

export interface BenchQuery {
  readonly text: string | undefined;
  readonly vector: Float32Array | undefined;
}

export function queryOf(cls: ClassName, q: QuerySet, i: number): BenchQuery {
  const n = q.rare.length;
  const k = i % n;
  switch (cls) {
    case "fts-rare":
      return { text: q.rare[k], vector: undefined };
    case "fts-common":
      return { text: q.common[k], vector: undefined };
    case "vector":
      return { text: undefined, vector: q.vectors[k] };
    case "hybrid-topic":
      return { text: q.topicText[k], vector: q.vectors[k] };
    case "hybrid-common":
      return { text: q.common[k], vector: q.vectors[k] };
  }
}

/** What the library is asked (HTTP sends the same query, embedding and limit). */
export function libraryRequest(cls: ClassName, bq: BenchQuery, trackAccess: boolean): SearchRequest {
  return {
    ...(bq.text !== undefined ? { query: bq.text } : {}),
    ...(bq.vector ? { embedding: Array.from(bq.vector) } : {}),
    ...(cls === "vector" ? { method: "vector" as const } : {}),
    limit: 10,
    trackAccess,
  };
}

/** A merged request as the library's two arguments: the request, and how to run it. */
export function searchArgs(r: SearchRequest): [SearchInput, SearchOptions] {
  const { method, weights, trackAccess, ...request } = r;
  return [request, { method, weights, trackAccess }];
}

/** The POST /memory/search body for a query (the same query, embedding and limit as the library's). */
export const httpBody = (bq: BenchQuery) =>
  JSON.stringify({ ...(bq.text !== undefined ? { query: bq.text } : {}), ...(bq.vector ? { embedding: Array.from(bq.vector) } : {}), limit: 10 });
