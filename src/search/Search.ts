/**
 * Local retrieval over the replica: FTS5 (BM25) and vector KNN candidates, filtered in SQL,
 * fused by relevance with importance and recency as a bounded tie-breaker (rank.ts); only the
 * rows of candidates that can still place are read.
 * Each returned memory's access is counted locally as a delta, for the write path to add
 * on the master.
 */
import type { Embedder } from "./embedding/Embedder.ts";
import { makeQueryEmbedding, type QueryEmbeddingOptions } from "./embedding/queryEmbedding.ts";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { recordAccess } from "../outbox/outboxTable.ts";
import { isLockError } from "../store/locked.ts";
import type { Logger } from "../observability/logger.ts";
import { ftsTerms } from "./ftsQuery.ts";
import { makeFullText, type TextHit } from "./fullText.ts";
import { filterSql, hasNarrowingFilters, normalizeFilters } from "./filters.ts";
import { invalid } from "../schema/decode.ts";
import type { SearchFilters, SearchRequest as SearchInput } from "../schema/search.ts";
import { boost, DEFAULT_MIN_SCORE, DEFAULT_RANK_WEIGHTS, finalScore, fuseRelevance, holdsAllTerms, legacyScores, textRelevance, vectorRelevance, type RankWeights } from "./rank.ts";
import type { VectorHit } from "./vectors/VectorIndex.ts";
import { makeVectorStore, type VectorInfo, type VectorStore } from "./vectors/vectorStore.ts";

export type SearchMethod = "fts" | "vector" | "hybrid" | "filter";

/** How a search runs (library callers and benchmarks; not part of the HTTP or MCP input). */
export interface SearchOptions {
  /** `relevance` (default); `legacy` is the ranking before issue 11, kept for the retrieval benchmark's comparison. */
  readonly ranking?: "relevance" | "legacy";
  /** Restrict to one method; default: every method that can answer. */
  readonly method?: "auto" | "fts" | "vector";
  readonly weights?: Partial<RankWeights>;
  /** Count the access of returned memories (default true). */
  readonly trackAccess?: boolean;
}

/** A decoded request (schema/search.ts) and how to run it. */
export type SearchRequest = SearchInput & SearchOptions;

export interface SearchResult {
  readonly id: string;
  readonly content: unknown;
  readonly memory_type: string | null;
  readonly source_agent: string | null;
  readonly importance_score: number | null;
  readonly created_at: string | null;
  readonly metadata: unknown;
  readonly tags: unknown;
  readonly tenant_id: string | null;
  readonly score: number;
}

export interface SearchResponse {
  readonly results: SearchResult[];
  readonly total: number;
  readonly query: string;
  readonly search_method: SearchMethod;
  /** The sync state when the search ran, and whether the replica holds a complete copy. */
  readonly state: string;
  readonly complete: boolean;
  /** The replica was away past the changelog retention: this answer is from its older copy while a new one is made. */
  readonly stale: boolean;
}

export interface SearchService {
  readonly search: (request: SearchRequest) => Promise<SearchResponse>;
  readonly vectors: VectorStore;
  readonly vectorInfo: () => VectorInfo;
  readonly close: () => void;
}

export interface SearchDeps {
  readonly store: LocalStoreShape;
  readonly table: string;
  readonly embedder: Embedder | undefined;
  readonly status: () => { state: string; complete: boolean; stale?: boolean };
  readonly logger: Logger;
  readonly weights?: Partial<RankWeights>;
  /** The floor when a request names none (config searchMinScore). */
  readonly minScore?: number;
  /** The query embedding's deadline and cool-down after a failure (queryEmbedding.ts). */
  readonly queryEmbedding?: QueryEmbeddingOptions;
}

/** Re-exported for the benchmarks that name it. */
export { FTS_CANDIDATES } from "./fullText.ts";

interface Row {
  id: string;
  content: string | null;
  memory_type: string | null;
  source_agent: string | null;
  importance_score: number | null;
  created_at: string | null;
  metadata: string | null;
  tags: string | null;
  tenant_id: string | null;
}

