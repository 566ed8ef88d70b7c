/**
 * The local replica file (better-sqlite3, WAL). The handle is owned by an Effect layer and
 * closed in its finalizer. Every batch of rows is written together with the sync state
 * that describes it, in one SQLite transaction: a crash at any point resumes exactly.
 */
import type Database from "better-sqlite3";
import * as Context from "effect/Context";
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import { openReplicaFile } from "./migrations.ts";
import { swapInRecopy } from "./recopy.ts";
import { makeStatements, PENDING_WRITES_SQL, type Statements } from "./statements.ts";
import { syncStateFromRow, type StateRow, type SyncState } from "./syncState.ts";
import type { ColumnSpec, Row, TableDescriptor } from "../schema/tableDescriptor.ts";

export type { SyncState };

export class LocalStoreError extends Data.TaggedError("LocalStoreError")<{ readonly message: string; readonly cause?: unknown }> {}

/** What ends a pull: the new cursor and the count it applied in all its batches. */
export interface PullCommit {
  readonly cursor: string;
  readonly applied: number;
}

/**
 * Counters-only changes of one pull batch: the master changed only these columns of these
 * rows. They are copied with a plain UPDATE of those columns: the full-text index, local
 * embeddings and the in-memory vector index (change listeners) are not touched.
 */
export interface CountersBatch {
  readonly columns: readonly ColumnSpec[];
  readonly rows: readonly Row[];
  /** Filled with the keys of rows this replica does not have (the caller fetches them whole). */
  readonly absent: string[];
  /** Set to the number of rows updated. */
  applied: number;
}

/** Other modules run their SQL through `statement`/`pluck`/`transaction` (statements.ts). */
export interface LocalStoreShape extends Statements {
  readonly path: string;
  /** @internal The raw handle, for tests and benchmarks that look inside the file. */
  readonly unsafeHandle: () => Database.Database;
  readonly syncState: (d: TableDescriptor) => SyncState;
  /** Forget the cursor and any copy in progress (rows stay until the next copy replaces them). */
  readonly resetSync: (d: TableDescriptor, source: string, epoch: string) => void;
  readonly beginSnapshot: (d: TableDescriptor, snapshotCursor: string, epoch: string) => void;
  /**
   * Applies one keyset chunk: upserts `rows`, deletes local rows whose key lies in
   * (afterKey, lastKey] but are not in the chunk; on the last chunk also deletes every key
   * beyond it and promotes the copy's snapshot to the cursor.
   */
  readonly applySnapshotChunk: (d: TableDescriptor, columns: readonly ColumnSpec[], rows: readonly Row[], afterKey: string | null, last: boolean) => number;
  /**
   * Applies part of a pull (and its counters-only changes); with `commit`, also moves the
   * cursor and sweeps expired rows.
   */
  readonly applyChanges: (
    d: TableDescriptor,
    columns: readonly ColumnSpec[],
    upserts: readonly Row[],
    deletes: readonly string[],
    commit?: PullCommit,
    counters?: CountersBatch,
  ) => number;
  readonly count: (d: TableDescriptor) => number;
  readonly rowsInKeyOrder: (d: TableDescriptor, columns: readonly ColumnSpec[]) => IterableIterator<Row>;
  /**
   * Called after each committed write with the rows upserted and the keys deleted, so
   * in-memory indexes follow the file. Returns an unsubscribe function.
   */
  readonly onChange: (listener: ChangeListener) => () => void;
  /**
   * A local write: `upserts` and `deletes` applied as given (pending entries do not block
   * them) together with `extra` (the outbox entry), in one transaction; listeners are told
   * after the commit. Returns the keys that were deleted.
   */
  readonly writeLocal: (d: TableDescriptor, columns: readonly ColumnSpec[], upserts: readonly Row[], deletes: readonly string[], extra: () => void) => string[];
  /**
   * Puts the complete re-copy (recopy.ts) in place of this file, carrying over this replica's
   * outbox, access deltas, identity and pending rows, and reopens: every statement handed out
   * prepares itself again, and `onReplaced` listeners rebuild what they keep in memory.
   */
  readonly replaceWith: (d: TableDescriptor) => void;
  /** Called after the file was replaced (caches of its contents are void). Returns an unsubscribe function. */
  readonly onReplaced: (listener: () => void) => () => void;
  /** Counts replacements of the file: a cache keyed by the handle's counters adds it to its key. */
  readonly generation: () => number;
  /** Small key/value facts about this replica (replica_meta). */
  readonly meta: { get(key: string): string | null; set(key: string, value: string): void };
}

