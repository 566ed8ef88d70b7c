/**
 * How pulled rows land in the replica file: the transactions that apply a snapshot chunk and a
 * pull batch (with its counters-only changes), the sweep of expired rows, the sync_state
 * counters they move, and the guard that leaves rows with a pending local write alone. Each
 * apply writes its rows together with the sync state that describes them.
 */
import { isoMicros, PENDING_WRITES_SQL, type Statements } from "./statements.ts";
import type { ColumnSpec, Row, TableDescriptor } from "../schema/tableDescriptor.ts";

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

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface Apply {
  /** Upserts `rows`; with `respectPending`, rows with a pending local write are skipped. Returns how many were written. */
  readonly upsertAll: (d: TableDescriptor, columns: readonly ColumnSpec[], rows: readonly Row[], respectPending?: boolean) => number;
  /** Deletes `keys`, recording the ones that existed in `deleted`; returns how many. */
  readonly deleteKeys: (d: TableDescriptor, keys: readonly string[], deleted: string[], respectPending?: boolean) => number;
  /** One transaction: see LocalStoreShape.applySnapshotChunk; the keys deleted go to `deleted`. */
  readonly applySnapshotChunk: (d: TableDescriptor, columns: readonly ColumnSpec[], rows: readonly Row[], afterKey: string | null, last: boolean, deleted: string[]) => number;
  /** One transaction: see LocalStoreShape.applyChanges; the keys deleted go to `deleted`. */
  readonly applyChanges: (
    d: TableDescriptor,
    columns: readonly ColumnSpec[],
    upserts: readonly Row[],
    deletes: readonly string[],
    commit: PullCommit | undefined,
    counters: CountersBatch | undefined,
    deleted: string[],
  ) => number;
}

/** Built once per file handle's statements: the transactions are wrapped here, at set-up. */
export function makeApply({ statement: prepare, pluck, transaction }: Statements): Apply {
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
    // Only the memory table has local writes; a further table's key may equal a memory's id.
    const guard = respectPending && d.localWrites === true && anyPending();
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
    const guard = respectPending && d.localWrites === true && keys.length > 0 && anyPending();
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
    const guard = d.localWrites === true && anyPending();
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

  /** Every apply counts into total_applied (force-sync reports the difference it saw). */
  const countApplied = (d: TableDescriptor, applied: number) => {
    if (applied > 0) prepare("UPDATE sync_state SET total_applied = total_applied + ? WHERE table_name = ?").run(applied, d.localName);
  };

  /** Moves the cursor and counts the pull, with the rows its last transaction applied (`applied`: one statement, not two). */
  const finishPull = (d: TableDescriptor, cursor: string, lastSyncCount: number, applied: number) => {
    prepare(
      `UPDATE sync_state SET cursor = ?, last_sync_time = ?, last_sync_count = ?, total_pulls = total_pulls + 1, total_applied = total_applied + ? WHERE table_name = ?`,
    ).run(cursor, isoMicros(), lastSyncCount, applied, d.localName);
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
        finishPull(d, snap.snapshot_cursor, snap.snapshot_rows, applied);
      } else countApplied(d, applied);
      return applied;
    },
  );

  const applyChangesTx = transaction(
    (...[d, columns, upserts, deletes, commit, counters, deleted]: Parameters<Apply["applyChanges"]>): number => {
      let applied = upsertAll(d, columns, upserts) + deleteKeys(d, deletes, deleted) + (counters ? updateCounters(d, counters) : 0);
      if (commit) {
        applied += sweepExpired(d, deleted);
        finishPull(d, commit.cursor, commit.applied + applied, applied);
      } else countApplied(d, applied);
      return applied;
    },
  );

  return { upsertAll, deleteKeys, applySnapshotChunk: applySnapshotChunkTx, applyChanges: applyChangesTx };
}
