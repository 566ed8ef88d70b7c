/**
 * Local writes: store (insert or update by id), remove, get, and access counting. Each
 * write changes the row and appends its outbox entry in one SQLite transaction, so it is
 * durable, readable and searchable before the call returns, and reaches the master later
 * through the upload machine.
 */
import { randomUUID } from "node:crypto";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { isoMicros } from "../store/statements.ts";
import { MEMORY_COLUMNS, type Row, type TableDescriptor } from "../schema/tableDescriptor.ts";
import { blobToVector, vectorToBlob } from "../search/vectors/VectorIndex.ts";
import { outboxTable, recordAccess } from "./outboxTable.ts";
import type { MemoryWrite } from "../schema/memory.ts";

export interface StoredMemory {
  readonly id: string;
  readonly content: unknown;
  readonly memory_type: string | null;
  readonly importance_score: number | null;
  readonly source_agent: string | null;
  readonly source_system: string | null;
  readonly created_by: string | null;
  readonly tags: unknown;
  readonly metadata: unknown;
  readonly tenant_id: string | null;
  readonly context_id: string | null;
  readonly search_text: string | null;
  readonly access_count: number | null;
  readonly last_accessed: string | null;
  readonly created_at: string | null;
  readonly updated_at: string | null;
  readonly expires_at: string | null;
  readonly has_embedding: boolean;
  /** A local write of this row is not yet acknowledged by the master. */
  readonly pending: boolean;
}

export interface WriteOptions {
  /** The master's content column is text (not jsonb): string content is stored as is. */
  readonly contentIsText: () => boolean;
  /** Told after every committed write (wakes the upload machine). */
  readonly onWrite: () => void;
}

/**
 * Called with the row as it is (undefined: none) in the same synchronous step as the write, so
 * nothing — a pull moving the row to another tenant, say — comes between the check and the
 * write; a throw leaves nothing written. (A tenant-scoped key's rules: runtime/scoped.ts.)
 */
export type WriteGuard = (current: StoredMemory | undefined) => void;

/** Takes input the schemas already decoded (the library's entry points do it): ids are valid UUIDs. */
export interface LocalWrites {
  readonly store: (input: MemoryWrite, guard?: WriteGuard) => StoredMemory;
  readonly remove: (id: string, guard?: WriteGuard) => boolean;
  readonly get: (id: string) => StoredMemory | undefined;
  readonly recordAccess: (ids: readonly string[]) => void;
}

export function makeLocalWrites(store: LocalStoreShape, d: TableDescriptor, o: WriteOptions): LocalWrites {
  const outbox = outboxTable(store);
  const table = `"${d.localName}"`;
  const selectRow = outbox.rowWithPending(table);

  const shape = (r: Record<string, unknown>): StoredMemory => {
    const json = (v: unknown) => {
      if (typeof v !== "string") return v ?? null;
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    };
    return {
      id: String(r.id),
      content: json(r.content),
      memory_type: r.memory_type as string | null,
      importance_score: r.importance_score as number | null,
      source_agent: r.source_agent as string | null,
      source_system: r.source_system as string | null,
      created_by: r.created_by as string | null,
      tags: json(r.tags),
      metadata: json(r.metadata),
      tenant_id: r.tenant_id as string | null,
      context_id: r.context_id as string | null,
      search_text: r.search_text as string | null,
      access_count: r.access_count as number | null,
      last_accessed: r.last_accessed as string | null,
      created_at: r.created_at as string | null,
      updated_at: r.updated_at as string | null,
      expires_at: r.expires_at as string | null,
      has_embedding: r.embedding !== null && r.embedding !== undefined,
      pending: r.pending === 1,
    };
  };

  /** A decoded write (schema/memory.ts) as the local row; absent fields keep the existing row's value. */
  const toRow = (i: MemoryWrite, existing: Record<string, unknown> | undefined): Row => {
    const content = typeof i.content === "string" ? (o.contentIsText() ? i.content : JSON.stringify({ text: i.content })) : JSON.stringify(i.content);
    const now = isoMicros();
    const keep = <T,>(v: T | undefined, field: string, fallback: unknown): unknown => (v !== undefined ? v : existing ? existing[field] : fallback);
    const lower = (v: string | null | undefined) => (v === undefined ? undefined : (v?.toLowerCase() ?? null));
    const row: Row = {};
    for (const c of MEMORY_COLUMNS) row[c.name] = existing ? (existing[c.name] as Row[string]) : null;
    Object.assign(row, {
      id: i.id === undefined ? (existing?.id ?? randomUUID()) : i.id.toLowerCase(),
      content,
      memory_type: keep(i.memory_type, "memory_type", "semantic") ?? "semantic",
      importance_score: keep(i.importance_score, "importance_score", 0.5),
      source_agent: keep(i.source_agent, "source_agent", null),
      source_system: keep(i.source_system, "source_system", "embedded-memory") ?? "embedded-memory",
      created_by: keep(i.created_by, "created_by", i.source_agent ?? "embedded-memory"),
      tags: i.tags !== undefined ? JSON.stringify(i.tags) : keep(undefined, "tags", "[]"),
      metadata: i.metadata !== undefined ? JSON.stringify(i.metadata) : keep(undefined, "metadata", "{}"),
      tenant_id: keep(lower(i.tenant_id), "tenant_id", null),
      context_id: keep(lower(i.context_id), "context_id", null),
      search_text: keep(i.search_text, "search_text", null),
      expires_at: keep(i.expires_at === undefined || i.expires_at === null ? i.expires_at : isoMicros(new Date(i.expires_at)), "expires_at", null),
      embedding: i.embedding === undefined ? keep(undefined, "embedding", null) : i.embedding === null ? null : vectorToBlob(Float32Array.from(i.embedding)),
      created_at: existing?.created_at ?? now,
      updated_at: now,
      archived: 0,
    });
    return row as Row;
  };

  /** The outbox payload: the row as the master will get it (vectors as number arrays). */
  const payload = (row: Row): string =>
    JSON.stringify({ ...row, embedding: Buffer.isBuffer(row.embedding) ? Array.from(blobToVector(row.embedding)) : null, tags: JSON.parse(String(row.tags ?? "[]")) });

  return {
    store: (input, guard) => {
      const existing = input.id ? (selectRow.get(input.id.toLowerCase()) as Record<string, unknown> | undefined) : undefined;
      guard?.(existing ? shape(existing) : undefined);
      const row = toRow(input, existing);
      store.writeLocal(d, MEMORY_COLUMNS, [row], [], () => outbox.append(String(row.id), "upsert", payload(row), String(row.updated_at)));
      o.onWrite();
      return shape(selectRow.get(row.id) as Record<string, unknown>);
    },
    remove: (rawId, guard) => {
      const id = rawId.toLowerCase();
      const existing = selectRow.get(id) as Record<string, unknown> | undefined;
      guard?.(existing ? shape(existing) : undefined);
      // Nothing here to delete is a 404, not a write: no outbox entry.
      if (!existing) return false;
      store.writeLocal(d, MEMORY_COLUMNS, [], [id], () => outbox.append(id, "delete", JSON.stringify({ id, deleted_at: isoMicros() }), isoMicros()));
      o.onWrite();
      return true;
    },
    get: (rawId) => {
      const r = selectRow.get(rawId.toLowerCase()) as Record<string, unknown> | undefined;
      return r ? shape(r) : undefined;
    },
    recordAccess: (ids) => {
      recordAccess(store, ids.map((id) => id.toLowerCase()));
      o.onWrite();
    },
  };
}
