/**
 * The retrieval benchmark's corpus (bench/retrieval.ts, test/retrieval.test.ts): the search
 * benchmark's corpus (bench/searchData.ts: Zipf texts, topic, common and rare words,
 * clustered vectors), with three changes made as its rows are generated.
 *
 * - Vectors like a real model's output: anisotropic (each dimension scaled by a log-normal
 *   factor, so a few dimensions carry most of the variance) and offset (a shared, mostly
 *   positive mean direction, so two unrelated rows have cosine ≈ 0.5, not ≈ 0). Zero-centred
 *   clusters alone flatter a sign-bit index (issue 11).
 * - A unique term planted in one row out of `uniqueEvery`: a made-up word no other row has.
 * - Tie groups: three rows with the same words in a different order (so the same BM25 and
 *   the same term coverage) plus a term only the group has, differing only in importance
 *   (same creation time) or only in age (same importance): the tie-breaking invariant.
 *
 * The labels are not taken from here: they are computed from what the replica stores
 * (bench/retrievalStored.ts), so they hold whatever the sync did to the rows.
 */
import { Corpus, normalise, rng, type CorpusOptions, type CorpusRow } from "./searchData.ts";

export interface PlantOptions {
  /** Tie groups (three rows each), spread evenly over the corpus. */
  readonly tieGroups: number;
  /** One row in this many gets a unique term. */
  readonly uniqueEvery: number;
}

/** Box–Muller: one standard normal draw per call. */
export const gaussianOf = (rand: () => number) => () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());

/**
 * A made-up word: `prefix`, then `len` consonant+vowel syllables spelling `k` in base 20.
 * The corpus's own words use other first letters (b, t, r and the common words), so a coined
 * word with a fresh prefix appears nowhere unless planted.
 */
export function coined(prefix: string, k: number, len = 4): string {
  let s = prefix;
  for (let i = 0, n = k; i < len; i++, n = Math.floor(n / 20)) s += "bcdfghjklmnpqrstvwxz"[n % 20]! + "aeiou"[(k + i) % 5]!;
  return s;
}

const DAY_MS = 86_400_000;
const TIE_IMPORTANCE = [0.9, 0.6, 0.3];
const TIE_AGE_DAYS = [1, 8, 40];

export class RetrievalCorpus extends Corpus {
  /** Per-dimension scale (anisotropy) and the shared offset added before normalising. */
  private readonly scale: Float32Array;
  private readonly offset: Float32Array;
  private readonly spacing: number;

  constructor(
    o: CorpusOptions,
    readonly plant: PlantOptions,
  ) {
    super(o);
    const rand = rng(o.seed ^ 0x5bd1e995);
    const g = gaussianOf(rand);
    const raw = Float32Array.from({ length: o.dim }, () => Math.exp(0.8 * g()));
    const rms = Math.sqrt(raw.reduce((s, x) => s + x * x, 0) / o.dim);
    // Scaled so that a unit row keeps a norm ≈ 1 before the offset is added.
    this.scale = raw.map((x) => x / rms);
    // Mostly positive, norm 1: unrelated rows end up with cosine ≈ |offset|² / (1 + |offset|²) = 0.5.
    this.offset = normalise(Float32Array.from({ length: o.dim }, () => Math.abs(g()) + 0.3 * g()));
    this.spacing = Math.max(3, Math.floor(o.rows / Math.max(1, plant.tieGroups)));
  }

  /** A realistic embedding from one of the base corpus's zero-centred ones. */
  private reshape(v: Float32Array): Float32Array {
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.scale[i]! * v[i]! + this.offset[i]!;
    return normalise(out);
  }

  override *batches(batch: number): Generator<CorpusRow[]> {
    const rand = rng(this.o.seed ^ 0x27d4eb2f);
    const now = Date.now();
    let r = 0;
    let template: CorpusRow | undefined;
    for (const rows of super.batches(batch)) {
      yield rows.map((row) => {
        const out = this.plantInto(row, r, rand, now, template);
        if (r % this.spacing === 0) template = out;
        r++;
        return out;
      });
    }
  }

  private plantInto(row: CorpusRow, r: number, rand: () => number, now: number, template: CorpusRow | undefined): CorpusRow {
    const group = Math.floor(r / this.spacing);
    const member = r % this.spacing;
    const embedding = this.reshape(row.embedding);
    if (group < this.plant.tieGroups && member < 3) {
      // The group's first row sets the words; the others reorder them (same BM25, other text).
      const words = member === 0 ? [...row.text.split(" "), coined("y", group)] : reorder((template ?? row).text.split(" "), rand);
      const byImportance = group % 2 === 0;
      return {
        ...row,
        text: words.join(" "),
        embedding,
        importance: byImportance ? TIE_IMPORTANCE[member]! : 0.5,
        createdAt: byImportance ? (template ?? row).createdAt : new Date(now - TIE_AGE_DAYS[member]! * DAY_MS).toISOString(),
      };
    }
    if (r % this.plant.uniqueEvery === 1) {
      const words = row.text.split(" ");
      words.splice(Math.floor(rand() * (words.length + 1)), 0, coined("u", r));
      return { ...row, text: words.join(" "), embedding };
    }
    return { ...row, embedding };
  }
}

/** Fisher–Yates, in place. */
export function shuffled<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** A different order of the same words (a tie twin must not repeat its template's text). */
function reorder(words: readonly string[], rand: () => number): string[] {
  let out = [...words];
  for (let attempt = 0; attempt < 5 && out.join(" ") === words.join(" "); attempt++) out = shuffled([...words], rand);
  return out;
}
