/**
 * Labelled queries for the retrieval benchmark, generated from what the replica stores
 * (bench/retrievalStored.ts) together with the memories they should find. One seeded
 * stream per kind, so adding queries to one kind does not change the others.
 *
 * Each query has `relevant` (id → gain, for recall@10 and nDCG@10), usually a `primary`
 * (the one right memory: MRR@10 and "right memory first" are measured on it), and for tie
 * groups the `order` the group must come back in.
 */
import { COMMON_WORDS, normalise, rng } from "./searchData.ts";
import { coined, gaussianOf, shuffled } from "./retrievalData.ts";
import { exactTopK } from "./searchGroundTruth.ts";
import { cosineTo, df, rowsWithAll, type Stored } from "./retrievalStored.ts";

export const KINDS = ["unique-term", "reordered-inflected", "common-rare", "common-pair", "vector-exact", "vector-near", "hybrid", "tie", "nonsense"] as const;
export type Kind = (typeof KINDS)[number];

/** What each kind asks, the search_method it must answer with, and the invariant it checks (issue 11 item 1/5). */
export const KIND_INFO: Record<Kind, { readonly label: string; readonly method: "fts" | "vector" | "hybrid"; readonly invariant?: string }> = {
  "unique-term": { label: "a term only one memory has", method: "fts", invariant: "that memory first" },
  "reordered-inflected": { label: "3–5 of a memory's words, shuffled and inflected (-s, -ed, -ing)", method: "fts", invariant: "the only all-words match first" },
  "common-rare": { label: "a common word + a plural + a term only one memory has", method: "fts", invariant: "the rare term's memory first" },
  "common-pair": { label: "two common words (each in ~1/6 of rows)", method: "fts", invariant: "all-words matches above some-words ones" },
  "vector-exact": { label: "a stored row's own embedding", method: "vector", invariant: "that memory first" },
  "vector-near": { label: "a stored embedding perturbed (cosine ≈ 0.97)", method: "vector" },
  hybrid: { label: "2 of a memory's words + its embedding perturbed (cosine ≈ 0.9)", method: "hybrid" },
  tie: { label: "a term 3 equally relevant memories share", method: "fts", invariant: "more important, then more recent, first" },
  nonsense: { label: "1–3 words no memory contains", method: "fts", invariant: "no results" },
};

export interface LabelledQuery {
  readonly text?: string;
  readonly embedding?: Float32Array;
  readonly relevant: ReadonlyMap<string, number>;
  readonly primary?: string;
  readonly order?: readonly string[];
}

export type QueryBook = Record<Kind, LabelledQuery[]>;

const NEAR_COSINE = 0.97;
const HYBRID_COSINE = 0.9;

