/**
 * Vector KNN over the replica's embeddings (cosine). Chosen by measurement on zero-centred,
 * all-positive and offset anisotropic data (bench/vectorIndex.ts, BENCHMARKS.md), in three
 * stages: the sign bits of (v − per-dimension mean) are scanned by Hamming distance (a
 * WebAssembly popcount kernel) to keep a prefilter of the closest rows; their int8 codes
 * (also centred, one step per dimension: quantiser.ts) give a near-exact cosine (a WebAssembly
 * SIMD dot kernel); the best few are re-ranked by exact cosine on their stored float32 BLOBs,
 * so `score` is exact. Memory: dim/8 + dim (rounded up to 16) + 4 bytes a row (436 B at 384-d).
 */
import { drift, placeholderBasis, RunningStats, stepsOf, type Basis } from "./quantiser.ts";
import { centredCosine, cosine } from "./floatVectors.ts";
import { instantiateHammingKernel, layout, PAGE, type Dots, type Layout, type Scan, type Select, type WasmMemory } from "./kernel.ts";
import { cutOff, largest } from "./selection.ts";

// The helpers this module used to hold, still importable from here (LocalWrites, tests, bench).
export { blobToVector, centredCosine, cosine, vectorToBlob } from "./floatVectors.ts";
export { instantiateHammingKernel, type WasmInstance } from "./kernel.ts";

export interface VectorHit {
  readonly id: string;
  /** The exact cosine of the query and the stored vector. */
  readonly score: number;
  /**
   * The cosine after both are centred on the rows' per-dimension mean (once the index holds
   * CENTRED_MIN_ROWS rows; the plain cosine before): what ranking calls vector relevance. On
   * offset data (real model output, all-positive vectors) unrelated rows have a plain cosine of
   * 0.5 or more; centred, they are near 0, so a relevance floor can tell them from neighbours.
   */
  readonly centred: number;
}

/** Below this many rows the mean is too rough to centre on (two rows would point apart). */
export const CENTRED_MIN_ROWS = 256;

/** Exact float32 vectors for candidate ids (from the SQLite file). */
export type VectorLookup = (ids: readonly string[]) => Map<string, Float32Array>;

/** When the statistics moved this far from the quantisation's basis (quantiser.ts `drift`), `stale`. */
export const DRIFT_LIMIT = 0.2;
/** Up to this many rows the index keeps their floats, and re-quantises itself as it doubles. */
const WARM_ROWS = 4096;
/** Rows kept by the Hamming prefilter: at least this many, or 1/16 of the rows (all-positive data needs that many at 100k). */
const PREFILTER_MIN = 3000;
const PREFILTER_SHARE = 16;

export class VectorIndex {
  /** 64-bit words a row (the sign bits, zero-padded), and 16-byte chunks (the int8 codes). */
  private readonly words64: number;
  private readonly stride: number;
  private readonly chunks: number;
  private readonly rowBytes: number;
  private readonly memory: WasmMemory;
  private readonly scan: Scan;
  private readonly dots: Dots;
  private readonly select: Select;
  private capacity: number;
  private at!: Layout;
  private bits!: Uint32Array;
  private codes!: Int8Array;
  private norms: Float32Array;
  private ids: string[] = [];
  private readonly slotOf = new Map<string, number>();
  private basis: Basis;
  private steps: Float64Array;
  private readonly stats: RunningStats;
  /** The floats of every row while the index is small (see WARM_ROWS); undefined after. */
  private warm: Map<string, Float32Array> | undefined;

  /** `basis`: statistics to quantise against from the start (a rebuild passes the old index's). */
  constructor(readonly dim: number, capacity = 1024, basis?: Basis) {
    this.words64 = Math.ceil(dim / 64);
    this.stride = this.words64 * 8;
    this.chunks = Math.ceil(dim / 16);
    this.rowBytes = this.chunks * 16;
    const instance = instantiateHammingKernel();
    this.memory = instance.exports.memory as WasmMemory;
    this.scan = instance.exports.scan as Scan;
    this.dots = instance.exports.dots as Dots;
    this.select = instance.exports.select as Select;
    this.capacity = Math.max(1, capacity);
    this.norms = new Float32Array(this.capacity);
    this.basis = basis ?? placeholderBasis(dim);
    this.steps = stepsOf(this.basis);
    this.stats = new RunningStats(dim);
    this.warm = basis && basis.count >= WARM_ROWS ? undefined : new Map();
    this.reserve(0);
  }

