/**
 * Hybrid ranking. Each method's candidate list is fused by (weighted) reciprocal rank
 * fusion, then weighted by importance and recency:
 *
 *   rrf(d)   = Σ over lists L containing d of weight(L) / (rrfK + rank_L(d))   (rank from 1)
 *   score(d) = rrf(d) · (1 + importance · importance_score(d))
 *                     · (1 + recency · 0.5^(age_days(d) / recencyHalfLifeDays))
 *
 * Lists: full-text matches of every query word (weight 1), vector neighbours (weight 1), and
 * full-text matches of only some words (weight `partialMatch`, 0.5): a row that merely shares
 * a common word must not outrank the row that matches the whole query.
 * Defaults: rrfK 60, importance 0.5, recency 0.25, half-life 30 days, partialMatch 0.5. With
 * a single method the same formula applies to its list(s). Scores compare within one
 * response only.
 */
export interface RankWeights {
  readonly rrfK: number;
  readonly importance: number;
  readonly recency: number;
  readonly recencyHalfLifeDays: number;
  readonly partialMatch: number;
}

export interface RankedList {
  readonly ids: readonly string[];
  readonly weight: number;
}

export const DEFAULT_RANK_WEIGHTS: RankWeights = Object.freeze({ rrfK: 60, importance: 0.5, recency: 0.25, recencyHalfLifeDays: 30, partialMatch: 0.5 });

export function reciprocalRankFusion(lists: readonly RankedList[], rrfK: number): Map<string, number> {
  const scores = new Map<string, number>();
  for (const { ids, weight } of lists) ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (rrfK + i + 1)));
  return scores;
}

export function weightedScore(rrf: number, importance: number | null, createdAt: string | null, w: RankWeights, nowMs = Date.now()): number {
  const imp = importance === null || !Number.isFinite(importance) ? 0 : Math.min(1, Math.max(0, importance));
  const created = createdAt ? Date.parse(createdAt) : NaN;
  const ageDays = Number.isNaN(created) ? Infinity : Math.max(0, (nowMs - created) / 86_400_000);
  const recency = ageDays === Infinity ? 0 : 0.5 ** (ageDays / w.recencyHalfLifeDays);
  return rrf * (1 + w.importance * imp) * (1 + w.recency * recency);
}
