import { describe, expect, test } from "vitest";
import { cosine, VectorIndex } from "../src/search/vectors/VectorIndex.ts";
import { prng } from "../src/dev/prng.ts";

const SEED = Number(process.env.VECTOR_SEED ?? 99);

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

/**
 * Data that defeats sign bits of the raw vector: all-positive (`random()`-like clusters), or a
 * large shared offset with dimensions of very different spread (like real model output).
 */
function sampler(kind: "positive" | "anisotropic", dim: number, rand: () => number): () => Float32Array {
  const g = gaussian(rand);
  const clusters = Array.from({ length: 100 }, () => Float32Array.from({ length: dim }, kind === "positive" ? rand : g));
  const offset = unit(Float32Array.from({ length: dim }, g));
  const weight = Float32Array.from({ length: dim }, (_, d) => (d < 2 ? 6 : Math.exp(0.4 * g())));
  return () => {
    const c = clusters[Math.floor(rand() * clusters.length)]!;
    if (kind === "positive") return unit(c.map((x) => Math.max(0, x + 0.2 * g())));
    return unit(c.map((x, d) => weight[d]! * (2 * Math.sqrt(dim) * offset[d]! + x + 0.8 * g())));
  };
}

function exactTop(vecs: Map<string, Float32Array>, q: Float32Array, k: number): string[] {
  return [...vecs.entries()].map(([id, v]) => ({ id, s: cosine(q, v) })).sort((a, b) => b.s - a.s).slice(0, k).map((x) => x.id);
}

describe("VectorIndex", () => {
  test.each([8, 100, 384, 1536])(`With %i dimensions, growth and removals, KNN finds the exact nearest neighbours of points it holds (seed ${SEED}).`, (dim) => {
    const r = prng(SEED + dim);
    const idx = new VectorIndex(dim, 4); // tiny capacity: the WebAssembly memory must grow
    const vecs = new Map<string, Float32Array>();
    for (let i = 0; i < 3_000; i++) {
      const v = Float32Array.from({ length: dim }, () => r() * 2 - 1);
      vecs.set(`v${i}`, v);
      expect(idx.upsert(`v${i}`, v)).toBe(true);
    }
    for (let i = 0; i < 3_000; i += 3) {
      idx.remove(`v${i}`);
      vecs.delete(`v${i}`);
    }
    expect(idx.size).toBe(vecs.size);
    expect(idx.upsert("wrong", new Float32Array(dim + 1))).toBe(false);
    const lookup = (ids: readonly string[]) => new Map(ids.map((id) => [id, vecs.get(id)!]));
    // Every query is a point the index holds: it must come first, exactly.
    for (const id of ["v1", "v2", "v1000", "v2999"]) {
      const hits = idx.search(vecs.get(id)!, 5, 50, lookup);
      expect(hits[0]!.id, `${dim}-d ${id}`).toBe(id);
      expect(hits[0]!.score).toBeCloseTo(1, 5);
      const exact = [...vecs.entries()].map(([k, v]) => ({ k, s: cosine(vecs.get(id)!, v) })).sort((a, b) => b.s - a.s);
      expect(hits[1]!.score).toBeLessThanOrEqual(exact[1]!.s + 1e-9);
    }
    const allowed = new Set([...vecs.keys()].filter((_, i) => i % 4 === 0));
    const filtered = idx.search(vecs.get("v1")!, 10, 100, lookup, allowed);
    expect(filtered.length).toBe(10);
    expect(filtered.every((h) => allowed.has(h.id))).toBe(true);
  });

  test.each(["positive", "anisotropic"] as const)(`On %s data (20k × 64) recall@10 against exact cosine is at least 0.95 and a row's own vector comes first (seed ${SEED}).`, (kind) => {
    const rand = prng(SEED + (kind === "positive" ? 1 : 2));
    const next = sampler(kind, 64, rand);
    const idx = new VectorIndex(64);
    const vecs = new Map<string, Float32Array>();
    for (let i = 0; i < 20_000; i++) {
      const v = next();
      vecs.set(`r${i}`, v);
      idx.upsert(`r${i}`, v);
    }
    const lookup = (ids: readonly string[]) => new Map(ids.map((id) => [id, vecs.get(id)!]));
    let found = 0;
    let asked = 0;
    for (let qi = 0; qi < 40; qi++) {
      const q = next(); // held out: never stored
      const exact = new Set(exactTop(vecs, q, 10));
      const hits = idx.search(q, 10, 200, lookup);
      found += hits.filter((h) => exact.has(h.id)).length;
      asked += 10;
      expect(hits[0]!.score).toBeCloseTo(cosine(q, vecs.get(hits[0]!.id)!), 6); // the exact cosine
    }
    expect(found / asked, `recall@10 on ${kind} data`).toBeGreaterThanOrEqual(0.95);
    for (let i = 0; i < 20_000; i += 1_999) expect(idx.search(vecs.get(`r${i}`)!, 10, 200, lookup)[0]!.id).toBe(`r${i}`);
  });

  test(`When the rows move away from the statistics the index was quantised against, it says it is stale, and a rebuild against its statistics finds neighbours again (seed ${SEED}).`, () => {
    const rand = prng(SEED + 3);
    const g = gaussian(rand);
    const dim = 32;
    const idx = new VectorIndex(dim);
    const vecs = new Map<string, Float32Array>();
    const put = (target: VectorIndex, id: string, v: Float32Array) => {
      vecs.set(id, v);
      target.upsert(id, v);
    };
    for (let i = 0; i < 5_000; i++) put(idx, `a${i}`, unit(Float32Array.from({ length: dim }, g)));
    expect(idx.stale).toBe(false); // past the self-correcting warm-up, quantised on centred data
    // New content, all of it offset the same way: the old centre no longer splits it.
    const shift = Float32Array.from({ length: dim }, () => 3 * g());
    for (let i = 0; i < 10_000; i++) put(idx, `b${i}`, unit(Float32Array.from({ length: dim }, (_, d) => shift[d]! + g())));
    for (let i = 0; i < 5_000; i += 2) {
      idx.remove(`a${i}`);
      vecs.delete(`a${i}`);
    }
    expect(idx.stale).toBe(true);
    const rebuilt = new VectorIndex(dim, vecs.size, idx.statistics());
    for (const [id, v] of vecs) rebuilt.upsert(id, v);
    expect(rebuilt.stale).toBe(false);
    const lookup = (ids: readonly string[]) => new Map(ids.map((id) => [id, vecs.get(id)!]));
    for (const id of ["b1", "b5000", "a1", "b9999"]) expect(rebuilt.search(vecs.get(id)!, 10, 100, lookup)[0]!.id).toBe(id);
  });

  test("A filter that allows fewer rows than the candidates asked for returns only allowed rows.", () => {
    const rand = prng(SEED + 4);
    const idx = new VectorIndex(16);
    const vecs = new Map<string, Float32Array>();
    for (let i = 0; i < 500; i++) {
      const v = Float32Array.from({ length: 16 }, () => rand() - 0.5);
      vecs.set(`f${i}`, v);
      idx.upsert(`f${i}`, v);
    }
    const allowed = new Set(["f3", "f30", "f300"]);
    const hits = idx.search(vecs.get("f1")!, 10, 200, (ids) => new Map(ids.map((id) => [id, vecs.get(id)!])), allowed);
    expect(hits.map((h) => h.id).sort()).toEqual(["f3", "f30", "f300"]);
  });
});
