/**
 * The search benchmark's corpus and queries, generated deterministically from one seed.
 *
 * Vectors: `clusters` centroids (grouped under a smaller number of topics, so clusters of
 * one topic are closer to each other than to the rest), cluster sizes skewed (at 1,000
 * clusters the biggest holds ~40× the rows of the smallest); each row is its centroid plus
 * Gaussian noise, normalised (cosine to its centroid ≈ 0.7–0.85, to a neighbour of its
 * cluster ≈ 0.5–0.75). Query vectors are new points drawn the same way, never corpus rows.
 *
 * Texts (`content.text`, ~20–35 words):
 * - background words from a 20,000-word vocabulary with Zipf frequencies;
 * - two of the three topic words of the row's cluster (medium terms: each in 2/3 of its
 *   cluster's rows, ~20–900 rows at 100k);
 * - each of `COMMON_WORDS` (6 words) with probability 1/6 (common terms: a pair of them
 *   co-occurs in ~1/36 of rows);
 * - rare words: `rows / 20` of them, each placed in 1–5 rows.
 * Every generated word is a made-up syllable word, so word sets never collide, and the
 * Postgres 'simple' configuration and SQLite's unicode61 tokenizer see the same tokens.
 */
import { performance } from "node:perf_hooks";
import type pg from "pg";
import { gaussian, prng } from "../src/dev/prng.ts";

/** The project's seeded PRNG (src/prng.ts). */
export const rng = prng;


export function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

const SYLLABLES = (() => {
  const c = "bdfgklmnprstvz";
  const v = "aeiou";
  const out: string[] = [];
  for (const x of c) for (const y of v) out.push(x + y);
  return out; // 70 syllables
})();

/** The i-th made-up word with `syllables` syllables and a prefix letter that keeps word families apart. */
function word(prefix: string, i: number, syllables: number): string {
  let s = prefix;
  let n = i;
  for (let k = 0; k < syllables; k++) {
    s += SYLLABLES[n % SYLLABLES.length];
    n = Math.floor(n / SYLLABLES.length);
  }
  return s;
}

export interface CorpusOptions {
  readonly rows: number;
  readonly dim: number;
  readonly clusters: number;
  readonly seed: number;
}

export interface CorpusRow {
  /** From the seed too (a stream of its own): the master's default would give every run other ids, hence another row order on the replica and other labelled queries. */
  readonly id: string;
  readonly memoryType: string;
  readonly text: string;
  readonly agent: string;
  readonly importance: number;
  readonly tags: string;
  readonly embedding: Float32Array;
  readonly createdAt: string;
  readonly cluster: number;
}

const BACKGROUND_VOCAB = 20_000;
const TOPICS_PER_CLUSTER = 3;
/** Each in ~1/6 of rows. */
export const COMMON_WORDS = ["kavomi", "lutera", "possika", "rendavo", "siluma", "tomerak"];
const COMMON_P = 1 / 6;
const MEMORY_TYPES = ["episodic", "semantic", "procedural", "working", "meta"];

export class Corpus {
  readonly centroids: Float32Array[];
  readonly topicWords: string[][];
  readonly rareWords: string[];
  /** Rows (0-based generation order) each rare word was placed in. */
  readonly rareRows: number[][];
  private readonly rareOfRow = new Map<number, number[]>();
  private readonly clusterCdf: Float64Array;
  private readonly zipfCdf: Float64Array;
  private readonly background: string[];
  readonly sigmaRange = [0.03, 0.05] as const;

