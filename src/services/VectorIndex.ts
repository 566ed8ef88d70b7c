/**
 * Vector KNN over the replica's embeddings (cosine). Chosen by measurement (see
 * BENCHMARKS.md): a sign-bit (binary-quantised) copy of every vector in one contiguous
 * Uint32Array is scanned by Hamming distance, and the closest candidates are re-ranked by
 * exact cosine on their stored float32 BLOBs. Memory: dim/8 bytes a row (48 B at 384-d).
 */
export interface VectorHit {
  readonly id: string;
  readonly score: number;
}

/** Exact float32 vectors for candidate ids (from the SQLite file). */
export type VectorLookup = (ids: readonly string[]) => Map<string, Float32Array>;

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

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

export class VectorIndex {
  private readonly words: number;
  private bits: Uint32Array;
  private ids: string[] = [];
  private readonly slotOf = new Map<string, number>();

  constructor(readonly dim: number, capacity = 1024) {
    this.words = Math.ceil(dim / 32);
    this.bits = new Uint32Array(Math.max(1, capacity) * this.words);
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
      if ((slot + 1) * this.words > this.bits.length) {
        const grown = new Uint32Array(this.bits.length * 2);
        grown.set(this.bits);
        this.bits = grown;
      }
      this.ids.push(id);
      this.slotOf.set(id, slot);
    }
    const base = slot * this.words;
    for (let w = 0; w < this.words; w++) {
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
    if (slot !== last) {
      const movedId = this.ids[last]!;
      this.bits.copyWithin(slot * this.words, last * this.words, (last + 1) * this.words);
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
    const q = new Uint32Array(this.words);
    for (let i = 0; i < this.dim; i++) if (query[i]! > 0) q[i >>> 5]! |= 1 << (i & 31);
    let mask: Uint8Array | undefined;
    if (allowed) {
      mask = new Uint8Array(n);
      for (const id of allowed) {
        const s = this.slotOf.get(id);
        if (s !== undefined) mask[s] = 1;
      }
    }
    const dist = new Uint16Array(n);
    const hist = new Uint32Array(this.dim + 2);
    const words = this.words;
    const bits = this.bits;
    const EXCLUDED = this.dim + 1;
    for (let s = 0, base = 0; s < n; s++, base += words) {
      if (mask && mask[s] === 0) {
        dist[s] = EXCLUDED;
        continue;
      }
      let d = 0;
      for (let w = 0; w < words; w++) d += popcount(bits[base + w]! ^ q[w]!);
      dist[s] = d;
      hist[d]!++;
    }
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
