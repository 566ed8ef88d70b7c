/**
 * The candidate vector indexes bench/vectorIndex.ts compares, each over one DataSet and each
 * re-ranking its candidates by exact cosine (as VectorIndex does with the stored BLOBs; here
 * the floats are in memory, and the cost of reading them from SQLite is measured apart).
 * - sign: today's index (sign bits of the raw vector, Hamming scan, exact re-rank).
 * - sign-centred: sign bits of (v − per-dimension mean).
 * - int8: every row as int8 codes of (v − mean) / scale per dimension, scanned in full by a
 *   WebAssembly SIMD dot-product kernel, the best few re-ranked exactly.
 * - sign-centred+int8: the Hamming scan picks `prefilter` rows, int8 dots pick `candidates`.
 * - the production VectorIndex (whatever src/search/vectors/VectorIndex.ts does now).
 * - hnsw: hnswlib-node (a native build), when installed in a throwaway folder (HNSW_DIR).
 */
import { createRequire } from "node:module";
import { instantiateHammingKernel, VectorIndex, type WasmInstance } from "../src/search/vectors/VectorIndex.ts";
import type { DataSet } from "./vectorIndexData.ts";

export interface Method {
  readonly name: string;
  /** Bytes the index keeps in memory (besides the floats, which live in the SQLite file). */
  readonly bytes: () => number;
  /** Best-first row indices: the `k` nearest by exact cosine among this method's candidates. */
  readonly search: (q: Float32Array, k: number) => number[];
}

const dot = (rows: Float32Array, i: number, dim: number, q: Float32Array) => {
  let s = 0;
  const o = i * dim;
  for (let d = 0; d < dim; d++) s += rows[o + d]! * q[d]!;
  return s;
};
/** Exact re-rank (rows are unit vectors: the dot orders as the cosine does). */
export function rerank(ds: DataSet, q: Float32Array, picked: ArrayLike<number>, k: number): number[] {
  const scored = Array.from(picked, (i) => ({ i, s: dot(ds.rows, i, ds.dim, q) }));
  scored.sort((a, b) => b.s - a.s);
  return scored.slice(0, k).map((x) => x.i);
}

function stats(ds: DataSet): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(ds.dim);
  const sq = new Float64Array(ds.dim);
  for (let i = 0; i < ds.n; i++) for (let d = 0; d < ds.dim; d++) {
    const x = ds.rows[i * ds.dim + d]!;
    mean[d] += x;
    sq[d] += x * x;
  }
  const std = new Float64Array(ds.dim);
  for (let d = 0; d < ds.dim; d++) {
    mean[d] /= ds.n;
    std[d] = Math.sqrt(Math.max(0, sq[d]! / ds.n - mean[d]! ** 2));
  }
  return { mean, std };
}

/** Slots of the `c` smallest of `dist` (a counting selection over small integers). */
function smallest(dist: Uint16Array, n: number, c: number, maxDist: number, out: Int32Array): number {
  const hist = new Uint32Array(maxDist + 2);
  for (let s = 0; s < n; s++) hist[dist[s]!]!++;
  let t = 0;
  let seen = 0;
  while (t <= maxDist && seen + hist[t]! < c) seen += hist[t++]!;
  let ties = c - seen;
  let m = 0;
  for (let s = 0; s < n; s++) {
    const d = dist[s]!;
    if (d < t || (d === t && ties-- > 0)) out[m++] = s;
  }
  return m;
}

/** Sign bits (of v − centre) scanned by the production Hamming kernel. */
class SignScan {
  readonly words: number;
  readonly stride: number;
  readonly exports: Record<string, unknown>;
  readonly qAt: number;
  readonly distAt: number;
  constructor(readonly ds: DataSet, readonly centre: Float64Array | undefined) {
    this.words = Math.ceil(ds.dim / 64);
    this.stride = this.words * 8;
    this.exports = instantiateHammingKernel().exports;
    this.qAt = ds.n * this.stride;
    this.distAt = this.qAt + this.stride;
    const memory = this.exports.memory as { buffer: ArrayBuffer; grow: (p: number) => number };
    const need = this.distAt + ds.n * 2 - memory.buffer.byteLength;
    if (need > 0) memory.grow(Math.ceil(need / 65_536));
    for (let i = 0; i < ds.n; i++) this.encode(ds.rows.subarray(i * ds.dim, (i + 1) * ds.dim), i * this.stride);
  }
  private encode(v: Float32Array, at: number): void {
    const bits = new Uint32Array((this.exports.memory as { buffer: ArrayBuffer }).buffer, at, this.words * 2);
    bits.fill(0);
    for (let d = 0; d < v.length; d++) if (v[d]! > (this.centre?.[d] ?? 0)) bits[d >>> 5]! |= 1 << (d & 31);
  }
  candidates(q: Float32Array, c: number, out: Int32Array): number {
    this.encode(q, this.qAt);
    (this.exports.scan as (...a: number[]) => void)(0, this.ds.n, this.words, this.qAt, this.distAt);
    const dist = new Uint16Array((this.exports.memory as { buffer: ArrayBuffer }).buffer, this.distAt, this.ds.n);
    return smallest(dist, this.ds.n, c, this.ds.dim, out);
  }
}

