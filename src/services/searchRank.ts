/**
 * Hybrid ranking. Each method's candidate list is fused by reciprocal rank fusion, then
 * weighted by importance and recency:
 *
 *   rrf(d)   = Σ over lists containing d of 1 / (rrfK + rank(d))      (rank from 1)
 *   score(d) = rrf(d) · (1 + importance · importance_score(d))
 *                     · (1 + recency · 0.5^(age_days(d) / recencyHalfLifeDays))
 *
 * Defaults: rrfK 60, importance 0.5, recency 0.25, half-life 30 days. With a single method
 * the same formula applies to its one list. Scores compare within one response only.
 */
export interface RankWeights {
  readonly rrfK: number;
  readonly importance: number;
  readonly recency: number;
  readonly recencyHalfLifeDays: number;
}

export const DEFAULT_RANK_WEIGHTS: RankWeights = Object.freeze({ rrfK: 60, importance: 0.5, recency: 0.25, recencyHalfLifeDays: 30 });

export function reciprocalRankFusion(lists: readonly (readonly string[])[], rrfK: number): Map<string, number> {
  const scores = new Map<string, number>();
  for (const list of lists) list.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + 1 / (rrfK + i + 1)));
  return scores;
}

export function weightedScore(rrf: number, importance: number | null, createdAt: string | null, w: RankWeights, nowMs = Date.now()): number {
  const imp = importance === null || !Number.isFinite(importance) ? 0 : Math.min(1, Math.max(0, importance));
  const created = createdAt ? Date.parse(createdAt) : NaN;
  const ageDays = Number.isNaN(created) ? Infinity : Math.max(0, (nowMs - created) / 86_400_000);
  const recency = ageDays === Infinity ? 0 : 0.5 ** (ageDays / w.recencyHalfLifeDays);
  return rrf * (1 + w.importance * imp) * (1 + w.recency * recency);
}
