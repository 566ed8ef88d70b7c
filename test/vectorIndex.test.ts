import { describe, expect, test } from "vitest";
import { cosine, VectorIndex } from "../src/search/vectors/VectorIndex.ts";
import { prng } from "../src/dev/prng.ts";

const SEED = Number(process.env.VECTOR_SEED ?? 99);

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
});
