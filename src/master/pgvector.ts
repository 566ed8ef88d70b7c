/**
 * pgvector's own binary forms, read without a cast: `vector_send` (int16 dim, int16 unused,
 * dim × float4 big-endian) and `halfvec_send` (the same header, dim × float16 big-endian).
 * Both decode straight into the BLOB the replica stores: float32 little-endian. Casting a
 * `vector(1536)` to `real[]` doubled the bytes on the wire (a 4-byte length per element:
 * 12.3 KB a row against 6.1 KB), so a pgvector column is read in its own format and only
 * array columns (`real[]`, `float8[]`) keep `array_send(col::real[])`.
 */

/** How an embedding column travels from the master. */
export type EmbeddingWire = "array" | "vector" | "halfvec";

/** pgvector's VECTOR_MAX_DIM and HALFVEC_MAX_DIM: a header past it is not pgvector's. */
export const PGVECTOR_MAX_DIM = 16000;

/** The wire form for a master column's type (`typname`: vector, halfvec, _float4, _float8…). */
export function embeddingWire(udt: string): EmbeddingWire {
  return udt === "vector" ? "vector" : udt === "halfvec" ? "halfvec" : "array";
}

/**
 * The SELECT expression that sends a column in its wire form (always bytea). The send
 * function is qualified with the type's schema: hosted Postgres installs pgvector in a
 * schema of its own (Supabase: `extensions`) that a role's search_path may not include,
 * and unlike a cast, a function call is resolved through the search_path.
 */
export function embeddingSelect(ref: string, udt: string, udtSchema?: string): string {
  const fn = (name: string) => (udtSchema ? `"${udtSchema.replace(/"/g, '""')}".${name}` : name);
  switch (embeddingWire(udt)) {
    case "vector":
      return `${fn("vector_send")}(${ref})`;
    case "halfvec":
      return `${fn("halfvec_send")}(${ref})`;
    case "array":
      return `array_send(${ref}::real[])`;
  }
}

/**
 * The dimension a pgvector header announces when `bytes` is exactly that header followed by
 * `dim` elements of `elementBytes` each; undefined for anything else (short, trailing
 * bytes, a zero, negative or absurd dimension, a non-zero unused field).
 */
function nativeDim(bytes: Uint8Array, elementBytes: 2 | 4): number | undefined {
  if (bytes.length < 4) return undefined;
  const dim = (bytes[0]! << 8) | bytes[1]!; // int16, but any dim > 16000 is refused anyway
  const unused = (bytes[2]! << 8) | bytes[3]!;
  if (dim < 1 || dim > PGVECTOR_MAX_DIM || unused !== 0) return undefined;
  return bytes.length === 4 + dim * elementBytes ? dim : undefined;
}

/** `vector_send` bytes → float32 LE BLOB; undefined unless they are exactly one vector. */
export function vectorSendToBlob(bytes: Uint8Array): Buffer | undefined {
  const dim = nativeDim(bytes, 4);
  if (dim === undefined) return undefined;
  // An own (aligned) ArrayBuffer, so a Float32Array view over the BLOB needs no copy; the
  // elements are already float4s, only their byte order differs.
  const out = Buffer.from(new ArrayBuffer(dim * 4));
  out.set(bytes.subarray(4));
  return out.swap32();
}

let halfTable: Float32Array | undefined;
/** Every float16 bit pattern as a float32 (256 KB, built once): one lookup per element. */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    t[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (halfTable = t);
}

/** `halfvec_send` bytes → float32 LE BLOB (every float16 is exact in float32); undefined unless exactly one halfvec. */
export function halfvecSendToBlob(bytes: Uint8Array): Buffer | undefined {
  const dim = nativeDim(bytes, 2);
  if (dim === undefined) return undefined;
  const table = halfToFloat();
  const out = new Float32Array(dim);
  for (let i = 0, at = 4; i < dim; i++, at += 2) out[i] = table[(bytes[at]! << 8) | bytes[at + 1]!]!;
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * pgvector bytes of either form → float32 LE BLOB; undefined when they are neither. The
 * two cannot be confused: each header fixes the exact length (4 + 4·dim or 4 + 2·dim). Nor
 * can `array_send` output pass: its first int16 (the high half of ndim) is 0, never a dim.
 */
export function pgvectorSendToBlob(bytes: Uint8Array): Buffer | undefined {
  return vectorSendToBlob(bytes) ?? halfvecSendToBlob(bytes);
}

