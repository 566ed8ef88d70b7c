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
    const scan = exports.scan as (bits: number, n: number, words: number, q: number, dist: number) => void;
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
    scan(bitsAt, rows.length, words, qAt, distAt);
    expect([...new Uint16Array(memory.buffer, distAt, rows.length)]).toEqual([65, 1, 39, 0]);
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
});
