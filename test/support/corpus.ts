/**
 * A seeded corpus with known answers, written straight into a replica file the way the
 * sync applies rows. Topics are directions in vector space; each memory has a unique
 * codeword. "Keyword" queries name a codeword (the topic vector is shared by many rows, so
 * vectors alone cannot tell which); "vector" queries use words no memory contains, with a
 * vector pointing at one memory's own direction (so keywords alone cannot find it).
 */
import { randomUUID } from "node:crypto";
import type { LocalStoreShape } from "../../src/store/LocalStore.ts";
import { MEMORY_COLUMNS, memoryTableDescriptor, type Row } from "../../src/schema/tableDescriptor.ts";
import { vectorToBlob } from "../../src/search/vectors/VectorIndex.ts";
import { prng } from "../../src/dev/prng.ts";


export const DIM = 32;
const FILLER = ["note", "agent", "memory", "today", "later", "plan", "idea", "result", "check", "value"];

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  return v.map((x) => x / Math.sqrt(n));
}

export interface CorpusQuery {
  readonly kind: "keyword" | "vector";
  readonly text: string;
  readonly vector: Float32Array;
  readonly expected: string;
}

export interface Corpus {
  readonly queries: CorpusQuery[];
  readonly ids: string[];
}

export function memoryRow(fields: Partial<Record<string, unknown>>): Row {
  const row: Row = {};
  for (const c of MEMORY_COLUMNS) row[c.name] = null;
  return { ...row, id: randomUUID(), memory_type: "semantic", importance_score: 0.5, created_at: "2026-01-01T00:00:00.000000Z", tags: "[]", metadata: "{}", ...fields } as Row;
}

export function writeRows(store: LocalStoreShape, rows: Row[]): void {
  store.applyChanges(memoryTableDescriptor("unified_ai_memory"), MEMORY_COLUMNS, rows, []);
}

export function buildCorpus(store: LocalStoreShape, seed: number, topics = 8, perTopic = 25): Corpus {
  const random = prng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const randomVector = () => unit(Float32Array.from({ length: DIM }, gauss));
  const directions = Array.from({ length: topics }, randomVector);
  const rows: Row[] = [];
  const queries: CorpusQuery[] = [];
  for (let t = 0; t < topics; t++) {
    for (let i = 0; i < perTopic; i++) {
      const code = `code${t}x${i}q`;
      const own = randomVector();
      // Most rows sit near their topic; every fifth has a direction of its own.
      const special = i % 5 === 0;
      const v = special ? own : unit(directions[t]!.map((x, j) => x + 0.35 * gauss() + 0 * j));
      const words = Array.from({ length: 6 }, () => FILLER[Math.floor(random() * FILLER.length)]);
      const row = memoryRow({ content: JSON.stringify({ text: `${code} topic${t} ${words.join(" ")}` }), embedding: vectorToBlob(v) });
      rows.push(row);
      if (i % 5 === 1) queries.push({ kind: "keyword", text: `${code} topic${t}`, vector: directions[t]!, expected: String(row.id) });
      if (special) queries.push({ kind: "vector", text: "unrelated phrasing nobody wrote", vector: unit(own.map((x) => x + 0.05 * gauss())), expected: String(row.id) });
    }
  }
  writeRows(store, rows);
  return { queries, ids: rows.map((r) => String(r.id)) };
}
