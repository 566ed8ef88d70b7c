/**
 * Local writes: store (insert or update by id), remove, get, and access counting. Each
 * write changes the row and appends its outbox entry in one SQLite transaction, so it is
 * durable, readable and searchable before the call returns, and reaches the master later
 * through the upload machine.
 */
import { randomUUID } from "node:crypto";
import * as Data from "effect/Data";
import { isoMicros, type LocalStoreShape } from "../store/LocalStore.ts";
import { MEMORY_COLUMNS, type Row, type TableDescriptor } from "../store/tableDescriptor.ts";
import { blobToVector, vectorToBlob } from "../search/vectors/VectorIndex.ts";

/** Bad write input: names the field, becomes a 400. */
export class WriteInputError extends Data.TaggedError("WriteInputError")<{ readonly field: string; readonly message: string }> {}

export interface MemoryInput {
  readonly id?: string;
  readonly content: string | Record<string, unknown>;
  readonly memory_type?: string;
  readonly importance_score?: number;
  readonly source_agent?: string;
  readonly source_system?: string;
  readonly created_by?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Record<string, unknown>;
  readonly tenant_id?: string | null;
  readonly context_id?: string | null;
  readonly search_text?: string | null;
  readonly expires_at?: string | null;
  readonly embedding?: readonly number[] | null;
}

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

export const LIMITS = Object.freeze({ contentBytes: 100_000, metadataBytes: 64_000, tags: 64, text: 200, searchText: 10_000, dim: 65_536 });
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIELDS = ["id", "content", "memory_type", "importance_score", "source_agent", "source_system", "created_by", "tags", "metadata", "tenant_id", "context_id", "search_text", "expires_at", "embedding"];

const bad = (field: string, message: string): never => {
  throw new WriteInputError({ field, message: `${field}: ${message}` });
};
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

export function validateId(v: unknown, field = "id"): string {
  if (typeof v !== "string" || !UUID_RE.test(v)) return bad(field, "expected a UUID");
  return v.toLowerCase();
}

function optText(o: Record<string, unknown>, field: string, max: number = LIMITS.text): string | null | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== "string") return bad(field, "expected a string");
  if (v.length > max) return bad(field, `longer than ${max} characters`);
  return v;
}

export interface WriteOptions {
  /** The master's content column is text (not jsonb): string content is stored as is. */
  readonly contentIsText: () => boolean;
  /** Told after every committed write (wakes the upload machine). */
  readonly onWrite: () => void;
}

export interface LocalWrites {
  readonly store: (input: unknown) => StoredMemory;
  readonly remove: (id: unknown) => boolean;
  readonly get: (id: unknown) => StoredMemory | undefined;
  readonly recordAccess: (ids: readonly string[]) => void;
}

/** Counts reads as local deltas (added on the master by the uploader, never overwritten). */
const accessStatements = new WeakMap<LocalStoreShape["db"], (ids: readonly string[], now: string) => void>();

export function recordAccess(store: LocalStoreShape, ids: readonly string[]): void {
  // Prepared once per file: every search that returns memories comes through here.
  let record = accessStatements.get(store.db);
  if (!record) {
    const stmt = store.db.prepare("INSERT INTO access_deltas (id, delta, last_accessed) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE SET delta = delta + 1, last_accessed = excluded.last_accessed");
    record = store.db.transaction((list: readonly string[], now: string) => list.forEach((id) => stmt.run(id, now)));
    accessStatements.set(store.db, record);
  }
  record(ids, isoMicros());
}

