/**
 * A real replica file for the reads of the replicated tables (test/tables.test.ts,
 * test/tableAdapters.test.ts), built with the store's own apply path: a uuid-keyed table (every
 * column kind, tenants, NULLs and ties), a bigint-keyed one (past 2^53), a text-keyed one and
 * the memory table (one live memory, one expired). Every table's copy is complete (a cursor, no
 * last sync); `markCopied` makes a table's copy complete again after a test began it anew.
 */
import path from "node:path";
import { test as base } from "./fixtures.ts";
import { makeLocalStore, type LocalStoreShape } from "../../src/store/LocalStore.ts";
import { MEMORY_COLUMNS, memoryTableDescriptor, type ColumnKind, type ColumnSpec, type Row, type TableDescriptor } from "../../src/schema/tableDescriptor.ts";
import { makeTableReader, type TableReader } from "../../src/runtime/tables.ts";

export const TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001";
export const TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002";
const col = (name: string, kind: ColumnKind): ColumnSpec => ({ name, kind, createAs: kind });

export const TASKS: TableDescriptor = {
  masterTable: "public.ai_autonomous_tasks",
  localName: "ai_autonomous_tasks",
  key: "id",
  columns: [
    col("id", "uuid"),
    col("title", "text"),
    col("status", "text"),
    col("priority", "int"),
    col("memory_ids", "textArray"),
    col("payload", "json"),
    col("done", "bool"),
    col("weight", "real"),
    col("embedding", "vector"),
    col("due_at", "timestamp"),
    col("tenant_id", "uuid"),
  ],
  indexes: ["status", "priority", "due_at"],
  filter: "status IN ('pending','in_progress')",
};
export const EVENTS: TableDescriptor = { masterTable: "event_log", localName: "event_log", key: "seq", columns: [col("seq", "bigint"), col("kind", "text"), col("bytes", "bigint")], indexes: ["kind", "bytes"] };
export const SETTINGS: TableDescriptor = { masterTable: "ops.agent_settings", localName: "agent_settings", key: "name", columns: [col("name", "text"), col("value", "json")] };
export const MEMORY = memoryTableDescriptor("unified_ai_memory");

export const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
const BIG = ["9007199254740993", "9223372036854775807", "-9223372036854775808"];

/** 40 tasks: priorities with ties and NULLs, three tenants (A, B, shared), every kind of column. */
export const taskRows = (): Row[] =>
  Array.from({ length: 40 }, (_, i) => ({
    id: uuid(i),
    title: i === 5 ? "" : `task ${i}`,
    status: i % 2 ? "in_progress" : "pending",
    priority: i % 7 === 0 ? null : i % 4,
    memory_ids: JSON.stringify([uuid(100 + i)]),
    payload: JSON.stringify({ n: i, nested: { ok: true } }),
    done: i % 5 === 0 ? 1 : 0,
    weight: i / 8,
    embedding: i % 10 === 0 ? f32([0.5, -1, i]) : null,
    due_at: i % 6 === 0 ? null : `2026-01-${String(1 + (i % 3)).padStart(2, "0")}T00:00:00.000000Z`,
    tenant_id: i % 3 === 0 ? TENANT_A : i % 3 === 1 ? TENANT_B : null,
  }));
const eventRows = (): Row[] => [
  ...BIG.map((seq, i) => ({ seq, kind: "big", bytes: BIG[(i + 1) % 3]! })),
  ...Array.from({ length: 12 }, (_, i) => ({ seq: String(i * 3 - 10), kind: i % 3 ? "write" : "read", bytes: String(i % 4) })),
];
const now = "2026-01-01T00:00:00.000000Z";
const memoryRow = (id: string, expires: string | null): Row =>
  Object.fromEntries(
    MEMORY_COLUMNS.map((c) => [
      c.name,
      ({ id, memory_type: "semantic", content: JSON.stringify({ text: `memory ${id}` }), importance_score: 0.5, tags: '["a","b"]', metadata: "{}", access_count: 0, archived: 0, created_at: now, updated_at: now, expires_at: expires } as Row)[c.name] ?? null,
    ]),
  );

/**
 * The sync state of a complete copy, without the sweep a real copy's end does (which would drop
 * the expired memory the reads must not serve).
 */
export function markCopied(store: LocalStoreShape, d: TableDescriptor): void {
  store.syncState(d);
  store.statement("UPDATE sync_state SET cursor = '100:100:', snapshot_complete = 1, snapshot_cursor = NULL WHERE table_name = ?").run(d.localName);
}

export interface Replica {
  readonly file: string;
  readonly store: LocalStoreShape & { close(): void };
  readonly reader: TableReader;
}

export const test = base.extend<{ replica: Replica }>({
  replica: async ({ tmp }, use) => {
    const file = path.join(tmp, "tables.db");
    const store = makeLocalStore(file);
    store.ensureTables([TASKS, EVENTS, SETTINGS]);
    store.applyChanges(TASKS, TASKS.columns, taskRows(), []);
    store.applyChanges(EVENTS, EVENTS.columns, eventRows(), []);
    store.applyChanges(SETTINGS, SETTINGS.columns, [{ name: "a b/c", value: '{"x":1}' }, { name: "plain", value: "not json" }], []);
    store.applyChanges(MEMORY, MEMORY_COLUMNS, [memoryRow(uuid(900), null), memoryRow(uuid(901), "2000-01-01T00:00:00.000000Z")], []);
    for (const d of [MEMORY, TASKS, EVENTS, SETTINGS]) markCopied(store, d);
    await use({ file, store, reader: makeTableReader(store, MEMORY) });
    store.close();
  },
});