export function signMethod(ds: DataSet, centred: boolean, candidates: number): Method {
  const scan = new SignScan(ds, centred ? stats(ds).mean : undefined);
  const picked = new Int32Array(candidates);
  return {
    name: `${centred ? "sign-centred" : "sign"} C=${candidates}`,
    bytes: () => ds.n * scan.stride + (centred ? ds.dim * 8 : 0),
    search: (q, k) => rerank(ds, q, picked.subarray(0, scan.candidates(q, candidates, picked)), k),
  };
}

/** The int8 codes and a SIMD dot kernel over listed rows (wat compiled with wabt at start-up). */
const INT8_WAT = `(module (memory (export "memory") 1)
  (func (export "dots") (param $codes i32) (param $slots i32) (param $m i32) (param $chunks i32) (param $q i32) (param $out i32)
    (local $i i32) (local $c i32) (local $row i32) (local $acc v128) (local $a v128) (local $b v128)
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $row (i32.add (local.get $codes) (i32.mul (i32.load (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))) (i32.shl (local.get $chunks) (i32.const 4)))))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $c (i32.const 0))
      (block $cd (loop $ch
        (br_if $cd (i32.ge_u (local.get $c) (local.get $chunks)))
        (local.set $a (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 4)))))
        (local.set $b (v128.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 4)))))
        (local.set $acc (i32x4.add (local.get $acc) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $a)) (i16x8.extend_low_i8x16_s (local.get $b)))))
        (local.set $acc (i32x4.add (local.get $acc) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $a)) (i16x8.extend_high_i8x16_s (local.get $b)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $ch)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                 (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))))`;

let int8Module: object | undefined;
export async function loadInt8Kernel(): Promise<void> {
  const wabt = await (await import("wabt")).default();
  const m = wabt.parseWat("int8.wat", INT8_WAT);
  m.validate();
  const bytes = m.toBinary({}).buffer;
  m.destroy();
  int8Module = new (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } }).WebAssembly.Module(bytes);
}

class Int8Codes {
  readonly chunks: number;
  readonly rowBytes: number;
  readonly memory: { buffer: ArrayBuffer; grow: (p: number) => number };
  readonly dots: (...a: number[]) => void;
  readonly scale: Float64Array;
  readonly qAt: number;
  readonly slotsAt: number;
  readonly outAt: number;
  readonly norms: Float32Array;
  constructor(readonly ds: DataSet, readonly mean: Float64Array, std: Float64Array) {
    this.chunks = Math.ceil(ds.dim / 16);
    this.rowBytes = this.chunks * 16;
    const inst = new (globalThis as unknown as { WebAssembly: { Instance: new (m: object) => WasmInstance } }).WebAssembly.Instance(int8Module!);
    this.memory = inst.exports.memory as Int8Codes["memory"];
    this.dots = inst.exports.dots as Int8Codes["dots"];
    this.qAt = ds.n * this.rowBytes;
    this.slotsAt = this.qAt + this.rowBytes;
    this.outAt = this.slotsAt + ds.n * 4;
    const need = this.outAt + ds.n * 4 - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65_536));
    // Clip at 4 σ: a few outliers must not flatten every other row's codes.
    this.scale = std.map((s) => Math.max(s, 1e-9) * 4 / 127);
    const codes = new Int8Array(this.memory.buffer, 0, this.qAt);
    this.norms = new Float32Array(ds.n);
    for (let i = 0; i < ds.n; i++) {
      let nn = 0;
      for (let d = 0; d < ds.dim; d++) {
        const x = ds.rows[i * ds.dim + d]!;
        nn += x * x;
        codes[i * this.rowBytes + d] = Math.max(-127, Math.min(127, Math.round((x - mean[d]!) / this.scale[d]!)));
      }
      this.norms[i] = Math.sqrt(nn);
    }
  }
  /** Approximate cosines (up to the query's norm) of the rows in `slots[0..m)`, into `out`. */
  score(q: Float32Array, slots: Int32Array | undefined, m: number, out: Float32Array): void {
    const buf = this.memory.buffer;
    let qmax = 0;
    let qmu = 0;
    for (let d = 0; d < this.ds.dim; d++) {
      qmax = Math.max(qmax, Math.abs(q[d]! * this.scale[d]!));
      qmu += q[d]! * this.mean[d]!;
    }
    const qc = new Int8Array(buf, this.qAt, this.rowBytes);
    const f = qmax > 0 ? 127 / qmax : 0;
    for (let d = 0; d < this.ds.dim; d++) qc[d] = Math.round(q[d]! * this.scale[d]! * f);
    const sl = new Int32Array(buf, this.slotsAt, m);
    if (slots) sl.set(slots.subarray(0, m));
    else for (let i = 0; i < m; i++) sl[i] = i;
    this.dots(0, this.slotsAt, m, this.chunks, this.qAt, this.outAt);
    const raw = new Int32Array(buf, this.outAt, m);
    const back = f > 0 ? 1 / f : 0;
    for (let i = 0; i < m; i++) out[i] = (raw[i]! * back + qmu) / (this.norms[sl[i]!]! || 1);
  }
}

