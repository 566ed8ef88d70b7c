/**
 * Running the retrieval benchmark's labelled queries (bench/retrievalQueries.ts) through
 * `memory.search` and scoring what comes back, per kind and ranking.
 *
 * Per query, on the top 10 returned:
 * - reciprocal rank of the primary memory (of the first relevant one when a query has no
 *   primary), 0 when it is not in the top 10: MRR@10 is its mean;
 * - recall@10 = relevant memories in the top 10 / min(10, relevant memories);
 * - nDCG@10 with linear gains (the labels' grades), log2 discount;
 * - "first": the primary (or a relevant memory) is result 1;
 * - the kind's invariant (KIND_INFO), when it has one.
 * Latency: `measure` from bench/searchLibrary.ts, around each `await memory.search(...)`.
 */
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import type { SearchRequest } from "../src/schema/search.ts";
import type { SearchOptions } from "../src/search/Search.ts";
import { measure } from "./searchLibrary.ts";
import { KINDS, KIND_INFO, type Kind, type LabelledQuery, type QueryBook } from "./retrievalQueries.ts";
import { round, type Distribution } from "./util.ts";

export const RANKINGS = ["legacy", "relevance"] as const;
export type Ranking = (typeof RANKINGS)[number];
const K = 10;

export interface QueryScore {
  readonly rr: number;
  readonly recall: number | null;
  readonly ndcg: number | null;
  readonly first: boolean;
  readonly results: number;
  /** Whether the kind's invariant held; null for kinds without one. */
  readonly invariant: boolean | null;
}

export function scoreQuery(kind: Kind, q: LabelledQuery, ids: readonly string[]): QueryScore {
  const top = ids.slice(0, K);
  const target = q.primary;
  const rank = target !== undefined ? top.indexOf(target) : top.findIndex((id) => q.relevant.has(id));
  const rel = q.relevant.size;
  const hits = top.filter((id) => q.relevant.has(id)).length;
  const dcg = top.reduce((s, id, i) => s + (q.relevant.get(id) ?? 0) / Math.log2(i + 2), 0);
  const ideal = [...q.relevant.values()].sort((a, b) => b - a).slice(0, K).reduce((s, g, i) => s + g / Math.log2(i + 2), 0);
  return {
    rr: rank >= 0 ? 1 / (rank + 1) : 0,
    recall: rel ? hits / Math.min(K, rel) : null,
    ndcg: ideal > 0 ? dcg / ideal : null,
    first: rank === 0,
    results: ids.length,
    invariant: invariantHolds(kind, q, ids),
  };
}

function invariantHolds(kind: Kind, q: LabelledQuery, ids: readonly string[]): boolean | null {
  switch (kind) {
    case "unique-term":
    case "reordered-inflected":
    case "common-rare":
    case "vector-exact":
      return ids[0] === q.primary;
    case "common-pair": {
      const want = Math.min(K, q.relevant.size);
      return ids.length >= want && ids.slice(0, want).every((id) => q.relevant.has(id));
    }
    case "tie":
      return q.order!.every((id, k) => ids[k] === id);
    case "nonsense":
      return ids.length === 0;
    default:
      return null;
  }
}

export interface KindResult {
  readonly queries: number;
  readonly mrrAt10: number | null;
  readonly recallAt10: number | null;
  readonly ndcgAt10: number | null;
  readonly firstRate: number | null;
  /** Share of queries whose right memory is anywhere in the top 10 (first < this: ranked too low; this < 1: not found). */
  readonly inTop10Rate: number | null;
  /** Share of queries the kind's invariant held for (null: the kind has none). */
  readonly invariantRate: number | null;
  readonly invariantFailures: number;
  readonly meanResults: number;
  readonly queriesWithResults: number;
  readonly unexpectedMethod: number;
  readonly ms: Distribution;
  /** The first few queries, as asked. */
  readonly examples: readonly string[];
  /** The first few queries the invariant failed for, with the top results and their scores, to look at. */
  readonly failed: readonly { text?: string; primary?: string; expected?: readonly string[]; got: readonly { id: string; score: number }[] }[];
}