export function makeLocalWrites(store: LocalStoreShape, d: TableDescriptor, o: WriteOptions): LocalWrites {
  const db = store.db;
  const table = `"${d.localName}"`;
  const appendOutbox = db.prepare("INSERT INTO outbox (memory_id, op, payload, created_at) VALUES (?, ?, ?, ?)");
  const selectRow = db.prepare(`SELECT *, EXISTS (SELECT 1 FROM outbox WHERE memory_id = m.id AND parked_at IS NULL AND op <> 'access') AS pending FROM ${table} m WHERE id = ?`);

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

  const toRow = (input: unknown, existing: Record<string, unknown> | undefined): Row => {
    if (input === null || typeof input !== "object" || Array.isArray(input)) return bad("body", "expected a JSON object");
    const i = input as Record<string, unknown>;
    for (const k of Object.keys(i)) if (!FIELDS.includes(k)) bad(k, `unknown field (known: ${FIELDS.join(", ")})`);
    let content: string;
    if (typeof i.content === "string") {
      if (i.content.trim() === "") bad("content", "must not be empty");
      content = o.contentIsText() ? i.content : JSON.stringify({ text: i.content });
    } else if (i.content !== null && typeof i.content === "object" && !Array.isArray(i.content)) content = JSON.stringify(i.content);
    else return bad("content", "required: a string or a JSON object");
    if (bytes(content) > LIMITS.contentBytes) bad("content", `larger than ${LIMITS.contentBytes} bytes`);
    const importance = i.importance_score;
    if (importance !== undefined && (typeof importance !== "number" || !Number.isFinite(importance) || importance < 0 || importance > 1)) bad("importance_score", "expected a number from 0 to 1");
    const tags = i.tags;
    if (tags !== undefined && (!Array.isArray(tags) || tags.length > LIMITS.tags || tags.some((t) => typeof t !== "string" || t.length > LIMITS.text))) bad("tags", `expected at most ${LIMITS.tags} strings of at most ${LIMITS.text} characters`);
    const metadata = i.metadata;
    if (metadata !== undefined && (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))) bad("metadata", "expected a JSON object");
    if (metadata !== undefined && bytes(JSON.stringify(metadata)) > LIMITS.metadataBytes) bad("metadata", `larger than ${LIMITS.metadataBytes} bytes`);
    for (const f of ["tenant_id", "context_id"]) if (i[f] !== undefined && i[f] !== null) validateId(i[f], f);
    let expires: string | null | undefined;
    if (i.expires_at !== undefined && i.expires_at !== null) {
      const t = typeof i.expires_at === "string" ? Date.parse(i.expires_at) : NaN;
      if (Number.isNaN(t)) bad("expires_at", "expected an ISO-8601 date");
      expires = isoMicros(new Date(t));
    } else expires = i.expires_at as null | undefined;
    const e = i.embedding;
    if (e !== undefined && e !== null && (!Array.isArray(e) || e.length === 0 || e.length > LIMITS.dim || e.some((x) => typeof x !== "number" || !Number.isFinite(x)))) bad("embedding", "expected a non-empty array of finite numbers");
    const now = isoMicros();
    const keep = <T,>(v: T | undefined, field: string, fallback: unknown): unknown => (v !== undefined ? v : existing ? existing[field] : fallback);
    const agent = optText(i, "source_agent");
    const row: Row = {};
    for (const c of MEMORY_COLUMNS) row[c.name] = existing ? (existing[c.name] as Row[string]) : null;
    Object.assign(row, {
      id: i.id === undefined ? (existing?.id ?? randomUUID()) : validateId(i.id),
      content,
      memory_type: keep(optText(i, "memory_type"), "memory_type", "semantic") ?? "semantic",
      importance_score: keep(importance, "importance_score", 0.5),
      source_agent: keep(agent, "source_agent", null),
      source_system: keep(optText(i, "source_system"), "source_system", "embedded-memory") ?? "embedded-memory",
      created_by: keep(optText(i, "created_by"), "created_by", agent ?? "embedded-memory"),
      tags: tags !== undefined ? JSON.stringify(tags) : keep(undefined, "tags", "[]"),
      metadata: metadata !== undefined ? JSON.stringify(metadata) : keep(undefined, "metadata", "{}"),
      tenant_id: keep(i.tenant_id === undefined ? undefined : ((i.tenant_id as string | null)?.toLowerCase() ?? null), "tenant_id", null),
      context_id: keep(i.context_id === undefined ? undefined : ((i.context_id as string | null)?.toLowerCase() ?? null), "context_id", null),
      search_text: keep(optText(i, "search_text", LIMITS.searchText), "search_text", null),
      expires_at: keep(expires, "expires_at", null),
      embedding: e === undefined ? keep(undefined, "embedding", null) : e === null ? null : vectorToBlob(Float32Array.from(e as number[])),
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
    store: (input) => {
      const id = input && typeof input === "object" && "id" in input && (input as { id: unknown }).id !== undefined ? validateId((input as { id: unknown }).id) : undefined;
      const existing = id ? (selectRow.get(id) as Record<string, unknown> | undefined) : undefined;
      const row = toRow(input, existing);
      store.writeLocal(d, MEMORY_COLUMNS, [row], [], () => appendOutbox.run(row.id, "upsert", payload(row), row.updated_at));
      o.onWrite();
      return shape(selectRow.get(row.id) as Record<string, unknown>);
    },
    remove: (rawId) => {
      const id = validateId(rawId);
      // Nothing here to delete is a 404, not a write: no outbox entry.
      if (!selectRow.get(id)) return false;
      store.writeLocal(d, MEMORY_COLUMNS, [], [id], () => appendOutbox.run(id, "delete", JSON.stringify({ id, deleted_at: isoMicros() }), isoMicros()));
      o.onWrite();
      return true;
    },
    get: (rawId) => {
      const r = selectRow.get(validateId(rawId)) as Record<string, unknown> | undefined;
      return r ? shape(r) : undefined;
    },
    recordAccess: (ids) => {
      recordAccess(store, ids.map((id) => validateId(id, "ids")));
      o.onWrite();
    },
  };
}