/** Indices of the `c` largest of `score[0..m)` (a bounded insertion list: c is small). */
function largest(score: Float32Array, m: number, c: number, map: Int32Array | undefined): Int32Array {
  const top = new Int32Array(Math.min(c, m));
  const val = new Float32Array(top.length).fill(-Infinity);
  let len = 0;
  for (let i = 0; i < m; i++) {
    const s = score[i]!;
    if (len === top.length && s <= val[len - 1]!) continue;
    let j = len < top.length ? len++ : len - 1;
    while (j > 0 && val[j - 1]! < s) {
      val[j] = val[j - 1]!;
      top[j] = top[j - 1]!;
      j--;
    }
    val[j] = s;
    top[j] = map ? map[i]! : i;
  }
  return top;
}

export function int8Method(ds: DataSet, candidates: number, prefilter?: number): Method {
  const { mean, std } = stats(ds);
  const codes = new Int8Codes(ds, mean, std);
  const scan = prefilter ? new SignScan(ds, mean) : undefined;
  const picked = new Int32Array(prefilter ?? 0);
  const score = new Float32Array(prefilter ?? ds.n);
  return {
    name: prefilter ? `sign-centred ${prefilter} → int8 C=${candidates}` : `int8 scan C=${candidates}`,
    bytes: () => ds.n * (codes.rowBytes + 4 + (scan ? scan.stride : 0)) + ds.dim * 16,
    search: (q, k) => {
      if (!scan) {
        codes.score(q, undefined, ds.n, score);
        return rerank(ds, q, largest(score, ds.n, candidates, undefined), k);
      }
      const m = scan.candidates(q, prefilter!, picked);
      codes.score(q, picked, m, score);
      return rerank(ds, q, largest(score, m, candidates, picked), k);
    },
  };
}

/** The production index, fed row indices as ids and the in-memory floats as its look-up. */
export function productionMethod(ds: DataSet, candidates: number): Method {
  const idx = new VectorIndex(ds.dim, ds.n);
  for (let i = 0; i < ds.n; i++) idx.upsert(String(i), ds.rows.subarray(i * ds.dim, (i + 1) * ds.dim));
  const lookup = (ids: readonly string[]) => new Map(ids.map((id) => [id, ds.rows.subarray(Number(id) * ds.dim, (Number(id) + 1) * ds.dim)]));
  const withBytes = idx as unknown as { memoryBytes?: () => number };
  return {
    name: `VectorIndex (src) C=${candidates}`,
    bytes: () => withBytes.memoryBytes?.() ?? ds.n * Math.ceil(ds.dim / 64) * 8,
    search: (q, k) => idx.search(q, k, candidates, lookup).map((h) => Number(h.id)),
  };
}

interface Hnsw {
  initIndex(max: number, m: number, efConstruction: number, seed: number): void;
  addPoint(p: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(q: number[], k: number): { neighbors: number[] };
}
/** hnswlib-node from `dir` (a throwaway install), or undefined when it is not there. */
export function hnswMethod(ds: DataSet, dir: string | undefined, ef: number): Method | undefined {
  if (!dir) return undefined;
  let lib: { HierarchicalNSW: new (space: string, dim: number) => Hnsw };
  try {
    lib = createRequire(`${dir}/`)("hnswlib-node");
  } catch {
    return undefined;
  }
  const index = new lib.HierarchicalNSW("cosine", ds.dim);
  const M = 16;
  index.initIndex(ds.n, M, 100, 100);
  for (let i = 0; i < ds.n; i++) index.addPoint(Array.from(ds.rows.subarray(i * ds.dim, (i + 1) * ds.dim)), i);
  index.setEf(ef);
  return {
    name: `hnsw M=${M} efC=100 ef=${ef}`,
    // hnswlib keeps its own float copy plus the graph (≈ 2·M links of 4 B a row at layer 0).
    bytes: () => ds.n * (ds.dim * 4 + M * 2 * 4 + 8),
    search: (q, k) => index.searchKnn(Array.from(q), k).neighbors,
  };
}
