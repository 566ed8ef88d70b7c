/**
 * Local retrieval over the replica: FTS5 (BM25) and vector KNN candidates, filtered in SQL,
 * fused by reciprocal rank fusion and weighted by importance and recency (searchRank.ts).
 * Each returned memory's access is counted locally as a delta, for the write path to add
 * on the master.
 */
import type { Embedder } from "./embedding/Embedder.ts";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { recordAccess } from "../outbox/outboxTable.ts";
import { isLockError } from "../store/locked.ts";
import type { Logger } from "../observability/logger.ts";
import { ftsMatch, ftsTerms } from "./ftsQuery.ts";
import { filterSql, hasNarrowingFilters, normalizeFilters } from "./filters.ts";
import { invalid } from "../schema/decode.ts";
import type { SearchFilters, SearchRequest as SearchInput } from "../schema/search.ts";
import { DEFAULT_RANK_WEIGHTS, reciprocalRankFusion, weightedScore, type RankedList, type RankWeights } from "./rank.ts";
import { makeVectorStore, type VectorInfo, type VectorStore } from "./vectors/vectorStore.ts";

export type SearchMethod = "fts" | "vector" | "hybrid" | "filter";

/** How a search runs (library callers and benchmarks; not part of the HTTP or MCP input). */
export interface SearchOptions {
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
  readonly status: () => { state: string; complete: boolean };
  readonly logger: Logger;
  readonly weights?: Partial<RankWeights>;
}

/**
 * FTS candidates ranked by BM25: at most this many matches are ranked — those with the
 * highest row ids, i.e. stored last in this replica (after a first copy, that order is the
 * copy's key order, not time). Exact for queries matching fewer rows; for very common
 * words it bounds the cost. Measured at 100k rows: 300 keeps a two-common-word query at
 * ~2.7 ms p50 (1,000 took ~8.8 ms: each candidate pays for its join and filters).
 */
export const FTS_CANDIDATES = 300;

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

export function makeSearch(deps: SearchDeps): SearchService {
  const { store, table } = deps;
  const log = deps.logger.child({ module: "search" });
  const vectors = makeVectorStore(store, table, deps.embedder, deps.logger);
  const baseWeights: RankWeights = { ...DEFAULT_RANK_WEIGHTS, ...deps.weights };
  // Prepared once per text by the store, kept for the life of the file.
  const { statement: prepare, pluck } = store;

  const ftsCandidates = (match: string, where: string, params: unknown[], want: number): string[] => {
    // Bounded: FTS_CANDIDATES matches in descending rowid order (FTS5 walks rowids in order
    // and stops), then BM25 among them. Exact whenever a query matches fewer rows than that.
    const rows = prepare(
      `SELECT r.id AS id, bm25(memory_fts, 1.0, 0.5) AS rank FROM memory_fts
       JOIN memory_rowids r ON r.rid = memory_fts.rowid JOIN ${table} m ON m.id = r.id
       WHERE memory_fts MATCH ? AND ${where} ORDER BY memory_fts.rowid DESC LIMIT ${FTS_CANDIDATES}`,
    ).all(match, ...params) as { id: string; rank: number }[];
    return rows.sort((a, b) => a.rank - b.rank).slice(0, want).map((r) => r.id);
  };

  /** Rows matching every word; when fewer than wanted, also rows matching some words. */
  const fts = (terms: string[], where: string, params: unknown[], want: number, w: RankWeights): RankedList[] => {
    const all = ftsCandidates(ftsMatch(terms, "all"), where, params, want);
    if (all.length >= want || terms.length === 1) return [{ ids: all, weight: 1 }];
    const seen = new Set(all);
    const some = ftsCandidates(ftsMatch(terms, "any"), where, params, want).filter((id) => !seen.has(id));
    return [{ ids: all, weight: 1 }, { ids: some, weight: w.partialMatch }];
  };


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

    const lists: RankedList[] = [];
    let usedFts = false;
    let usedVector = false;
    if (terms.length > 0) {
      lists.push(...fts(terms, where, params, want, weights));
      usedFts = true;
    }
    if (!queryVector && index && deps.embedder && query.trim() !== "" && method !== "fts") {
      try {
        const [v] = await deps.embedder.embed([query]);
        if (v && v.length === index.dim) queryVector = v;
        else log.warn({ provider: deps.embedder.provider, dim: v?.length, indexDim: index.dim }, "query vector dimension differs from the replica's vectors: vector search skipped");
      } catch (err) {
        log.warn({ err }, "embedding the query failed: vector search skipped");
      }
    }
    if (queryVector && index) {
      const allowed = hasNarrowingFilters(filters) ? new Set(pluck(`SELECT m.id FROM ${table} m WHERE ${where}`).all(...params) as string[]) : undefined;
      lists.push({ ids: index.search(queryVector, want, Math.max(200, want * 4), vectors.lookup, allowed).map((h) => h.id), weight: 1 });
      usedVector = true;
    } else if (queryVector) usedVector = true; // a vector was given, but the replica holds none

    let ids: string[];
    let fused: Map<string, number>;
    if (lists.length > 0) {
      fused = reciprocalRankFusion(lists, weights.rrfK);
      ids = [...fused.keys()];
    } else if (query.trim() === "" && req.embedding === undefined) {
      // No query at all: the most important, most recent memories that pass the filters.
      ids = pluck(`SELECT m.id FROM ${table} m WHERE ${where} ORDER BY m.importance_score DESC, m.created_at DESC LIMIT ${want}`).all(...params) as string[];
      fused = reciprocalRankFusion([{ ids, weight: 1 }], weights.rrfK);
    } else {
      ids = [];
      fused = new Map();
    }

    const rows = ids.length
      ? (prepare(
          `SELECT m.id, m.content, m.memory_type, m.source_agent, m.importance_score, m.created_at, m.metadata, m.tags, m.tenant_id
           FROM ${table} m WHERE m.id IN (SELECT value FROM json_each(?)) AND ${where}`,
        ).all(JSON.stringify(ids), ...params) as Row[])
      : [];
    const now = Date.now();
    const results = rows
      .map((r) => ({ r, score: weightedScore(fused.get(r.id) ?? 0, r.importance_score, r.created_at, weights, now) }))
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
    const searchMethod: SearchMethod = usedFts && usedVector ? "hybrid" : usedVector ? "vector" : usedFts ? "fts" : lists.length === 0 && ids.length ? "filter" : "fts";
    return { results, total: results.length, query, search_method: searchMethod, state: status.state, complete: status.complete };
  };

  return { search, vectors, vectorInfo: () => vectors.info(), close: () => vectors.close() };
}
