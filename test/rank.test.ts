/**
 * The ranking's bounds (src/search/rank.ts), on the functions themselves: the retrieval test
 * checks the invariants on a synced corpus, where how close two rows come depends on the data
 * and on the day (recency); here the worst cases are built on purpose.
 */
import { describe, expect, test } from "vitest";
import { DEFAULT_RANK_WEIGHTS, finalScore, textRelevance } from "../src/search/rank.ts";

const EPS = DEFAULT_RANK_WEIGHTS.tieBreak;
const score = (rel: number, boost: number) => finalScore(rel, boost, DEFAULT_RANK_WEIGHTS);

describe("relevance first", () => {
  test("A row holding only some of the words never overtakes an all-words row of similar BM25, whatever the boosts.", () => {
    // The case seen in the benchmark: the only row with all three words is long (its BM25 is
    // 0.93 of the best), a short row lacks the most common word (coverage 0.96, the best BM25).
    for (const coverage of [0.5, 0.9, 0.96, 0.999]) {
      for (const ratio of [1, 0.99, 0.93, 1 / (1 + EPS)]) {
        const text = textRelevance(new Map([["all", { bm25: 10 * ratio, coverage: 1 }], ["some", { bm25: 10, coverage }]]), EPS);
        const unpenalised = coverage; // its BM25 is the best: ½ + ½·1
        // Similar: the all-words row's text relevance within 1 + ε of what the other's would be unpenalised.
        if (text.get("all")! * (1 + EPS) < unpenalised) continue;
        expect(score(text.get("all")!, 0), `coverage ${coverage}, BM25 ratio ${ratio}`).toBeGreaterThanOrEqual(score(text.get("some")!, 1));
      }
    }
  });

  test("A row holding only some of the words still wins when it is decisively the better match.", () => {
    // All words but a BM25 a tenth of the best (text 0.55) against most of the words at the best BM25.
    const text = textRelevance(new Map([["all", { bm25: 1, coverage: 1 }], ["some", { bm25: 10, coverage: 0.9 }]]), EPS);
    expect(text.get("some")!).toBeGreaterThan(text.get("all")! * (1 + EPS));
    expect(score(text.get("some")!, 0)).toBeGreaterThan(score(text.get("all")!, 1));
  });

  test("A decisively better match is never overtaken, and near-ties go to the boost.", () => {
    expect(score(1, 0)).toBeGreaterThanOrEqual(score(1 / (1 + EPS), 1));
    expect(score(0.99, 1)).toBeGreaterThan(score(1, 0));
  });

  test("Text relevance stays in 0..1 and an all-words row at the best BM25 scores 1.", () => {
    const text = textRelevance(new Map([["a", { bm25: 3, coverage: 1 }], ["b", { bm25: 0, coverage: 0.2 }], ["c", { bm25: Number.NaN, coverage: 2 }]]), EPS);
    expect(text.get("a")).toBe(1);
    for (const v of text.values()) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });
});