  /** Lays out the memory for `capacity` rows, moving the `rows` rows' codes to their new place. */
  private reserve(rows: number): void {
    const old = this.at;
    const at = layout(this.capacity, this.stride, this.rowBytes, this.dim);
    const have = this.memory.buffer.byteLength;
    if (at.end > have) this.memory.grow(Math.ceil((at.end - have) / PAGE));
    // The bits stay at 0; the codes region starts further on (copyWithin is a memmove).
    if (old && rows > 0) new Uint8Array(this.memory.buffer).copyWithin(at.codes, old.codes, old.codes + rows * this.rowBytes);
    this.at = at;
    this.bits = new Uint32Array(this.memory.buffer, 0, at.codes / 4);
    this.codes = new Int8Array(this.memory.buffer, at.codes, this.capacity * this.rowBytes);
    if (this.norms.length < this.capacity) {
      const norms = new Float32Array(this.capacity);
      norms.set(this.norms);
      this.norms = norms;
    }
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  /**
   * True when the rows moved away from what the index was quantised against (DRIFT_LIMIT):
   * recall would degrade silently, so the owner rebuilds it from the stored vectors, passing
   * `statistics()` (vectorStore does, on the next search). Small indexes fix themselves.
   */
  get stale(): boolean {
    return this.warm === undefined && this.size > 0 && drift(this.basis, this.stats.basis()) > DRIFT_LIMIT;
  }

  /** The current per-dimension mean and spread of the rows held (removals estimated from their codes). */
  statistics(): Basis {
    return this.stats.basis();
  }

  /** Bytes held for the rows (bits, codes, norms), not counting the per-query scratch space. */
  memoryBytes(): number {
    return this.capacity * (this.stride + this.rowBytes + 4);
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
        this.reserve(slot);
      }
      this.ids.push(id);
      this.slotOf.set(id, slot);
    } else this.stats.add(this.warm?.get(id) ?? this.decode(slot), -1);
    this.stats.add(v, 1);
    if (this.warm) this.warm.set(id, Float32Array.from(v));
    this.encode(slot, v);
    this.warmUp();
    return true;
  }

  /** Removes a vector by moving the last one into its slot (the buffers stay contiguous). */
  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.stats.add(this.warm?.get(id) ?? this.decode(slot), -1);
    this.warm?.delete(id);
    const last = this.ids.length - 1;
    if (slot !== last) {
      const movedId = this.ids[last]!;
      const words32 = this.words64 * 2;
      this.bits.copyWithin(slot * words32, last * words32, (last + 1) * words32);
      this.codes.copyWithin(slot * this.rowBytes, last * this.rowBytes, (last + 1) * this.rowBytes);
      this.norms[slot] = this.norms[last]!;
      this.ids[slot] = movedId;
      this.slotOf.set(movedId, slot);
    }
    this.ids.pop();
    this.slotOf.delete(id);
  }

  /** While small: re-quantise against exact statistics each time the index doubles. */
  private warmUp(): void {
    if (!this.warm || this.size < Math.max(16, 2 * this.basis.count)) return;
    this.basis = this.stats.basis();
    this.steps = stepsOf(this.basis);
    for (const [id, v] of this.warm) this.encode(this.slotOf.get(id)!, v);
    if (this.size >= WARM_ROWS) this.warm = undefined;
  }

  private encode(slot: number, v: Float32Array): void {
    const words32 = this.words64 * 2;
    const base = slot * words32;
    const { mean } = this.basis;
    for (let w = 0; w < words32; w++) {
      let word = 0;
      const end = Math.min(32, this.dim - w * 32);
      for (let b = 0; b < end; b++) if (v[w * 32 + b]! > mean[w * 32 + b]!) word |= 1 << b;
      this.bits[base + w] = word >>> 0;
    }
    const at = slot * this.rowBytes;
    let norm = 0;
    for (let d = 0; d < this.dim; d++) {
      const x = v[d]!;
      norm += x * x;
      this.codes[at + d] = Math.max(-127, Math.min(127, Math.round((x - mean[d]!) / this.steps[d]!)));
    }
    this.norms[slot] = Math.sqrt(norm);
  }

  /** A row's vector as its codes say (clipped at 4σ): what a removal takes out of the statistics. */
  private decode(slot: number): Float64Array {
    const at = slot * this.rowBytes;
    return this.basis.mean.map((m, d) => m + this.codes[at + d]! * this.steps[d]!);
  }

  /**
   * The `k` nearest by cosine, with exact scores. The Hamming prefilter keeps
   * max(3000, rows/16, candidates) rows, their int8 dots pick the best
   * min(candidates, max(2k, k + 20)), and those are re-ranked exactly from `lookup`.
   * `allowed`, when given, restricts the scan (filters applied before ranking).
   */
  search(query: Float32Array, k: number, candidates: number, lookup: VectorLookup, allowed?: ReadonlySet<string>): VectorHit[] {
    const n = this.ids.length;
    if (n === 0 || k <= 0 || query.length !== this.dim) return [];
    const { mean } = this.basis;
    const buffer = this.memory.buffer;
    const q = new Uint32Array(buffer, this.at.qBits, this.words64 * 2);
    q.fill(0);
    for (let i = 0; i < this.dim; i++) if (query[i]! > mean[i]!) q[i >>> 5]! |= 1 << (i & 31);
    const hist = new Uint32Array(buffer, this.at.hist, this.dim + 2);
    hist.fill(0);
    this.scan(0, n, this.words64, this.at.qBits, this.at.dist, this.at.hist);
    if (allowed) {
      const dist = new Uint16Array(buffer, this.at.dist, n);
      const keep = new Uint8Array(n);
      for (const id of allowed) {
        const slot = this.slotOf.get(id);
        if (slot !== undefined) keep[slot] = 1;
      }
      // Out of reach of any threshold (cutOff looks at distances ≤ dim only).
      for (let s = 0; s < n; s++) {
        if (keep[s] === 1) continue;
        hist[dist[s]!]!--;
        dist[s] = this.dim + 1;
      }
    }
    const { threshold, ties } = cutOff(hist, Math.max(PREFILTER_MIN, Math.ceil(n / PREFILTER_SHARE), candidates), this.dim);
    const m = this.select(this.at.dist, n, threshold, ties, this.at.slots);
    if (m === 0) return [];
    const slots = new Int32Array(buffer, this.at.slots, m);
    const approx = this.approximate(query, m);
    const best = largest(approx, slots, m, Math.min(candidates, Math.max(2 * k, k + 20)));
    const exact = lookup(Array.from(best, (s) => this.ids[s]!));
    const hits: VectorHit[] = [];
    const centre = n >= CENTRED_MIN_ROWS ? this.stats.basis().mean : undefined;
    for (const [id, v] of exact) {
      if (v.length !== this.dim) continue;
      const score = cosine(query, v);
      hits.push({ id, score, centred: centre ? centredCosine(query, v, centre) : score });
    }
    hits.sort((a, b) => b.score - a.score);
    return hits.slice(0, k);
  }

  /** Near-exact cosines (up to the query's norm) of the `m` rows in the slots region. */
  private approximate(query: Float32Array, m: number): Float32Array {
    const { mean } = this.basis;
    let qMax = 0;
    let qMean = 0;
    for (let d = 0; d < this.dim; d++) {
      qMax = Math.max(qMax, Math.abs(query[d]! * this.steps[d]!));
      qMean += query[d]! * mean[d]!;
    }
    // The query as int8 too, on its own scale: q·v = q·mean + Σ (q_d·step_d)·code_d.
    const f = qMax > 0 ? 127 / qMax : 0;
    const qc = new Int8Array(this.memory.buffer, this.at.qCodes, this.rowBytes);
    qc.fill(0);
    for (let d = 0; d < this.dim; d++) qc[d] = Math.round(query[d]! * this.steps[d]! * f);
    this.dots(this.at.codes, this.at.slots, m, this.chunks, this.at.qCodes, this.at.out);
    const raw = new Int32Array(this.memory.buffer, this.at.out, m);
    const slots = new Int32Array(this.memory.buffer, this.at.slots, m);
    const back = f > 0 ? 1 / f : 0;
    const out = new Float32Array(m);
    for (let i = 0; i < m; i++) out[i] = (raw[i]! * back + qMean) / (this.norms[slots[i]!]! || 1);
    return out;
  }
}
