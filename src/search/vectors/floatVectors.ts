/**
 * The exact float32 vectors: how they are stored (a BLOB of their bytes) and compared (cosine,
 * plain and centred). Apart from the index because they are not about its codes: the stores use
 * the BLOB form (vectorStore, LocalWrites), and the index only the cosines, for its exact re-rank.
 * VectorIndex.ts re-exports all of them, where they were first imported from.
 */

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

/** The cosine of (a − mean) and (b − mean). */
export function centredCosine(a: Float32Array, b: Float32Array, mean: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! - mean[i]!;
    const y = b[i]! - mean[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