const parseJson = (text: string | null): unknown => {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
const toIso = (t: string | null) => (t ? t.replace(/(\.\d{3})\d*Z$/, "$1Z") : null);

/** `limit` is clamped to 1..100, as the contract says. */
const clampLimit = (n: number | undefined): number => (n === undefined ? 10 : Math.min(100, Math.max(1, n)));

/** The query vector; its dimension is the one check the schema cannot make (it depends on the replica). */
function checkedVector(v: readonly number[] | undefined, dim: number | null): Float32Array | undefined {
  if (v === undefined) return undefined;
  if (dim !== null && v.length !== dim) return invalid("embedding", `has ${v.length} dimensions, the replica's vectors have ${dim}`);
  return Float32Array.from(v);
}

/** The lists the earlier ranking fused: all words (weight 1), some words (½), vector neighbours (1). */
function legacyLists(textHits: readonly TextHit[], vectorHits: readonly VectorHit[], w: RankWeights) {
  const all = textHits.filter((h) => holdsAllTerms(h.coverage)).map((h) => h.id);
  const some = textHits.filter((h) => !holdsAllTerms(h.coverage)).map((h) => h.id);
  return [
    { ids: all, weight: 1 },
    { ids: some, weight: w.partialMatch },
    { ids: vectorHits.map((h) => h.id), weight: 1 },
  ];
}

/** rel(d) per candidate (rank.ts): the real BM25 and cosine values, normalised per query. */
function fusedRelevance(textHits: readonly TextHit[], vectorHits: readonly VectorHit[], usedText: boolean, tieBreak: number): Map<string, number> {
  const text = textRelevance(new Map(textHits.map((h) => [h.id, h])), tieBreak);
  const cosine = new Map(vectorHits.map((h) => [h.id, vectorRelevance(h.centred)]));
  const usedVectors = vectorHits.length > 0;
  const relevance = new Map<string, number>();
  for (const id of new Set([...text.keys(), ...cosine.keys()])) {
    relevance.set(id, fuseRelevance(usedText ? (text.get(id) ?? 0) : undefined, usedVectors ? (cosine.get(id) ?? 0) : undefined));
  }
  return relevance;
}

const rowsSql = (table: string, where: string) =>
  `SELECT m.id, m.content, m.memory_type, m.source_agent, m.importance_score, m.created_at, m.metadata, m.tags, m.tenant_id
   FROM ${table} m WHERE m.id IN (SELECT value FROM json_each(?)) AND ${where}`;

export function makeSearch(deps: SearchDeps): SearchService {
  const { store, table } = deps;
  const log = deps.logger.child({ module: "search" });
  const vectors = makeVectorStore(store, table, deps.embedder, deps.logger);
  const embedQuery = deps.embedder ? makeQueryEmbedding(deps.embedder, log, deps.queryEmbedding) : undefined;
  const baseWeights: RankWeights = { ...DEFAULT_RANK_WEIGHTS, ...deps.weights };
  // Prepared once per text by the store, kept for the life of the file.
  const { statement: prepare, pluck } = store;

  const fullText = makeFullText(store, table);
  const minScoreDefault = deps.minScore ?? DEFAULT_MIN_SCORE;

  /**
   * Counting reads is a side effect of a search, not its purpose: when another process holds
   * the file's write lock, the search still answers and these counts are dropped (logged).
   */
  const countAccess = (ids: string[]) => {
    try {
      recordAccess(store, ids);
    } catch (err) {
      if (!isLockError(err)) throw err;
      deps.logger.warn({ ids: ids.length }, "the replica file is locked by another process: this search's access counts were not recorded");
    }
  };

  const fetch = (where: string, params: unknown[], ids: readonly string[]): Row[] => (ids.length ? (prepare(rowsSql(table, where)).all(JSON.stringify(ids), ...params) as Row[]) : []);

  /**
   * The rows of the candidates that can be among the first `limit`. score(d) lies in
   * [rel(d) / (1 + ε), rel(d)] (rank.ts), so once the `limit` most relevant candidates pass the
   * filters, one whose rel(d) is below rel_limit / (1 + ε), or below the floor, cannot place:
   * its row is not read. When a filter drops one of the first, every candidate above the floor is.
   */
  const fetchPlaceable = (relevance: ReadonlyMap<string, number>, limit: number, minScore: number, eps: number, where: string, params: unknown[]): Row[] => {
    const ids = [...relevance.keys()];
    if (!(eps >= 0)) return fetch(where, params, ids);
    const rels = [...relevance.values()].sort((a, b) => b - a);
    const cut = Math.max(minScore, rels.length >= limit ? rels[limit - 1]! / (1 + eps) : -Infinity);
    const first = ids.filter((id) => relevance.get(id)! >= cut);
    const rows = fetch(where, params, first);
    return rows.length === first.length ? rows : fetch(where, params, ids.filter((id) => relevance.get(id)! >= minScore));
  };

  const search = async (req: SearchRequest): Promise<SearchResponse> => {
    const query = req.query ?? "";
    const limit = clampLimit(req.limit);
    const filters: SearchFilters = normalizeFilters(req.filters);
    const weights = { ...baseWeights, ...req.weights };
    const method = req.method ?? "auto";
    const index = method === "fts" ? undefined : vectors.index();
    let queryVector = method === "fts" ? undefined : checkedVector(req.embedding, index?.dim ?? null);
    const terms = method === "vector" ? [] : ftsTerms(query);
    const want = Math.max(limit * 3, 30);
    const { where, params } = filterSql(filters);

    const narrowing = hasNarrowingFilters(filters);
    const textHits = terms.length > 0 ? fullText.search(terms, { where, params, narrowing }, want) : [];
    if (!queryVector && index && embedQuery && query.trim() !== "" && method !== "fts") {
      const v = await embedQuery(query);
      if (v && v.length === index.dim) queryVector = v;
      else if (v) log.warn({ provider: deps.embedder?.provider, dim: v.length, indexDim: index.dim }, "query vector dimension differs from the replica's vectors: vector search skipped");
    }
    let vectorHits: VectorHit[] = [];
    if (queryVector && index) {
      const allowed = narrowing ? new Set(pluck(`SELECT m.id FROM ${table} m WHERE ${where}`).all(...params) as string[]) : undefined;
      vectorHits = index.search(queryVector, want, want + 20, vectors.lookup, allowed);
    }
    const usedFts = terms.length > 0;
    const usedVector = queryVector !== undefined;
    const listing = !usedFts && !usedVector && query.trim() === "";

    const relevance = fusedRelevance(textHits, vectorHits, usedFts, weights.tieBreak);
    const minScore = req.min_score ?? minScoreDefault;
    const rows = listing
      ? fetch(where, params, pluck(`SELECT m.id FROM ${table} m WHERE ${where} ORDER BY m.importance_score DESC, m.created_at DESC LIMIT ${want}`).all(...params) as string[])
      : req.ranking === "legacy"
        ? fetch(where, params, [...relevance.keys()])
        : fetchPlaceable(relevance, limit, minScore, weights.tieBreak, where, params);
    const now = Date.now();
    const legacy = req.ranking === "legacy" ? legacyScores(legacyLists(textHits, vectorHits, weights), rows, now) : undefined;
    const scored = rows.map((r) => {
      const b = boost(r.importance_score, r.created_at, weights, now);
      // A listing (no query at all) has no relevance: it is ordered by importance and recency alone.
      const score = legacy ? (legacy.get(r.id) ?? 0) : listing ? b : finalScore(relevance.get(r.id) ?? 0, b, weights);
      return { r, score };
    });
    const results = scored
      .filter(({ score }) => legacy !== undefined || listing || score >= minScore)
      .sort((a, b) => b.score - a.score)
      .slice(0, limit)
      .map(({ r, score }) => ({
        id: r.id,
        content: parseJson(r.content),
        memory_type: r.memory_type,
        source_agent: r.source_agent,
        importance_score: r.importance_score,
        created_at: toIso(r.created_at),
        metadata: parseJson(r.metadata),
        tags: parseJson(r.tags),
        tenant_id: r.tenant_id,
        score: Number(score.toFixed(6)),
      }));
    if (req.trackAccess !== false && results.length) countAccess(results.map((r) => r.id));
    const status = deps.status();
    const searchMethod: SearchMethod = usedFts && usedVector ? "hybrid" : usedVector ? "vector" : usedFts ? "fts" : listing ? "filter" : "fts";
    return { results, total: results.length, query, search_method: searchMethod, state: status.state, complete: status.complete, stale: status.stale === true };
  };

  return { search, vectors, vectorInfo: () => vectors.info(), close: () => (fullText.close(), vectors.close()) };
}
