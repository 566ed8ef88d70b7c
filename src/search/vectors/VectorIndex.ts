/**
 * Vector KNN over the replica's embeddings (cosine). Chosen by measurement (see
 * BENCHMARKS.md): a sign-bit (binary-quantised) copy of every vector in one contiguous
 * buffer is scanned by Hamming distance (a WebAssembly popcount kernel), and the closest
 * candidates are re-ranked by exact cosine on their stored float32 BLOBs. Memory: dim/8
 * bytes a row (48 B at 384-d).
 */
import { readFileSync } from "node:fs";

export interface VectorHit {
  readonly id: string;
  readonly score: number;
}

/** Exact float32 vectors for candidate ids (from the SQLite file). */
export type VectorLookup = (ids: readonly string[]) => Map<string, Float32Array>;

export function blobToVector(blob: Uint8Array): Float32Array {
  // Copy: a BLOB's bytes need not be 4-byte aligned in their buffer.
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float32Array(copy.buffer);
}

export function vectorToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * The Hamming-distance kernel: dist[s] = Σ popcount(bits[s][w] XOR q[w]) over 64-bit words,
 * ~15× faster than the same loop in JavaScript. kernel.wasm is kernel.wat compiled by wabt's
 * `wat2wasm` (test/vectorKernel.test.ts rebuilds it and compares bytes); only the binary is
 * read at run time, so wabt is a devDependency. Memory is exported and grown by VectorIndex:
 * [rows' bits][query bits][distances].
 */
const KERNEL_URL = new URL("./kernel.wasm", import.meta.url);
/** The little of WebAssembly used here (the ES2023 lib declares no WebAssembly values). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
const Wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => WasmInstance } }).WebAssembly;
let hammingModule: object | undefined;

/**
 * A fresh instance of the kernel (its own memory). The file is read and compiled on first
 * use only, so importing this module (LocalWrites does, for the BLOB helpers) reads nothing.
 * @internal exported for test/vectorKernel.test.ts
 */
export function instantiateHammingKernel(): WasmInstance {
  hammingModule ??= new Wasm.Module(readFileSync(KERNEL_URL));
  return new Wasm.Instance(hammingModule);
}

type Scan = (bits: number, n: number, words: number, q: number, dist: number) => void;
const PAGE = 65_536;

export class VectorIndex {
  /** 64-bit words a row (the sign bits, zero-padded). */
  private readonly words64: number;
  private readonly stride: number;
  private readonly memory: WasmMemory;
  private readonly scan: Scan;
  private capacity: number;
  private bits: Uint32Array;
  private ids: string[] = [];
  private readonly slotOf = new Map<string, number>();

  constructor(readonly dim: number, capacity = 1024) {
    this.words64 = Math.ceil(dim / 64);
    this.stride = this.words64 * 8;
    const instance = instantiateHammingKernel();
    this.memory = instance.exports.memory as WasmMemory;
    this.scan = instance.exports.scan as Scan;
    this.capacity = Math.max(1, capacity);
    this.reserve();
    this.bits = new Uint32Array(this.memory.buffer, 0, this.capacity * this.words64 * 2);
  }

  /** Grows the memory to hold `capacity` rows plus a query and the distances. */
  private reserve(): void {
    const needed = this.capacity * this.stride + this.stride + this.capacity * 2;
    const have = this.memory.buffer.byteLength;
    if (needed > have) this.memory.grow(Math.ceil((needed - have) / PAGE));
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  /** Adds or replaces a vector; false (and nothing stored) when its dimension differs. */
  upsert(id: string, v: Float32Array): boolean {
    if (v.length !== this.dim) {
      this.remove(id);
      return false;
    }
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.ids.length;
      if (slot >= this.capacity) {
        this.capacity *= 2;
        this.reserve();
        this.bits = new Uint32Array(this.memory.buffer, 0, this.capacity * this.words64 * 2);
      }
      this.ids.push(id);
      this.slotOf.set(id, slot);
    }
    const words32 = this.words64 * 2;
    const base = slot * words32;
    for (let w = 0; w < words32; w++) {
      let word = 0;
      const end = Math.min(32, this.dim - w * 32);
      for (let b = 0; b < end; b++) if (v[w * 32 + b]! > 0) word |= 1 << b;
      this.bits[base + w] = word >>> 0;
    }
    return true;
  }

  /** Removes a vector by moving the last one into its slot (the buffer stays contiguous). */
  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    const last = this.ids.length - 1;
    const words32 = this.words64 * 2;
    if (slot !== last) {
      const movedId = this.ids[last]!;
      this.bits.copyWithin(slot * words32, last * words32, (last + 1) * words32);
      this.ids[slot] = movedId;
      this.slotOf.set(movedId, slot);
    }
    this.ids.pop();
    this.slotOf.delete(id);
  }

  /**
   * The `k` nearest by cosine. `candidates` nearest by Hamming distance are re-ranked
   * exactly; `allowed`, when given, restricts the scan (filters applied before ranking).
   */
  search(query: Float32Array, k: number, candidates: number, lookup: VectorLookup, allowed?: ReadonlySet<string>): VectorHit[] {
    const n = this.ids.length;
    if (n === 0 || k <= 0) return [];
    const qOffset = this.capacity * this.stride;
    const distOffset = qOffset + this.stride;
    const q = new Uint32Array(this.memory.buffer, qOffset, this.words64 * 2);
    q.fill(0);
    for (let i = 0; i < this.dim; i++) if (query[i]! > 0) q[i >>> 5]! |= 1 << (i & 31);
    this.scan(0, n, this.words64, qOffset, distOffset);
    const dist = new Uint16Array(this.memory.buffer, distOffset, n);
    const hist = new Uint32Array(this.dim + 2);
    const EXCLUDED = this.dim + 1;
    if (allowed) {
      const keep = new Uint8Array(n);
      for (const id of allowed) {
        const slot = this.slotOf.get(id);
        if (slot !== undefined) keep[slot] = 1;
      }
      for (let s = 0; s < n; s++) if (keep[s] === 0) dist[s] = EXCLUDED;
    }
    for (let s = 0; s < n; s++) hist[dist[s]!]!++;
    // The distance threshold that admits about `candidates` slots (a counting selection).
    let threshold = 0;
    for (let seen = 0; threshold <= this.dim && seen + hist[threshold]! < candidates; threshold++) seen += hist[threshold]!;
    // Everything closer than the threshold, then ties at it until `candidates` are picked.
    const picked: string[] = [];
    let ties = Math.max(0, candidates - (threshold > 0 ? hist.subarray(0, threshold).reduce((a, b) => a + b, 0) : 0));
    for (let s = 0; s < n; s++) {
      const d = dist[s]!;
      if (d < threshold) picked.push(this.ids[s]!);
      else if (d === threshold && ties > 0) {
        picked.push(this.ids[s]!);
        ties--;
      }
    }
    const exact = lookup(picked);
    const hits: VectorHit[] = [];
    for (const [id, v] of exact) if (v.length === this.dim) hits.push({ id, score: cosine(query, v) });
    hits.sort((a, b) => b.score - a.score);
    return hits.slice(0, k);
  }
}
