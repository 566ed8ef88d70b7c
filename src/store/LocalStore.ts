/**
 * The local replica file (better-sqlite3, WAL). The handle is owned by an Effect layer and
 * closed in its finalizer. Every batch of rows is written together with the sync state
 * that describes it, in one SQLite transaction: a crash at any point resumes exactly. Those
 * apply transactions are apply.ts; the re-copy swap behind `replaceWith` is recopy.ts.
 */
import type Database from "better-sqlite3";
import * as Context from "effect/Context";
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import { makeApply, type CountersBatch, type PullCommit } from "./apply.ts";
import { makeCheckpointer, type CheckpointStats } from "./checkpointer.ts";
import { openReplicaFile } from "./migrations.ts";
import { swapInRecopy } from "./recopy.ts";
import { ensureTables, readCatalog } from "./tables.ts";
import { isoMicros, makeStatements, type Statements } from "./statements.ts";
import { syncStateFromRow, type StateRow, type SyncState } from "./syncState.ts";
import type { ColumnSpec, Row, TableDescriptor } from "../schema/tableDescriptor.ts";

export type { SyncState };

export class LocalStoreError extends Data.TaggedError("LocalStoreError")<{ readonly message: string; readonly cause?: unknown }> {}

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
  /** The further replicated tables this file holds (REPLICATE_TABLES), from its catalog (tables.ts). */
  readonly tables: () => TableDescriptor[];
  /** Makes the file hold exactly these further tables (tables.ts); returns the local names (re)created. */
  readonly ensureTables: (tables: readonly TableDescriptor[]) => string[];
  /** Where the WAL's checkpoints run (checkpointer.ts). */
  readonly checkpoints: () => CheckpointStats;
  /** Keys owed a refresh from the master (durable: see migration 6). */
  readonly refreshDue: { add(keys: readonly string[]): void; list(limit: number): string[]; remove(keys: readonly string[]): void };
}

export type ChangeListener = (table: string, upserts: readonly Row[], deletedKeys: readonly string[]) => void;

export class LocalStore extends Context.Service<LocalStore, LocalStoreShape>()("embedded-memory/LocalStore") {}

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export function makeLocalStore(file: string): LocalStoreShape & { close(): void } {
  let db = openReplicaFile(file);
  let generation = 0;
  /** refresh_due was read empty since the last add (see refreshDue.list). */
  let owedNone = false;
  const checkpointer = makeCheckpointer(file, () => db);
  const statements = makeStatements(() => db, checkpointer.committed);
  const { statement: prepare, pluck } = statements;
  const apply = makeApply(statements);
  const { upsertAll, deleteKeys } = apply;

  const syncState = (d: TableDescriptor): SyncState => {
    // Read first: searches ask for it every time, and a write per read costs.
    let r = prepare("SELECT * FROM sync_state WHERE table_name = ?").get(d.localName) as StateRow | undefined;
    if (!r) {
      prepare("INSERT INTO sync_state (table_name) VALUES (?) ON CONFLICT DO NOTHING").run(d.localName);
      r = prepare("SELECT * FROM sync_state WHERE table_name = ?").get(d.localName) as StateRow;
    }
    return syncStateFromRow(r);
  };

  const listeners = new Set<ChangeListener>();
  const replaced = new Set<() => void>();
  const notify = (d: TableDescriptor, upserts: readonly Row[], deleted: readonly string[]) => {
    if (upserts.length === 0 && deleted.length === 0) return;
    for (const l of listeners) l(d.localName, upserts, deleted);
  };

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
      const applied = apply.applySnapshotChunk(d, columns, rows, afterKey, last, deleted);
      notify(d, rows, deleted);
      return applied;
    },
    applyChanges: (d, columns, upserts, deletes, commit, counters) => {
      const deleted: string[] = [];
      const applied = apply.applyChanges(d, columns, upserts, deletes, commit, counters, deleted);
      notify(d, upserts, deleted);
      return applied;
    },
    replaceWith: (d) => {
      // Its connection to the old file closes first: the swap needs this one to be the last.
      checkpointer.close();
      try {
        swapInRecopy(db, file, d);
      } finally {
        // Reopened whether the swap happened or failed after closing the old handle.
        if (!db.open) {
          db = openReplicaFile(file);
          generation++;
          owedNone = false;
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
      checkpointer.committed();
      notify(d, upserts, deleted);
      return deleted;
    },
    meta: {
      get: (key) => (pluck("SELECT value FROM replica_meta WHERE key = ?").get(key) as string | undefined) ?? null,
      set: (key, value) => void prepare("INSERT INTO replica_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value),
    },
    tables: () => readCatalog(db),
    ensureTables: (tables) => ensureTables(db, tables),
    refreshDue: {
      add: (keys) => {
        if (keys.length === 0) return;
        prepare("INSERT OR IGNORE INTO refresh_due (key) SELECT value FROM json_each(?)").run(JSON.stringify(keys));
        owedNone = false;
      },
      // Every pull asks; almost always none are owed. Only this handle adds them (the file is
      // this process's), so once the list was empty it stays so until an add or a new file.
      list: (limit) => {
        if (owedNone) return [];
        const keys = (pluck("SELECT key FROM refresh_due LIMIT ?").all(limit) as unknown[]).map(String);
        owedNone = keys.length === 0;
        return keys;
      },
      remove: (keys) => {
        if (keys.length) prepare("DELETE FROM refresh_due WHERE key IN (SELECT value FROM json_each(?))").run(JSON.stringify(keys));
      },
    },
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    count: (d) => (prepare(`SELECT count(*) AS n FROM ${q(d.localName)}`).get() as { n: number }).n,
    // bigint columns as text, as the master sends them (exact past 2^53); ordered by the column,
    // not by that alias (which would order a bigint key as text: "10" before "9").
    rowsInKeyOrder: (d, columns) =>
      db
        .prepare(`SELECT ${columns.map((c) => (c.kind === "bigint" ? `CAST(r.${q(c.name)} AS TEXT) AS ${q(c.name)}` : `r.${q(c.name)}`)).join(", ")} FROM ${q(d.localName)} r ORDER BY r.${q(d.key)}`)
        .iterate() as IterableIterator<Row>,
    checkpoints: checkpointer.stats,
    close: () => {
      checkpointer.close();
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