const mean = (xs: readonly (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? round(v.reduce((a, b) => a + b, 0) / v.length, 4) : null;
};

/** The library request for a labelled query (limit 10, no filters, the replica's default floor). */
export const requestOf = (q: LabelledQuery): SearchRequest => ({
  ...(q.text !== undefined ? { query: q.text } : {}),
  ...(q.embedding ? { embedding: Array.from(q.embedding) } : {}),
  limit: K,
});

/** One kind under one ranking: every query once (timed, after `warmup` unmeasured ones), then scored. */
export async function runKind(mem: EmbeddedMemory, kind: Kind, queries: readonly LabelledQuery[], ranking: Ranking, warmup: number, weights?: SearchOptions["weights"]): Promise<KindResult> {
  const n = queries.length;
  const requests = queries.map(requestOf);
  const got: string[][] = Array.from({ length: n }, () => []);
  const scored: { id: string; score: number }[][] = Array.from({ length: n }, () => []);
  const timed = await measure(n, Math.min(warmup, n), n, async (i) => {
    const r = await mem.search(requests[i]!, { ranking, trackAccess: false, ...(weights ? { weights } : {}) });
    got[i] = r.results.map((x) => x.id);
    scored[i] = r.results.slice(0, 4).map((x) => ({ id: x.id, score: x.score }));
    return { results: r.results.length, method: r.search_method };
  }, KIND_INFO[kind].method);
  const scores = queries.map((q, i) => scoreQuery(kind, q, got[i]!));
  const inv = scores.map((s) => s.invariant).filter((x): x is boolean => x !== null);
  const hasPrimaryOrRelevant = queries.some((q) => q.primary !== undefined || q.relevant.size > 0);
  return {
    queries: n,
    mrrAt10: hasPrimaryOrRelevant ? mean(scores.map((s) => s.rr)) : null,
    recallAt10: mean(scores.map((s) => s.recall)),
    ndcgAt10: mean(scores.map((s) => s.ndcg)),
    firstRate: hasPrimaryOrRelevant ? mean(scores.map((s) => (s.first ? 1 : 0))) : null,
    inTop10Rate: hasPrimaryOrRelevant ? mean(scores.map((s) => (s.rr > 0 ? 1 : 0))) : null,
    invariantRate: inv.length ? round(inv.filter(Boolean).length / inv.length, 4) : null,
    invariantFailures: inv.filter((x) => !x).length,
    meanResults: round(scores.reduce((s, x) => s + x.results, 0) / Math.max(1, n), 2),
    queriesWithResults: scores.filter((s) => s.results > 0).length,
    unexpectedMethod: timed.unexpectedMethod,
    ms: timed.ms,
    failed: scores
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => s.invariant === false)
      .slice(0, 3)
      .map(({ i }) => ({ text: queries[i]!.text, primary: queries[i]!.primary, expected: queries[i]!.order, got: scored[i]! })),
    examples: queries.slice(0, 3).map((q) => q.text ?? `(embedding${q.primary ? ` of ${q.primary}` : ""})`),
  };
}

export type RetrievalResults = Record<Kind, Record<Ranking, KindResult>>;

/** Every kind, each ranking in turn (legacy then relevance, so neither always runs on a warmer cache). */
export async function runAllKinds(mem: EmbeddedMemory, book: QueryBook, rankings: readonly Ranking[], warmup: number, say: (s: string) => void): Promise<RetrievalResults> {
  const out = {} as RetrievalResults;
  for (const [k, kind] of KINDS.entries()) {
    out[kind] = {} as Record<Ranking, KindResult>;
    const order = k % 2 === 0 ? rankings : [...rankings].reverse();
    for (const ranking of order) {
      const r = await runKind(mem, kind, book[kind], ranking, warmup);
      out[kind][ranking] = r;
      say(`  ${kind} (${ranking}): MRR@10 ${r.mrrAt10 ?? "-"}, recall@10 ${r.recallAt10 ?? "-"}, first ${r.firstRate ?? "-"}, invariant ${r.invariantRate ?? "-"}, ${r.meanResults} results, p50 ${r.ms.p50} ms`);
    }
  }
  return out;
}

/** The vector kinds with importance and recency weighted 0: the order is the index's own, so a miss here is the index's, not the ranking's. */
export const INDEX_ONLY_KINDS = ["vector-exact", "vector-near"] as const satisfies readonly Kind[];
export type IndexOnlyResults = Record<(typeof INDEX_ONLY_KINDS)[number], KindResult>;

export async function runIndexOnly(mem: EmbeddedMemory, book: QueryBook, warmup: number, say: (s: string) => void): Promise<IndexOnlyResults> {
  const out = {} as IndexOnlyResults;
  for (const kind of INDEX_ONLY_KINDS) {
    const r = (out[kind] = await runKind(mem, kind, book[kind], "relevance", warmup, { importance: 0, recency: 0 }));
    say(`  ${kind} (no importance/recency): first ${r.firstRate}, in top 10 ${r.inTop10Rate}, recall@10 ${r.recallAt10}`);
  }
  return out;
}
