/**
 * Relevance-first ranking. Each method keeps its real relevance, normalised per query to 0..1:
 *
 *   text(d)   = coverage(d) · (½ + ½ · bm25(d) / max bm25) · π(d)   coverage: the IDF-weighted
 *                                                              share of the query's terms d contains;
 *                                                              π(d) = 1 with every term, else 1/(1 + ε)²
 *   vector(d) = max(0, cosine(query − μ, d − μ))               μ: the rows' per-dimension mean, so
 *                                                              unrelated rows score ≈ 0 on offset data
 *   rel(d)    = the mean of text(d) and vector(d) over the methods the query used (a hybrid
 *               query's row found by one list only gets 0 for the other), or the one used
 *
 * Importance and recency are a bounded tie-breaker:
 *
 *   boost(d)  = (wᵢ · importance(d) + wᵣ · 0.5^(age_days(d) / halfLife)) / (wᵢ + wᵣ)   ∈ [0, 1]
 *   score(d)  = rel(d) · (1 + ε · boost(d)) / (1 + ε)                                  ∈ [0, 1]
 *
 * The bound: score(d) ≥ rel(d) / (1 + ε) and score(d) ≤ rel(d), so when rel(a) ≥ (1 + ε) · rel(b)
 * then score(a) ≥ score(b) whatever their boosts — importance and recency reorder only results
 * whose relevance is within a factor 1 + ε (5 % by default) of each other, and a decisively
 * better match is never overtaken. And a row holding only some of the words, whatever its BM25,
 * ranks below a row holding all of them whose unpenalised text relevance is within 1 + ε of
 * its own: π puts it a further (1 + ε)² down, more than a boost can lift (the failure this
 * prevents: "a b c" with c in 12 % of rows, the one row holding all three long, a short row with
 * a and b scored 0.96 of it, and recency put it first). Results whose score is below the floor
 * (`min_score`) are not returned, so a query that shares nothing with any memory returns nothing;
 * π lowers a partial match's score by 9 %, so the floor is that much stricter for partial matches.
 */
export interface RankWeights {
  /** Transitional (the RRF fusion Search.ts still uses): rank offset and the some-words list's weight. */
  readonly rrfK: number;
  readonly partialMatch: number;
  /** ε: how far importance and recency may lift a result (0.05: within 5 % of relevance). */
  readonly tieBreak: number;
  readonly importance: number;
  readonly recency: number;
  readonly recencyHalfLifeDays: number;
}

export const DEFAULT_RANK_WEIGHTS: RankWeights = Object.freeze({ rrfK: 60, partialMatch: 0.5, tieBreak: 0.05, importance: 0.5, recency: 0.5, recencyHalfLifeDays: 30 });

/** The default floor on `score`: below it a result is unrelated (nonsense queries return nothing: test/retrieval.test.ts, the retrieval benchmark). */
export const DEFAULT_MIN_SCORE = 0.2;

/** A full-text candidate: BM25 (positive, higher is better) and the IDF-weighted share of query terms it holds. */
export interface TextRelevance {
  readonly bm25: number;
  readonly coverage: number;
}

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

/** A row holds every query term when its coverage is 1 (up to the float sum's rounding). */
export const holdsAllTerms = (coverage: number): boolean => coverage >= 1 - 1e-9;

/** text(d) for every full-text hit of one query; ε is the tie-break's (RankWeights.tieBreak). */
export function textRelevance(hits: ReadonlyMap<string, TextRelevance>, tieBreak: number): Map<string, number> {
  let best = 0;
  for (const h of hits.values()) best = Math.max(best, h.bm25);
  const someWords = 1 / (1 + Math.max(0, tieBreak)) ** 2;
  const out = new Map<string, number>();
  for (const [id, h] of hits) {
    const text = clamp01(h.coverage) * (0.5 + 0.5 * (best > 0 ? clamp01(h.bm25 / best) : 1));
    out.set(id, holdsAllTerms(h.coverage) ? text : text * someWords);
  }
  return out;
}

/** vector(d): cosine similarity, negatives (opposed vectors) count as unrelated. */
export const vectorRelevance = (cosine: number): number => clamp01(cosine);

/** rel(d): the mean over the methods the query used (a method it did not use does not count). */
export const fuseRelevance = (text: number | undefined, vector: number | undefined): number => {
  if (text === undefined) return clamp01(vector ?? 0);
  if (vector === undefined) return clamp01(text);
  return (clamp01(text) + clamp01(vector)) / 2;
};

/** boost(d) ∈ [0, 1] from importance and recency. */
export function boost(importance: number | null, createdAt: string | null, w: RankWeights, nowMs: number): number {
  const total = w.importance + w.recency;
  if (total <= 0) return 0;
  const imp = importance === null ? 0 : clamp01(importance);
  const created = createdAt ? Date.parse(createdAt) : NaN;
  const ageDays = Number.isNaN(created) ? Infinity : Math.max(0, (nowMs - created) / 86_400_000);
  const recency = ageDays === Infinity ? 0 : 0.5 ** (ageDays / w.recencyHalfLifeDays);
  return (w.importance * imp + w.recency * recency) / total;
}

/** score(d) ∈ [0, 1]. */
export const finalScore = (relevance: number, b: number, w: RankWeights): number => (clamp01(relevance) * (1 + w.tieBreak * clamp01(b))) / (1 + w.tieBreak);

/* ---- The earlier ranking, kept only so the retrieval benchmark can compare both in one run. ---- */

/** Weighted reciprocal rank fusion with multiplicative boosts (before issue 11): rrf · (1 + 0.5·imp) · (1 + 0.25·recency), k = 60. */
export function legacyScores(lists: readonly { ids: readonly string[]; weight: number }[], rows: readonly { id: string; importance_score: number | null; created_at: string | null }[], nowMs: number): Map<string, number> {
  const rrf = new Map<string, number>();
  for (const { ids, weight } of lists) ids.forEach((id, i) => rrf.set(id, (rrf.get(id) ?? 0) + weight / (60 + i + 1)));
  const out = new Map<string, number>();
  for (const r of rows) {
    const created = r.created_at ? Date.parse(r.created_at) : NaN;
    const recency = Number.isNaN(created) ? 0 : 0.5 ** (Math.max(0, (nowMs - created) / 86_400_000) / 30);
    out.set(r.id, (rrf.get(r.id) ?? 0) * (1 + 0.5 * clamp01(r.importance_score ?? 0)) * (1 + 0.25 * recency));
  }
  return out;
}

/* ---- Transitional: the fusion Search.ts uses until it moves to the functions above. ---- */
export interface RankedList {
  readonly ids: readonly string[];
  readonly weight: number;
}
export function reciprocalRankFusion(lists: readonly RankedList[], rrfK: number): Map<string, number> {
  const scores = new Map<string, number>();
  for (const { ids, weight } of lists) ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (rrfK + i + 1)));
  return scores;
}
export function weightedScore(rrf: number, importance: number | null, createdAt: string | null, w: RankWeights & { rrfK?: number; partialMatch?: number }, nowMs = Date.now()): number {
  return rrf * (1 + w.importance * clamp01(importance ?? 0)) * (1 + 0.5 * w.recency * (boost(0, createdAt, { ...w, importance: 0, recency: 1 }, nowMs)));
}