export type ChangeListener = (table: string, upserts: readonly Row[], deletedKeys: readonly string[]) => void;

export class LocalStore extends Context.Service<LocalStore, LocalStoreShape>()("embedded-memory/LocalStore") {}

/** ISO-8601 UTC with microseconds, the form timestamps are stored in (text-comparable). */
export const isoMicros = (d: Date = new Date()): string => d.toISOString().replace("Z", "000Z");

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export function makeLocalStore(file: string): LocalStoreShape & { close(): void } {
  let db = openReplicaFile(file);
  let generation = 0;
  const statements = makeStatements(() => db);
  const { statement: prepare, pluck, transaction } = statements;

  const syncState = (d: TableDescriptor): SyncState => {
    // Read first: searches ask for it every time, and a write per read costs.
    let r = prepare("SELECT * FROM sync_state WHERE table_name = ?").get(d.localName) as StateRow | undefined;
    if (!r) {
      prepare("INSERT INTO sync_state (table_name) VALUES (?) ON CONFLICT DO NOTHING").run(d.localName);
      r = prepare("SELECT * FROM sync_state WHERE table_name = ?").get(d.localName) as StateRow;
    }
    return syncStateFromRow(r);
  };

  const upsertSql = (d: TableDescriptor, columns: readonly ColumnSpec[]): string => {
    const names = columns.map((c) => q(c.name));
    const updates = columns.filter((c) => c.name !== d.key).map((c) => `${q(c.name)} = excluded.${q(c.name)}`);
    return `INSERT INTO ${q(d.localName)} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})
      ON CONFLICT (${q(d.key)}) DO UPDATE SET ${updates.join(", ")}`;
  };

  // A row with a local write not yet acknowledged by the master is not touched by applies.
  const anyPending = (): boolean => pluck(`SELECT EXISTS (${PENDING_WRITES_SQL})`).get() === 1;
  const isPending = (key: unknown): boolean => prepare(`${PENDING_WRITES_SQL} AND memory_id = ? LIMIT 1`).get(key) !== undefined;

  const upsertAll = (d: TableDescriptor, columns: readonly ColumnSpec[], rows: readonly Row[], respectPending = true): number => {
    const stmt = prepare(upsertSql(d, columns));
    const values = new Array<unknown>(columns.length);
    const guard = respectPending && anyPending();
    let n = 0;
    for (const row of rows) {
      if (guard && isPending(row[d.key])) continue;
      for (let i = 0; i < columns.length; i++) values[i] = row[columns[i]!.name] ?? null;
      stmt.run(values);
      n++;
    }
    return n;
  };

  /** Deletes `keys`, recording the ones that existed in `deleted`; returns how many. */
  const deleteKeys = (d: TableDescriptor, keys: readonly string[], deleted: string[], respectPending = true): number => {
    const stmt = prepare(`DELETE FROM ${q(d.localName)} WHERE ${q(d.key)} = ?`);
    let n = 0;
    const guard = respectPending && keys.length > 0 && anyPending();
    for (const k of keys) {
      if (guard && isPending(k)) continue;
      if (stmt.run(k).changes > 0) {
        n++;
        deleted.push(k);
      }
    }
    return n;
  };

  /** Counters-only changes: the counter columns of existing rows, pending rows left alone. */
  const updateCounters = (d: TableDescriptor, c: CountersBatch): number => {
    if (c.rows.length === 0 || c.columns.length === 0) return 0;
    const stmt = prepare(`UPDATE ${q(d.localName)} SET ${c.columns.map((col) => `${q(col.name)} = ?`).join(", ")} WHERE ${q(d.key)} = ?`);
    const values = new Array<unknown>(c.columns.length + 1);
    const guard = anyPending();
    let n = 0;
    for (const row of c.rows) {
      const key = row[d.key];
      if (guard && isPending(key)) continue;
      for (let i = 0; i < c.columns.length; i++) values[i] = row[c.columns[i]!.name] ?? null;
      values[c.columns.length] = key;
      if (stmt.run(values).changes > 0) n++;
      else c.absent.push(String(key));
    }
    c.applied = n;
    return n;
  };

  const selectKeys = (sql: string, ...params: unknown[]): string[] => (pluck(sql).all(...params) as unknown[]).map(String);

  const sweepExpired = (d: TableDescriptor, deleted: string[]): number =>
    d.expiresColumn
      ? deleteKeys(d, selectKeys(`SELECT ${q(d.key)} FROM ${q(d.localName)} WHERE ${q(d.expiresColumn)} IS NOT NULL AND ${q(d.expiresColumn)} <= ?`, isoMicros()), deleted)
      : 0;

  const listeners = new Set<ChangeListener>();
  const replaced = new Set<() => void>();
  const notify = (d: TableDescriptor, upserts: readonly Row[], deleted: readonly string[]) => {
    if (upserts.length === 0 && deleted.length === 0) return;
    for (const l of listeners) l(d.localName, upserts, deleted);
  };

  /** Every apply counts into total_applied (force-sync reports the difference it saw). */
  const countApplied = (d: TableDescriptor, applied: number) => {
    if (applied > 0) prepare("UPDATE sync_state SET total_applied = total_applied + ? WHERE table_name = ?").run(applied, d.localName);
  };

  const finishPull = (d: TableDescriptor, cursor: string, lastSyncCount: number) => {
    prepare(
      `UPDATE sync_state SET cursor = ?, last_sync_time = ?, last_sync_count = ?, total_pulls = total_pulls + 1 WHERE table_name = ?`,
    ).run(cursor, isoMicros(), lastSyncCount, d.localName);
  };

  const applySnapshotChunkTx = transaction(
    (d: TableDescriptor, columns: readonly ColumnSpec[], rows: readonly Row[], afterKey: string | null, last: boolean, deleted: string[]): number => {
      const key = q(d.key);
      const table = q(d.localName);
      let applied = upsertAll(d, columns, rows);
      const lastKey = rows.length ? String(rows[rows.length - 1]![d.key]) : afterKey;
      if (rows.length) {
        // Rows the master no longer has in this key range (a re-copy over older contents).
        const keys = JSON.stringify(rows.map((r) => r[d.key]));
        const gone = selectKeys(
          `SELECT ${key} FROM ${table} WHERE (? IS NULL OR ${key} > ?) AND ${key} <= ? AND ${key} NOT IN (SELECT value FROM json_each(?))`,
          afterKey,
          afterKey,
          lastKey,
          keys,
        );
        applied += deleteKeys(d, gone, deleted);
      }
      prepare("UPDATE sync_state SET snapshot_after_key = ?, snapshot_rows = snapshot_rows + ? WHERE table_name = ?").run(lastKey, rows.length, d.localName);
      if (last) {
        applied += deleteKeys(d, selectKeys(`SELECT ${key} FROM ${table} WHERE ? IS NULL OR ${key} > ?`, lastKey, lastKey), deleted);
        applied += sweepExpired(d, deleted);
        const snap = prepare("SELECT snapshot_cursor, snapshot_rows FROM sync_state WHERE table_name = ?").get(d.localName) as { snapshot_cursor: string; snapshot_rows: number };
        prepare("UPDATE sync_state SET snapshot_complete = 1, snapshot_cursor = NULL WHERE table_name = ?").run(d.localName);
        finishPull(d, snap.snapshot_cursor, snap.snapshot_rows);
      }
      countApplied(d, applied);
      return applied;
    },
  );

  const applyChangesTx = transaction(
    (
      d: TableDescriptor,
      columns: readonly ColumnSpec[],
      upserts: readonly Row[],
      deletes: readonly string[],
      commit: PullCommit | undefined,
      counters: CountersBatch | undefined,
      deleted: string[],
    ): number => {
      let applied = upsertAll(d, columns, upserts) + deleteKeys(d, deletes, deleted) + (counters ? updateCounters(d, counters) : 0);
      if (commit) {
        applied += sweepExpired(d, deleted);
        finishPull(d, commit.cursor, commit.applied + applied);
      }
      countApplied(d, applied);
      return applied;
    },
  );

  return {
    ...statements,
    path: file,
    unsafeHandle: () => db,
    syncState,
    resetSync: (d, source, epoch) => {
      syncState(d);
      prepare(
        `UPDATE sync_state SET source = ?, epoch = ?, cursor = NULL, snapshot_cursor = NULL, snapshot_after_key = NULL,
           snapshot_rows = 0, snapshot_complete = 0 WHERE table_name = ?`,
      ).run(source, epoch, d.localName);
    },
    beginSnapshot: (d, snapshotCursor, epoch) => {
      syncState(d);
      prepare(
        `UPDATE sync_state SET epoch = ?, cursor = NULL, snapshot_cursor = ?, snapshot_after_key = NULL, snapshot_rows = 0,
           snapshot_complete = 0, snapshot_started_at = ? WHERE table_name = ?`,
      ).run(epoch, snapshotCursor, isoMicros(), d.localName);
    },
    applySnapshotChunk: (d, columns, rows, afterKey, last) => {
      const deleted: string[] = [];
      const applied = applySnapshotChunkTx(d, columns, rows, afterKey, last, deleted);
      notify(d, rows, deleted);
      return applied;
    },
    applyChanges: (d, columns, upserts, deletes, commit, counters) => {
      const deleted: string[] = [];
      const applied = applyChangesTx(d, columns, upserts, deletes, commit, counters, deleted);
      notify(d, upserts, deleted);
      return applied;
    },
    replaceWith: (d) => {
      try {
        swapInRecopy(db, file, d);
      } finally {
        // Reopened whether the swap happened or failed after closing the old handle.
        if (!db.open) {
          db = openReplicaFile(file);
          generation++;
          for (const l of replaced) l();
        }
      }
    },
    onReplaced: (listener) => {
      replaced.add(listener);
      return () => replaced.delete(listener);
    },
    generation: () => generation,
    writeLocal: (d, columns, upserts, deletes, extra) => {
      const deleted: string[] = [];
      db.transaction(() => {
        upsertAll(d, columns, upserts, false);
        deleteKeys(d, deletes, deleted, false);
        extra();
      })();
      notify(d, upserts, deleted);
      return deleted;
    },
    meta: {
      get: (key) => (pluck("SELECT value FROM replica_meta WHERE key = ?").get(key) as string | undefined) ?? null,
      set: (key, value) => void prepare("INSERT INTO replica_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value),
    },
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    count: (d) => (prepare(`SELECT count(*) AS n FROM ${q(d.localName)}`).get() as { n: number }).n,
    rowsInKeyOrder: (d, columns) =>
      db.prepare(`SELECT ${columns.map((c) => q(c.name)).join(", ")} FROM ${q(d.localName)} ORDER BY ${q(d.key)}`).iterate() as IterableIterator<Row>,
    close: () => {
      if (db.open) db.close();
    },
  };
}

/** The store as a layer: the file is opened on build and closed by the layer's finalizer. */
export function localStoreLayer(file: string): Layer.Layer<LocalStore, LocalStoreError> {
  return Layer.effect(
    LocalStore,
    Effect.acquireRelease(
      Effect.try({
        try: () => makeLocalStore(file),
        catch: (cause) => new LocalStoreError({ message: `cannot open the replica file ${file}: ${(cause as Error).message}`, cause }),
      }),
      (store) => Effect.sync(() => store.close()),
    ),
  );
}
