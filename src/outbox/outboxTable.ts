/**
 * Every SQLite statement on the outbox and access_deltas tables, in one place. LocalWrites
 * appends and counts reads, the uploader takes batches and settles them, stats count what
 * is left. The one exception is the pending-writes query (PENDING_WRITES_SQL in
 * src/store/statements.ts): LocalStore's apply transactions check it, and store/ may not
 * import outbox/, so the text lives there and the pending statements here are built from it.
 */
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { isoMicros, PENDING_WRITES_SQL, type Statement } from "../store/statements.ts";

export interface OutboxEntry {
  readonly seq: number;
  readonly memory_id: string;
  readonly op: "upsert" | "delete" | "access";
  readonly payload: string;
}

export interface OutboxCounts {
  /** Entries waiting for the master, access deltas included. */
  readonly pending: number;
  readonly parked: number;
  /** The reason of the most recently parked entry. */
  readonly last_error: string | null;
}

export interface OutboxTable {
  /** Appends one entry; called inside the write's own transaction (LocalStore.writeLocal). */
  readonly append: (memoryId: string, op: OutboxEntry["op"], payload: string, createdAt: string) => void;
  /** Adds one read to each id's access delta, in one transaction. */
  readonly recordAccess: (ids: readonly string[], now: string) => void;
  /** Turns access deltas into outbox entries (so they get receipts and are never added twice). */
  readonly collectAccess: () => void;
  /** The oldest `limit` entries that are not parked, in write order. */
  readonly nextBatch: (limit: number) => OutboxEntry[];
  /** A batch the master could not take (a transient failure): counted against each entry. */
  readonly countAttempt: (seqs: readonly number[], error: string) => void;
  /** Deletes acknowledged entries and parks refused ones with their reason, in one transaction. */
  readonly settle: (acked: readonly OutboxEntry[], parked: readonly { entry: OutboxEntry; reason: string }[]) => void;
  /** Whether a local write of this row still waits for the master. */
  readonly isPending: (memoryId: string) => boolean;
  /** Entries not parked plus access deltas: what an upload has left to do. */
  readonly pendingCount: () => number;
  readonly counts: () => OutboxCounts;
  /** Reads one row of `table` by id with a `pending` column (1 while a local write waits). */
  readonly rowWithPending: (table: string) => Statement;
}

const tables = new WeakMap<LocalStoreShape, OutboxTable>();

/** The outbox of this replica file; built once per store, since searches and writes call it on every use. */
export function outboxTable(store: LocalStoreShape): OutboxTable {
  let t = tables.get(store);
  if (!t) tables.set(store, (t = makeOutboxTable(store)));
  return t;
}

/** Counts reads as local deltas (added on the master by the uploader, never overwritten). */
export function recordAccess(store: LocalStoreShape, ids: readonly string[]): void {
  outboxTable(store).recordAccess(ids, isoMicros());
}

function makeOutboxTable(store: LocalStoreShape): OutboxTable {
  const { statement, pluck, transaction } = store;
  const append = statement("INSERT INTO outbox (memory_id, op, payload, created_at) VALUES (?, ?, ?, ?)");
  const bumpAccess = statement(
    "INSERT INTO access_deltas (id, delta, last_accessed) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE SET delta = delta + 1, last_accessed = excluded.last_accessed",
  );
  const accessToOutbox = statement(
    "INSERT INTO outbox (memory_id, op, payload, created_at) SELECT id, 'access', json_object('delta', delta, 'last_accessed', last_accessed), ? FROM access_deltas WHERE delta > 0",
  );
  const clearAccess = statement("DELETE FROM access_deltas");
  const nextBatch = statement("SELECT seq, memory_id, op, payload FROM outbox WHERE parked_at IS NULL ORDER BY seq LIMIT ?");
  const countAttempt = statement("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq IN (SELECT value FROM json_each(?))");
  const remove = statement("DELETE FROM outbox WHERE seq = ?");
  const park = statement("UPDATE outbox SET parked_at = ?, last_error = ?, attempts = attempts + 1 WHERE seq = ?");
  const pendingForId = statement(`${PENDING_WRITES_SQL} AND memory_id = ? LIMIT 1`);
  // The counts go through partial indexes (outbox_pending, outbox_parked): no outbox scan.
  const pendingEntries = pluck("SELECT count(*) FROM outbox INDEXED BY outbox_pending WHERE parked_at IS NULL");
  const parkedEntries = pluck("SELECT count(*) FROM outbox INDEXED BY outbox_parked WHERE parked_at IS NOT NULL");
  const lastParked = pluck("SELECT last_error FROM outbox INDEXED BY outbox_parked WHERE parked_at IS NOT NULL ORDER BY parked_at DESC LIMIT 1");
  const accessDeltas = pluck("SELECT count(*) FROM access_deltas");

  const pendingCount = () => (pendingEntries.get() as number) + (accessDeltas.get() as number);
  return {
    append: (memoryId, op, payload, createdAt) => void append.run(memoryId, op, payload, createdAt),
    recordAccess: transaction((ids: readonly string[], now: string) => ids.forEach((id) => bumpAccess.run(id, now))),
    collectAccess: transaction(() => {
      accessToOutbox.run(isoMicros());
      clearAccess.run();
    }),
    nextBatch: (limit) => nextBatch.all(limit) as OutboxEntry[],
    countAttempt: (seqs, error) => void countAttempt.run(error, JSON.stringify(seqs)),
    settle: transaction((acked: readonly OutboxEntry[], parked: readonly { entry: OutboxEntry; reason: string }[]) => {
      for (const e of acked) remove.run(e.seq);
      for (const { entry, reason } of parked) park.run(isoMicros(), reason, entry.seq);
    }),
    isPending: (memoryId) => pendingForId.get(memoryId) !== undefined,
    pendingCount,
    counts: () => ({ pending: pendingCount(), parked: parkedEntries.get() as number, last_error: (lastParked.get() as string | undefined) ?? null }),
    rowWithPending: (table) => statement(`SELECT *, EXISTS (${PENDING_WRITES_SQL} AND memory_id = m.id) AS pending FROM ${table} m WHERE id = ?`),
  };
}
