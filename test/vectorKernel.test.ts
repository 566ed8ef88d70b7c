/**
 * The vector kernel's source and binary agree: kernel.wat, rebuilt with wabt, gives exactly the
 * committed kernel.wasm (the bytes VectorIndex runs), and that kernel computes Hamming distances
 * and int8 dot products.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import wabtInit from "wabt";
import { instantiateHammingKernel } from "../src/search/vectors/VectorIndex.ts";

const dir = new URL("../src/search/vectors/", import.meta.url);

describe("vector kernel", () => {
  test("Compiling kernel.wat with wabt gives exactly the bytes of the committed kernel.wasm.", async () => {
    const wabt = await wabtInit();
    const module = wabt.parseWat("kernel.wat", readFileSync(new URL("kernel.wat", dir), "utf8"));
    try {
      module.resolveNames();
      module.validate();
      // No name section: the committed binary carries none.
      const built = Buffer.from(module.toBinary({ log: false, write_debug_names: false }).buffer);
      expect(built.equals(readFileSync(new URL("kernel.wasm", dir))), "kernel.wasm is stale: rebuild it from kernel.wat").toBe(true);
    } finally {
      module.destroy();
    }
  });

  test("The loaded kernel writes the Hamming distance of each row to the query as a 16-bit count.", () => {
    const { exports } = instantiateHammingKernel();
    const memory = exports.memory as { buffer: ArrayBuffer };
    const scan = exports.scan as (bits: number, n: number, words: number, q: number, dist: number, hist: number) => void;
    const words = 2;
    const rows = [
      [0n, 0n], // distance to the query: popcount(query) = 64 + 1 = 65
      [0xffff_ffff_ffff_ffffn, 0n], // the first word agrees, the second differs in 1 bit: 1
      [0x0f0f_0f0f_0f0f_0f0fn, 0xffn], // 32 of 64, and popcount(0xff ^ 1) = 7: 39
      [0xffff_ffff_ffff_ffffn, 1n], // equal: 0
    ];
    const query = [0xffff_ffff_ffff_ffffn, 1n];
    const bitsAt = 0;
    const qAt = rows.length * words * 8;
    const distAt = qAt + words * 8;
    const view = new BigUint64Array(memory.buffer, 0, rows.length * words + words);
    rows.flat().forEach((w, i) => (view[i] = w));
    query.forEach((w, i) => (view[qAt / 8 + i] = w));
    const histAt = distAt + 16;
    new Uint32Array(memory.buffer, histAt, 2 * 64 + 2).fill(0);
    scan(bitsAt, rows.length, words, qAt, distAt, histAt);
    expect([...new Uint16Array(memory.buffer, distAt, rows.length)]).toEqual([65, 1, 39, 0]);
    const hist = new Uint32Array(memory.buffer, histAt, 2 * 64 + 2);
    expect([0, 1, 39, 65].map((d) => hist[d])).toEqual([1, 1, 1, 1]);
    expect(hist.reduce((a, b) => a + b, 0)).toBe(rows.length);
  });

  test("The loaded kernel writes the int8 dot product of each listed row with the query as a 32-bit sum.", () => {
    const { exports } = instantiateHammingKernel();
    const memory = exports.memory as { buffer: ArrayBuffer };
    const dots = exports.dots as (codes: number, slots: number, m: number, chunks: number, q: number, out: number) => void;
    const chunks = 2; // 32 codes a row
    const rows = [
      Array.from({ length: 32 }, () => 1),
      Array.from({ length: 32 }, (_, i) => (i % 2 ? -127 : 127)),
      Array.from({ length: 32 }, (_, i) => i - 16),
    ];
    const query = Array.from({ length: 32 }, (_, i) => (i < 16 ? 127 : -3));
    const codesAt = 0;
    const qAt = rows.length * chunks * 16;
    const slotsAt = qAt + chunks * 16;
    const outAt = slotsAt + 16;
    const bytes = new Int8Array(memory.buffer);
    rows.flat().forEach((c, i) => (bytes[codesAt + i] = c));
    query.forEach((c, i) => (bytes[qAt + i] = c));
    const slots = [2, 0, 1]; // any order, a row may be skipped or repeated
    new Int32Array(memory.buffer, slotsAt, slots.length).set(slots);
    dots(codesAt, slotsAt, slots.length, chunks, qAt, outAt);
    const expected = slots.map((s) => rows[s]!.reduce((a, c, i) => a + c * query[i]!, 0));
    expect([...new Int32Array(memory.buffer, outAt, slots.length)]).toEqual(expected);
  });
  test("The selection kernel lists, in slot order, the slots closer than the threshold and the first ties at it.", () => {
    const { exports } = instantiateHammingKernel();
    const memory = exports.memory as { buffer: ArrayBuffer };
    const select = exports.select as (dist: number, n: number, threshold: number, ties: number, out: number) => number;
    const dist = [5, 2, 3, 9, 3, 1, 3, 4];
    const outAt = 64;
    new Uint16Array(memory.buffer, 0, dist.length).set(dist);
    const picked = (threshold: number, ties: number) => [...new Int32Array(memory.buffer, outAt, select(0, dist.length, threshold, ties, outAt))];
    expect(picked(3, 2)).toEqual([1, 2, 4, 5]);
    expect(picked(3, 0)).toEqual([1, 5]);
    expect(picked(10, 0)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test("The int8 kernel gives the same sums for rows taken eight at a time as for the rows left over.", () => {
    const { exports } = instantiateHammingKernel();
    const memory = exports.memory as { buffer: ArrayBuffer };
    const dots = exports.dots as (codes: number, slots: number, m: number, chunks: number, q: number, out: number) => void;
    const chunks = 3;
    const n = 40;
    // Deterministic codes over the whole int8 range (−127..127).
    const code = (r: number, b: number) => ((r * 131 + b * 71) % 255) - 127;
    const rows = Array.from({ length: n }, (_, r) => Array.from({ length: chunks * 16 }, (_, b) => code(r, b)));
    const query = Array.from({ length: chunks * 16 }, (_, b) => code(7, b * 3));
    const qAt = n * chunks * 16;
    const slotsAt = qAt + chunks * 16;
    const bytes = new Int8Array(memory.buffer);
    rows.flat().forEach((c, i) => (bytes[i] = c));
    query.forEach((c, i) => (bytes[qAt + i] = c));
    // 19 slots: two groups of eight and three left over, in no particular order.
    const slots = Array.from({ length: 19 }, (_, i) => (i * 17) % n);
    const outAt = slotsAt + slots.length * 4;
    new Int32Array(memory.buffer, slotsAt, slots.length).set(slots);
    dots(0, slotsAt, slots.length, chunks, qAt, outAt);
    const expected = slots.map((s) => rows[s]!.reduce((a, c, i) => a + c * query[i]!, 0));
    expect([...new Int32Array(memory.buffer, outAt, slots.length)]).toEqual(expected);
  });
});
