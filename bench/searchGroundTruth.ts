/**
 * Exact answers for the search benchmark (bench/search.ts), computed here rather than
 * trusted from any index: an exact cosine top-k over every vector in the replica's file
 * (for the library's and the master's recall@10), and the exact BM25 top 10 over all FTS
 * matches (for the library's FTS ranking, which only ranks a bounded candidate set).
 */
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { ftsMatch, ftsTerms } from "../src/search/ftsQuery.ts";
import { blobToVector } from "../src/search/vectors/VectorIndex.ts";
import { TABLE } from "./searchClasses.ts";
import { distribution, round, type Distribution } from "./util.ts";

export interface GroundTruth {
  readonly ids: string[];
  readonly vectors: Float32Array;
  readonly norms: Float32Array;
  readonly dim: number;
}

export function loadGroundTruth(file: string, dim: number): GroundTruth {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const n = db.prepare(`SELECT count(*) FROM ${TABLE} WHERE embedding IS NOT NULL`).pluck().get() as number;
    const ids: string[] = [];
    const vectors = new Float32Array(n * dim);
    const norms = new Float32Array(n);
    let i = 0;
    for (const r of db.prepare(`SELECT id, embedding FROM ${TABLE} WHERE embedding IS NOT NULL`).iterate() as IterableIterator<{ id: string; embedding: Buffer }>) {
      const v = blobToVector(r.embedding);
      if (v.length !== dim) continue;
      vectors.set(v, i * dim);
      let s = 0;
      for (let k = 0; k < dim; k++) s += v[k]! * v[k]!;
      norms[i] = Math.sqrt(s);
      ids.push(r.id);
      i++;
    }
    return { ids, vectors: vectors.subarray(0, i * dim), norms: norms.subarray(0, i), dim };
  } finally {
    db.close();
  }
}

/** Exact top-k by cosine over every vector (a full scan). */
export function exactTopK(gt: GroundTruth, q: Float32Array, k: number): string[] {
  const { vectors, norms, dim } = gt;
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += q[j]! * q[j]!;
  qn = Math.sqrt(qn);
  const bestScore = new Float64Array(k).fill(-Infinity);
  const bestIdx = new Int32Array(k).fill(-1);
  for (let i = 0, base = 0; i < gt.ids.length; i++, base += dim) {
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += vectors[base + j]! * q[j]!;
    const s = dot / (norms[i]! * qn);
    if (s <= bestScore[k - 1]!) continue;
    let p = k - 1;
    while (p > 0 && bestScore[p - 1]! < s) {
      bestScore[p] = bestScore[p - 1]!;
      bestIdx[p] = bestIdx[p - 1]!;
      p--;
    }
    bestScore[p] = s;
    bestIdx[p] = i;
  }
  return [...bestIdx].filter((i) => i >= 0).map((i) => gt.ids[i]!);
}

export const overlap = (a: readonly string[], b: readonly string[]) => {
  const s = new Set(b);
  return a.filter((x) => s.has(x)).length;
};

export interface FtsRanking {
  readonly queries: number;
  readonly meanMatches: number;
  readonly asGoodAsExact: number;
  readonly exactMs: Distribution;
}

/**
 * FTS ranking quality: the library ranks by BM25 among at most FTS_CANDIDATES matches (the
 * highest rowids). For each query, the share of its top 10 whose BM25 is at least as good as
 * the 10th best over all matches (exact, tie-proof), and the time the exact query takes.
 */
export async function ftsRankingCheck(file: string, memory: EmbeddedMemory, texts: readonly string[]): Promise<FtsRanking> {
  const ro = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const best = ro.prepare(`SELECT bm25(memory_fts, 1.0, 0.5) AS s FROM memory_fts WHERE memory_fts MATCH ? ORDER BY s LIMIT 10`).pluck();
    const matches = ro.prepare(`SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?`).pluck();
    const scoreOf = ro.prepare(`SELECT bm25(memory_fts, 1.0, 0.5) FROM memory_fts WHERE memory_fts MATCH ? AND rowid = (SELECT rid FROM memory_rowids WHERE id = ?)`).pluck();
    const shares: number[] = [];
    const ms: number[] = [];
    let matched = 0;
    for (const text of texts) {
      const match = ftsMatch(ftsTerms(text), "all");
      const t0 = performance.now();
      const exact = best.all(match) as number[];
      ms.push(performance.now() - t0);
      matched += matches.get(match) as number;
      if (exact.length === 0) continue;
      const tenth = exact[exact.length - 1]!;
      const res = await memory.search({ query: text, limit: 10 }, { method: "fts", trackAccess: false, weights: { importance: 0, recency: 0 } });
      const good = res.results.filter((r) => (scoreOf.get(match, r.id) as number | undefined ?? Infinity) <= tenth + 1e-9).length;
      shares.push(good / exact.length);
    }
    return { queries: texts.length, meanMatches: round(matched / texts.length, 0), asGoodAsExact: round(shares.reduce((a, b) => a + b, 0) / (shares.length || 1), 3), exactMs: distribution(ms) };
  } finally {
    ro.close();
  }
}
