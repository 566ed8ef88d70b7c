/**
 * The kernels: `scan`, dist[s] = Σ popcount(bits[s][w] XOR q[w]) over 64-bit words (~15×
 * faster than the same loop in JavaScript), and `dots`, int8 dot products of listed rows with
 * the query. kernel.wasm is kernel.wat compiled by wabt's `wat2wasm` (test/vectorKernel.test.ts
 * rebuilds it and compares bytes); only the binary is read at run time, so wabt is a
 * devDependency. Memory is exported and grown by VectorIndex (layout: `Layout`).
 */
import { readFileSync } from "node:fs";

const KERNEL_URL = new URL("./kernel.wasm", import.meta.url);
/** The little of WebAssembly used here (the ES2023 lib declares no WebAssembly values). */
export interface WasmMemory {
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
 * use only, so importing this module (VectorIndex.ts does, and LocalWrites imports that for the
 * BLOB helpers) reads nothing.
 * @internal exported for test/vectorKernel.test.ts
 */
export function instantiateHammingKernel(): WasmInstance {
  hammingModule ??= new Wasm.Module(readFileSync(KERNEL_URL));
  return new Wasm.Instance(hammingModule);
}

export type Scan = (bits: number, n: number, words: number, q: number, dist: number, hist: number) => void;
export type Select = (dist: number, n: number, threshold: number, ties: number, out: number) => number;
export type Dots = (codes: number, slots: number, m: number, chunks: number, q: number, out: number) => void;
/** WebAssembly's page: its memory grows by whole pages. */
export const PAGE = 65_536;

/** Byte offsets in the kernel's memory for `capacity` rows (`hist`: one u32 per Hamming distance). */
export function layout(capacity: number, stride: number, rowBytes: number, dim: number) {
  const codes = capacity * stride;
  const qBits = codes + capacity * rowBytes;
  const qCodes = qBits + stride;
  const dist = qCodes + rowBytes;
  const slots = dist + Math.ceil((capacity * 2) / 16) * 16;
  const out = slots + capacity * 4;
  const hist = out + capacity * 4;
  return { codes, qBits, qCodes, dist, slots, out, hist, end: hist + (dim + 2) * 4 };
}
export type Layout = ReturnType<typeof layout>;
