/**
 * The three vector distributions of bench/vectorIndex.ts, seeded (src/dev/prng.ts). Every
 * vector is normalised, as embedding models' output is.
 * - centred: bench/searchData.ts's shape — cluster centroids (grouped under topics) plus
 *   isotropic Gaussian noise; every dimension's mean ≈ 0.
 * - positive: all components ≥ 0 — clusters of uniform [0,1) centroids with clipped noise,
 *   plus 10 % rows of plain `random()` (what test data made with Math.random() looks like).
 * - anisotropic: like real model output — a large shared offset (unrelated rows have cosine
 *   ≈ 0.8, as with OpenAI's ada-002), the variable part of low effective rank (64 latent directions with a decaying
 *   spectrum, clustered in that latent space), per-dimension scales spread log-normally and
 *   a few "rogue" dimensions with a large mean and variance.
 * Queries: held-out points drawn like the rows (never stored), and stored rows' own vectors.
 */
import { gaussian, prng } from "../src/dev/prng.ts";
import { normalise } from "./searchData.ts";

export const DISTRIBUTIONS = ["centred", "positive", "anisotropic"] as const;
export type DistName = (typeof DISTRIBUTIONS)[number];



export interface DataSet {
  readonly dim: number;
  readonly n: number;
  /** Row i is rows.subarray(i * dim, (i + 1) * dim). */
  readonly rows: Float32Array;
  readonly heldOut: Float32Array[];
  /** Row indices whose own vector is a query (it must come back first). */
  readonly own: number[];
}

type Sampler = (rand: () => number, g: () => number, out: Float32Array) => void;

function sampler(dist: DistName, dim: number, clusters: number, rand: () => number, g: () => number): Sampler {
  const pickCluster = (r: () => number) => Math.min(clusters - 1, Math.floor(clusters * r() ** 1.5)); // skewed sizes
  if (dist === "centred") {
    const topics = Math.max(1, Math.round(clusters / 20));
    const topicVecs = Array.from({ length: topics }, () => normalise(Float32Array.from({ length: dim }, g)));
    const centroids = Array.from({ length: clusters }, (_, c) => {
      const own = normalise(Float32Array.from({ length: dim }, g));
      return normalise(own.map((x, i) => 0.8 * x + 0.6 * topicVecs[c % topics]![i]!));
    });
    const scale = Math.sqrt(384 / dim); // the same noise norm (cosine to the centroid ≈ 0.7–0.85) at any dimension
    return (r, gg, out) => {
      const c = centroids[pickCluster(r)]!;
      const sigma = (0.03 + 0.02 * r()) * scale;
      for (let i = 0; i < dim; i++) out[i] = c[i]! + sigma * gg();
    };
  }
  if (dist === "positive") {
    const centroids = Array.from({ length: clusters }, () => Float32Array.from({ length: dim }, rand));
    return (r, gg, out) => {
      if (r() < 0.1) {
        for (let i = 0; i < dim; i++) out[i] = r();
        return;
      }
      const c = centroids[pickCluster(r)]!;
      const sigma = 0.15 + 0.15 * r();
      for (let i = 0; i < dim; i++) out[i] = Math.max(0, c[i]! + sigma * gg());
    };
  }
  const latent = 64;
  const spectrum = Float32Array.from({ length: latent }, (_, j) => (j + 1) ** -0.5);
  const basis = Float32Array.from({ length: dim * latent }, () => g() / Math.sqrt(latent));
  const weight = Float32Array.from({ length: dim }, () => Math.exp(0.4 * g()));
  for (let k = 0; k < 4; k++) weight[Math.floor(rand() * dim)] = 6; // rogue dimensions
  const offset = normalise(Float32Array.from({ length: dim }, g));
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: latent }, g));
  // Norm of the variable part ≈ sqrt(Σ spectrum²·(1 + 0.8²)·dim/latent); the offset is 2× that (cosine ≈ 0.8).
  // (each output dimension sums `latent` terms of variance 1/latent: the norm grows as sqrt(dim/latent)).
  const variable = Math.sqrt(spectrum.reduce((a, s) => a + s * s * 1.64, 0) * (dim / latent));
  const noise = (0.2 * variable) / Math.sqrt(dim);
  const z = new Float32Array(latent);
  return (r, gg, out) => {
    const c = centres[pickCluster(r)]!;
    for (let j = 0; j < latent; j++) z[j] = spectrum[j]! * (c[j]! + 0.8 * gg());
    for (let i = 0; i < dim; i++) {
      let y = 0;
      const row = i * latent;
      for (let j = 0; j < latent; j++) y += basis[row + j]! * z[j]!;
      out[i] = weight[i]! * (2 * variable * offset[i]! + y + noise * gg());
    }
  };
}

/** `n` rows, `heldOut` held-out queries and `ownQueries` stored rows as queries. */
export function makeDataSet(dist: DistName, n: number, dim: number, heldOut: number, ownQueries: number, seed: number): DataSet {
  const rand = prng(seed);
  const g = gaussian(rand);
  const sample = sampler(dist, dim, Math.max(10, Math.round(n / 100)), rand, g);
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const out = rows.subarray(i * dim, (i + 1) * dim);
    sample(rand, g, out);
    normalise(out);
  }
  const held = Array.from({ length: heldOut }, () => {
    const v = new Float32Array(dim);
    sample(rand, g, v);
    return normalise(v);
  });
  const own = Array.from({ length: ownQueries }, () => Math.floor(rand() * n));
  return { dim, n, rows, heldOut: held, own };
}