export function makeLabelledQueries(stored: Stored, perKind: number, seed: number): QueryBook {
  const ids = stored.gt.ids;
  const common = new Set(stored.stemmer.stems(COMMON_WORDS));
  // Words only one row holds (planted unique terms, rare words placed once), as (word, row).
  const singles: [string, number][] = [];
  for (let i = 0; i < stored.n; i++) for (const w of stored.words[i]!) if (df(stored, stored.stemmer.stem(w)) === 1) singles.push([w, i]);
  const pick = <T>(xs: readonly T[], rand: () => number): T => xs[Math.floor(rand() * xs.length)]!;
  const stream = (k: number) => rng(seed * 31 + k);
  const repeat = (k: number, make: (rand: () => number) => LabelledQuery | undefined): LabelledQuery[] => {
    const rand = stream(k);
    const out: LabelledQuery[] = [];
    for (let attempt = 0; out.length < perKind && attempt < perKind * 50; attempt++) {
      const q = make(rand);
      if (q) out.push(q);
    }
    return out;
  };
  const only = (i: number) => ({ relevant: new Map([[ids[i]!, 1]]), primary: ids[i]! });

  /** The row's words whose stem is in [lo, hi] rows and not one of the common words. */
  const wordsIn = (i: number, lo: number, hi: number) => [...new Set(stored.words[i])].filter((w) => {
    const s = stored.stemmer.stem(w);
    const d = df(stored, s);
    return d >= lo && d <= hi && !common.has(s);
  });

  /** An inflected form with the same stem (the plural when `pluralFirst` and it fits); the word itself when none fits. */
  const inflect = (w: string, rand: () => number, pluralFirst = false): string => {
    // English spelling: "-es" after a sibilant, a final "e" dropped before "-ed"/"-ing".
    const base = w.endsWith("e") ? w.slice(0, -1) : w;
    const plural = /(s|x|z|ch|sh)$/.test(w) ? w + "es" : w + "s";
    const forms = [...new Set([plural, base + "ed", base + "ing"])];
    const stem = stored.stemmer.stem(w);
    const stems = stored.stemmer.stems(forms);
    const ok = forms.filter((f, k) => stems[k] === stem && f !== w);
    if (pluralFirst && ok.includes(plural)) return plural;
    return ok.length ? pick(ok, rand) : w;
  };

  /** v plus noise shaped like the data (per-dimension spread), scaled so cosine(v, result) ≈ c. */
  const perturb = (v: Float32Array, c: number, rand: () => number): Float32Array => {
    const g = gaussianOf(rand);
    const noise = Float32Array.from(v, (_, j) => g() * stored.std[j]!);
    const scale = Math.sqrt(1 / (c * c) - 1) / Math.hypot(...noise);
    return normalise(Float32Array.from(v, (x, j) => x + scale * noise[j]!));
  };
  const vectorOf = (i: number) => stored.gt.vectors.slice(i * stored.gt.dim, (i + 1) * stored.gt.dim);
  const byExact = (q: Float32Array) => {
    const top = exactTopK(stored.gt, q, 10);
    return { relevant: new Map(top.map((id, r) => [id, 10 - r])), primary: top[0]! };
  };

  const book: QueryBook = {
    "unique-term": repeat(1, (rand) => {
      const [w, i] = pick(singles, rand);
      return { text: w, ...only(i) };
    }),
    "reordered-inflected": repeat(2, (rand) => {
      const i = Math.floor(rand() * stored.n);
      const pool = shuffled(wordsIn(i, 6, stored.n / 8), rand);
      const k = 3 + Math.floor(rand() * 3);
      if (pool.length < k) return undefined;
      const chosen = pool.slice(0, k);
      const matches = rowsWithAll(stored, stored.stemmer.stems(chosen));
      if (matches.length !== 1 || matches[0] !== i) return undefined;
      return { text: chosen.map((w) => inflect(w, rand)).join(" "), ...only(i) };
    }),
    "common-rare": repeat(3, (rand) => {
      const [rare, i] = pick(singles, rand);
      const plural = pick(wordsIn(Math.floor(rand() * stored.n), stored.n / 200, stored.n / 50), rand);
      if (plural === undefined || stored.stemSets[i]!.has(stored.stemmer.stem(plural))) return undefined;
      return { text: shuffled([pick(COMMON_WORDS, rand), inflect(plural, rand, true), rare], rand).join(" "), ...only(i) };
    }),
    "common-pair": repeat(4, (rand) => {
      const [a, b] = shuffled([...COMMON_WORDS], rand);
      const all = rowsWithAll(stored, stored.stemmer.stems([a!, b!]));
      return { text: `${a} ${b}`, relevant: new Map(all.map((r) => [ids[r]!, 1])) };
    }),
    "vector-exact": repeat(5, (rand) => {
      const i = Math.floor(rand() * stored.n);
      const q = vectorOf(i);
      const truth = byExact(q);
      return truth.primary === ids[i] ? { embedding: q, ...truth } : undefined;
    }),
    "vector-near": repeat(6, (rand) => {
      const q = perturb(vectorOf(Math.floor(rand() * stored.n)), NEAR_COSINE, rand);
      return { embedding: q, ...byExact(q) };
    }),
    hybrid: repeat(7, (rand) => {
      const i = Math.floor(rand() * stored.n);
      const words = shuffled(wordsIn(i, 10, stored.n / 8), rand).slice(0, 2);
      if (words.length < 2) return undefined;
      const q = perturb(vectorOf(i), HYBRID_COSINE, rand);
      // The right memory holds every word and is the nearest of those that do.
      const ranked = rowsWithAll(stored, stored.stemmer.stems(words)).map((r) => ({ r, c: cosineTo(stored, q, r) })).sort((x, y) => y.c - x.c).slice(0, 10);
      return { text: words.join(" "), embedding: q, relevant: new Map(ranked.map(({ r }, k) => [ids[r]!, 10 - k])), primary: ids[ranked[0]!.r]! };
    }),
    tie: tieQueries(stored, perKind),
    nonsense: repeat(9, (rand) => {
      const words = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => coined(pick(["x", "q"], rand), Math.floor(rand() * 1e6), 3));
      if (stored.stemmer.stems(words).some((s) => df(stored, s) > 0)) return undefined;
      return { text: words.join(" "), relevant: new Map() };
    }),
  };
  return book;
}

/**
 * Groups of rows with the same words (in any order) and a word only they hold: the same
 * relevance to a query of that word. Expected order: more important first; at equal
 * importance, more recent first. Groups with a full tie on both are left out.
 */
function tieQueries(stored: Stored, perKind: number): LabelledQuery[] {
  const bySignature = new Map<string, number[]>();
  for (let i = 0; i < stored.n; i++) {
    const sig = [...stored.words[i]!].sort().join(" ");
    const g = bySignature.get(sig);
    if (g) g.push(i);
    else bySignature.set(sig, [i]);
  }
  const out: LabelledQuery[] = [];
  for (const rows of bySignature.values()) {
    if (rows.length < 2 || out.length >= perKind) continue;
    const term = stored.words[rows[0]!]!.find((w) => df(stored, stored.stemmer.stem(w)) === rows.length);
    if (!term) continue;
    const sorted = [...rows].sort((a, b) => stored.importance[b]! - stored.importance[a]! || stored.createdMs[b]! - stored.createdMs[a]!);
    const strict = sorted.every((r, k) => k === 0 || stored.importance[sorted[k - 1]!] !== stored.importance[r] || stored.createdMs[sorted[k - 1]!] !== stored.createdMs[r]);
    if (!strict) continue;
    const order = sorted.map((r) => stored.gt.ids[r]!);
    out.push({ text: term, relevant: new Map(order.map((id, k) => [id, order.length - k])), primary: order[0]!, order });
  }
  return out;
}