  constructor(readonly o: CorpusOptions) {
    const rand = rng(o.seed);
    const g = gaussian(rand);
    const topics = Math.max(1, Math.round(o.clusters / 20));
    const topicVecs = Array.from({ length: topics }, () => normalise(Float32Array.from({ length: o.dim }, g)));
    this.centroids = Array.from({ length: o.clusters }, (_, c) => {
      const own = normalise(Float32Array.from({ length: o.dim }, g));
      const t = topicVecs[c % topics]!;
      return normalise(own.map((x, i) => 0.8 * x + 0.6 * t[i]!));
    });
    // Skewed cluster sizes: weight ∝ (rank + 10)^-0.8 (at 1,000 clusters the biggest is ~40× the smallest).
    const w = Array.from({ length: o.clusters }, (_, c) => (c + 10) ** -0.8);
    this.clusterCdf = cdf(w);
    this.topicWords = Array.from({ length: o.clusters }, (_, c) => Array.from({ length: TOPICS_PER_CLUSTER }, (_, k) => word("t", c * TOPICS_PER_CLUSTER + k, 3)));
    this.background = Array.from({ length: BACKGROUND_VOCAB }, (_, i) => word("b", i, 3));
    this.zipfCdf = cdf(Array.from({ length: BACKGROUND_VOCAB }, (_, i) => (i + 1) ** -1.07));
    const rareCount = Math.max(10, Math.floor(o.rows / 20));
    this.rareWords = Array.from({ length: rareCount }, (_, i) => word("r", i, 4));
    this.rareRows = this.rareWords.map(() => {
      const k = 1 + Math.floor(rand() * 5);
      const rows = new Set<number>();
      while (rows.size < Math.min(k, o.rows)) rows.add(Math.floor(rand() * o.rows));
      return [...rows];
    });
    this.rareRows.forEach((rows, wi) => rows.forEach((r) => this.rareOfRow.set(r, [...(this.rareOfRow.get(r) ?? []), wi])));
  }

  pickCluster(rand: () => number): number {
    return search(this.clusterCdf, rand());
  }

  /** A point around cluster `c` (centroid + noise, normalised). */
  point(c: number, rand: () => number, g: () => number): Float32Array {
    const sigma = this.sigmaRange[0] + rand() * (this.sigmaRange[1] - this.sigmaRange[0]);
    const centroid = this.centroids[c]!;
    const v = new Float32Array(this.o.dim);
    for (let i = 0; i < v.length; i++) v[i] = centroid[i]! + sigma * g();
    return normalise(v);
  }

  /** The rows in generation order, `batch` at a time (same seed → same rows). */
  *batches(batch: number): Generator<CorpusRow[]> {
    const rand = rng(this.o.seed ^ 0x9e3779b9);
    const g = gaussian(rand);
    const ids = rng(this.o.seed ^ 0x6a09e667);
    const now = Date.now();
    let out: CorpusRow[] = [];
    for (let r = 0; r < this.o.rows; r++) {
      const cluster = this.pickCluster(rand);
      const words: string[] = [];
      const nBackground = 16 + Math.floor(rand() * 16);
      for (let k = 0; k < nBackground; k++) words.push(this.background[search(this.zipfCdf, rand())]!);
      const topic = this.topicWords[cluster]!;
      const skip = Math.floor(rand() * TOPICS_PER_CLUSTER);
      topic.forEach((t, k) => k !== skip && words.push(t));
      for (const c of COMMON_WORDS) if (rand() < COMMON_P) words.push(c);
      for (const wi of this.rareOfRow.get(r) ?? []) words.push(this.rareWords[wi]!);
      shuffle(words, rand);
      out.push({
        id: seededUuid(ids),
        memoryType: MEMORY_TYPES[r % MEMORY_TYPES.length]!,
        text: words.join(" "),
        agent: `agent-${r % 13}`,
        importance: Math.round(rand() * 100) / 100,
        tags: `{bench,grp${r % 20}}`,
        embedding: this.point(cluster, rand, g),
        createdAt: new Date(now - Math.floor(rand() * 365 * 86_400_000)).toISOString(),
        cluster,
      });
      if (out.length === batch) {
        yield out;
        out = [];
      }
    }
    if (out.length) yield out;
  }
}

function cdf(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let s = 0;
  weights.forEach((w, i) => (out[i] = s += w));
  for (let i = 0; i < out.length; i++) out[i]! /= s;
  return out;
}

