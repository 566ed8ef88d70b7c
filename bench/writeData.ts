/**
 * Realistic memories for the write benchmark (bench/writes.ts): ~200-character text, 3–5
 * tags, a small metadata object, optionally a float32-exact embedding; and the same memory
 * as the row a plain INSERT on the master would write (same columns and parameter types as
 * the uploader's upsert).
 */
import { randomUUID } from "node:crypto";
import type { MasterColumn } from "../src/master/columnsSql.ts";
import type { TableQueries } from "../src/master/tableQueries.ts";
import { qualified, quoteIdent } from "../src/master/masterSql.ts";
import type { ColumnSpec } from "../src/schema/tableDescriptor.ts";
import { prng } from "../src/dev/prng.ts";

/** The project's seeded PRNG, so every run writes the same texts. */
export const rng = prng;

const WORDS = (
  "the user prefers dark mode and short answers when asking about deployment of the postgres cluster " +
  "agent noted that the migration failed because an index was missing on the events table yesterday " +
  "remember to ask before deleting files in the shared workspace since several teams rely on them " +
  "meeting notes summary budget review quarterly roadmap customer feedback latency regression fixed " +
  "embedding model changed cache invalidated retry later timezone europe berlin language german english"
).split(" ");
const TAGS = ["preference", "project", "deploy", "postgres", "meeting", "todo", "bug", "customer", "infra", "personal", "docs", "release"];
const TYPES = ["episodic", "semantic", "procedural", "working"];

export interface BenchMemory {
  readonly content: string;
  readonly memory_type: string;
  readonly importance_score: number;
  readonly source_agent: string;
  readonly tags: string[];
  readonly metadata: Record<string, unknown>;
  readonly embedding?: number[];
}

/** The text starts with `label#i ` so the master can be checked row by row afterwards. */
export function makeMemory(r: () => number, label: string, i: number, dim: number): BenchMemory {
  let text = `${label}#${i}`;
  while (text.length < 200) text += ` ${WORDS[Math.floor(r() * WORDS.length)]}`;
  const tags = new Set<string>();
  const nTags = 3 + Math.floor(r() * 3);
  while (tags.size < nTags) tags.add(TAGS[Math.floor(r() * TAGS.length)]!);
  const m: BenchMemory = {
    content: text,
    memory_type: TYPES[i % TYPES.length]!,
    importance_score: Math.round(r() * 100) / 100,
    source_agent: `agent-${i % 7}`,
    tags: [...tags],
    metadata: { source: "chat", session: `s-${Math.floor(i / 50)}`, turn: i, confidence: Math.round(r() * 1000) / 1000, lang: r() < 0.7 ? "en" : "de" },
  };
  if (dim > 0) {
    const v = new Array<number>(dim);
    let norm = 0;
    for (let k = 0; k < dim; k++) norm += (v[k] = r() * 2 - 1) ** 2;
    norm = Math.sqrt(norm);
    // float32-exact, so the replica's Float32Array round trip sends the very same numbers.
    for (let k = 0; k < dim; k++) v[k] = Math.fround(v[k]! / norm);
    return { ...m, embedding: v };
  }
  return m;
}

export const makeMemories = (label: string, n: number, dim: number, seed: number): BenchMemory[] => {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => makeMemory(r, label, i, dim));
};

/**
 * A plain INSERT with exactly the columns and parameter casts of the uploader's upsert
 * (`TableQueries.upsert` over a stored row's keys), without ON CONFLICT.
 */
export function directInsert(tq: TableQueries, masterColumns: readonly MasterColumn[]): { text: string; columns: ColumnSpec[] } {
  const allColumns = tq.descriptor.columns.map((c) => c.name);
  const { columns } = tq.upsert(allColumns);
  const udt = (name: string) => masterColumns.find((c) => c.name === name)?.udt ?? "text";
  const cast = (c: ColumnSpec) => (c.kind === "vector" ? "real[]" : udt(c.name).startsWith("_") ? `${udt(c.name).slice(1)}[]` : udt(c.name));
  const text = `INSERT INTO ${qualified(tq.descriptor.masterTable)} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) VALUES (${columns.map((c, i) => `$${i + 1}::${cast(c)}`).join(", ")})`;
  return { text, columns };
}

/** The row the replica would store for this memory (defaults as LocalWrites fills them in), as the uploader sends it. */
export function directRow(m: BenchMemory): Record<string, unknown> {
  const now = new Date().toISOString().replace("Z", "000Z");
  return {
    id: randomUUID(),
    content: JSON.stringify({ text: m.content }),
    memory_type: m.memory_type,
    importance_score: m.importance_score,
    source_agent: m.source_agent,
    source_system: "embedded-memory",
    created_by: m.source_agent,
    tags: m.tags,
    metadata: JSON.stringify(m.metadata),
    tenant_id: null,
    context_id: null,
    search_text: null,
    expires_at: null,
    embedding: m.embedding ?? null,
    created_at: now,
    updated_at: now,
    archived: 0,
  };
}

export const directValues = (m: BenchMemory, columns: readonly ColumnSpec[]): unknown[] => {
  const row = directRow(m);
  return columns.map((c) => row[c.name] ?? null);
};
