/**
 * How rows read from the master become local values: embeddings (a `real[]` as text, or as
 * `array_send` bytes, or a pgvector value) straight into float32 BLOBs; the rest as pg parses them.
 */
import pg from "pg";
import { pgvectorSendToBlob } from "./pgvector.ts";

/** Parses Postgres `real[]` text (`{0.1,-2,3e-05}`) straight into a float32 little-endian BLOB. */
export function parseFloat4ArrayToBlob(text: string): Buffer {
  if (text.length <= 2) return Buffer.alloc(0);
  const parts = text.slice(1, -1).split(",");
  const out = new Float32Array(parts.length);
  for (let i = 0; i < parts.length; i++) out[i] = Number(parts[i]);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

const FLOAT4_OID = 700;
/**
 * Decodes `array_send(x::real[])` — Postgres's binary array format (big-endian: ndim, flags,
 * element type, then size and lower bound per dimension, then length-prefixed elements) —
 * into a float32 little-endian BLOB. NULL elements become NaN, as the text parser makes them.
 * Undefined for bytes that are not exactly one float4 array (malformed, truncated, trailing).
 */
export function float4ArraySendToBlob(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 12) return undefined;
  const ndim = bytes.readInt32BE(0);
  if (bytes.readUInt32BE(8) !== FLOAT4_OID || ndim < 0 || ndim > 6 || bytes.length < 12 + ndim * 8) return undefined;
  let count = ndim === 0 ? 0 : 1;
  for (let d = 0; d < ndim; d++) {
    const size = bytes.readInt32BE(12 + d * 8);
    if (size < 0) return undefined;
    count *= size;
  }
  let at = 12 + ndim * 8;
  // Every element takes at least its 4-byte length: checked before allocating.
  if (count * 4 > bytes.length - at) return undefined;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) return undefined;
    const len = bytes.readInt32BE(at);
    at += 4;
    if (len === 4 && at + 4 <= bytes.length) {
      out[i] = bytes.readFloatBE(at);
      at += 4;
    } else if (len === -1) out[i] = NaN;
    else return undefined;
  }
  return at === bytes.length ? Buffer.from(out.buffer, out.byteOffset, out.byteLength) : undefined;
}

/**
 * bytea in text form (`\x0a1b…`). Our queries select bytea only as `array_send` of an
 * embedding: anything else is an error, never bytes stored as if they were a vector.
 */
function parseByteaEmbedding(text: string): Buffer {
  const bytes = text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex") : (pg.types.getTypeParser(BYTEA_OID, "text")(text) as Buffer);
  // The three forms are disjoint (see pgvector.ts): at most one decoder accepts the bytes.
  const blob = float4ArraySendToBlob(bytes) ?? pgvectorSendToBlob(bytes);
  if (!blob) throw new Error(`an embedding arrived as ${bytes.length} bytes that are not one real[] in Postgres's binary array format, nor one pgvector vector or halfvec`);
  return blob;
}

const FLOAT4_ARRAY_OID = 1021;
const BYTEA_OID = 17;
/** Per-query type parsers: only our own queries turn embeddings into BLOBs. */
export const rowTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === BYTEA_OID ? parseByteaEmbedding : oid === FLOAT4_ARRAY_OID ? parseFloat4ArrayToBlob : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};