function search(cdfArr: Float64Array, x: number): number {
  let lo = 0;
  let hi = cdfArr.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdfArr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function shuffle<T>(a: T[], rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/** `{0.01234,-0.05678,…}`: 5 decimals (values are ~±0.05; float32 keeps what matters). */
export function vectorLiteral(v: Float32Array): string {
  let s = "{";
  for (let i = 0; i < v.length; i++) s += (i ? "," : "") + v[i]!.toFixed(5);
  return `${s}}`;
}

const INSERT_SQL = `INSERT INTO unified_ai_memory (id, memory_type, content, source_system, source_agent, importance_score, tags, embedding, created_at, updated_at)
  SELECT u.id, u.mt, jsonb_build_object('text', u.txt), 'bench', u.agent, u.imp, u.tags::text[], u.emb::real[], u.ts, u.ts
  FROM unnest($1::text[], $2::text[], $3::text[], $4::real[], $5::text[], $6::text[], $7::timestamptz[], $8::uuid[]) AS u(mt, txt, agent, imp, tags, emb, ts, id)`;

/** A version-4 UUID from the seeded stream `rand`. */
function seededUuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = "4";
  hex[16] = "89ab"[Math.floor(rand() * 4)]!;
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Inserts the corpus on the master, a batch per statement; the next batch is generated
 * while Postgres parses the current one. Returns the time taken (ms).
 */
export async function seedCorpus(client: pg.Client, corpus: Corpus, say: (s: string) => void, batch = 2_000): Promise<number> {
  const started = performance.now();
  let pending: Promise<unknown> | undefined;
  let done = 0;
  let nextReport = 0;
  for (const rows of corpus.batches(batch)) {
    const params = [
      rows.map((r) => r.memoryType),
      rows.map((r) => r.text),
      rows.map((r) => r.agent),
      rows.map((r) => r.importance),
      rows.map((r) => r.tags),
      rows.map((r) => vectorLiteral(r.embedding)),
      rows.map((r) => r.createdAt),
      rows.map((r) => r.id),
    ];
    await pending;
    pending = client.query(INSERT_SQL, params);
    done += rows.length;
    if (done >= nextReport) {
      say(`  seeding ${done}/${corpus.o.rows}`);
      nextReport += Math.max(batch, Math.floor(corpus.o.rows / 5));
    }
  }
  await pending;
  return performance.now() - started;
}

export interface QuerySet {
  /** One rare word each (1–5 rows). */
  readonly rare: string[];
  /** Two common words each (each word in ~1/6 of rows). */
  readonly common: string[];
  /** New points around clusters (not corpus rows). */
  readonly vectors: Float32Array[];
  /** Two topic words of the cluster each vector was drawn around (for hybrid queries). */
  readonly topicText: string[];
}

export function makeQueries(corpus: Corpus, n: number, seed: number): QuerySet {
  const rand = rng(seed);
  const g = gaussian(rand);
  const rare: string[] = [];
  const common: string[] = [];
  const vectors: Float32Array[] = [];
  const topicText: string[] = [];
  const pairs: string[] = [];
  for (let i = 0; i < COMMON_WORDS.length; i++) for (let j = i + 1; j < COMMON_WORDS.length; j++) pairs.push(`${COMMON_WORDS[i]} ${COMMON_WORDS[j]}`);
  for (let i = 0; i < n; i++) {
    rare.push(corpus.rareWords[Math.floor(rand() * corpus.rareWords.length)]!);
    common.push(pairs[i % pairs.length]!);
    const c = corpus.pickCluster(rand);
    vectors.push(corpus.point(c, rand, g));
    const t = corpus.topicWords[c]!;
    const skip = Math.floor(rand() * t.length);
    topicText.push(t.filter((_, k) => k !== skip).join(" "));
  }
  return { rare, common, vectors, topicText };
}
