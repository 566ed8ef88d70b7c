/**
 * The further tables a replica copies beside the memory table (REPLICATE_TABLES). Each has its
 * own changelog trigger, sync state (cursor, copy progress) and local table; the replicator
 * pulls them inside the memory table's pull transaction, after it, so that every table moves to
 * the same master snapshot and a reader never sees a task newer than the memories it refers to.
 * They are read-only here: no outbox, no refreshes, no counters-only changes.
 */
import * as Effect from "effect/Effect";
import type { MasterClient, MasterError, MasterShape, QueryResult } from "../master/Master.ts";
import type { Statement } from "../master/script.ts";
import { columnsSignatureExpr } from "../master/columnsSql.ts";
import { changeTableName, qualified, readTableEpochSql, SCHEMA, tableEpochKeyExpr } from "../master/masterSql.ts";
import { ensureObjects, type MasterObjectsMissing } from "../master/masterObjects.ts";
import { describeTableAt, type ReplicatedTableInvalid } from "../master/tableShape.ts";
import type { TableQueries } from "../master/tableQueries.ts";
import type { LocalStoreError, LocalStoreShape } from "../store/LocalStore.ts";
import type { ReplicatedTableConfig } from "../schema/replicatedTables.ts";
import type { Row, TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Logger } from "../observability/logger.ts";
import { makeColumns, type Columns, type MasterSchemaDrift } from "./columns.ts";
import { copyTable, rowBytes, type CopyOptions } from "./copyTable.ts";
import { local } from "./local.ts";

export type FurtherError = MasterError | MasterObjectsMissing | MasterSchemaDrift | ReplicatedTableInvalid | LocalStoreError;

/** What a pull of the further tables did (inside the memory table's pull transaction). */
export interface FurtherPull {
  /** Rows applied, per further table (local name). */
  readonly applied: Readonly<Record<string, number>>;
  readonly bytes: number;
  /**
   * Connect again: a table's cursor predates the pruned changelog (it is copied anew), or its
   * columns changed on the master (it is described anew, and copied anew if its shape changed).
   */
  readonly reconnect: boolean;
}

export interface FurtherTables {
  /** The tables as last described by the master (none before the first connect). */
  readonly descriptors: () => readonly TableDescriptor[];
  /** Describes every table, installs its triggers, makes its local table, resets the sync of a changed one. */
  readonly connect: (epoch: string) => Effect.Effect<void, FurtherError>;
  /** Every further table holds a complete copy in `store`. */
  readonly complete: (store: LocalStoreShape) => boolean;
  /** Copies the tables `store` lacks (all of them with `restart`). */
  readonly copy: (store: LocalStoreShape, o: Omit<CopyOptions, "log">) => Effect.Effect<number, FurtherError>;
  /** Each table's queries for the master's columns now (verify). */
  readonly queries: () => Effect.Effect<TableQueries[], FurtherError>;
  /** Applies every table's changes from its cursor up to `cursor`, the pull transaction's snapshot (of the master's `epoch`). */
  readonly pull: (client: MasterClient, cursor: string, epoch: string) => Effect.Effect<FurtherPull, FurtherError>;
  /** The same in the memory pull's one-trip script; undefined when a table is not copied yet (the streamed pull says to connect). */
  readonly script: () => Effect.Effect<FurtherScript | undefined, FurtherError>;
}

/** The further tables' part of a one-trip pull: their statements, then what their results mean. */
export interface FurtherScript {
  readonly statements: readonly Statement[];
  /** Every table's changes fit in the batch read (otherwise the streamed pull reads them). */
  readonly fits: (results: readonly QueryResult<Row>[]) => boolean;
  /** Applies what the statements read, at the script's snapshot `cursor` of the master's `epoch`. */
  readonly apply: (results: readonly QueryResult<Row>[], cursor: string, epoch: string) => Effect.Effect<FurtherPull, FurtherError>;
}

interface FurtherStart {
  readonly expired: boolean;
  readonly columns: string;
  readonly table_epoch: string | null;
}

type SyncStateOf = ReturnType<LocalStoreShape["syncState"]>;

export interface FurtherOptions {
  readonly master: MasterShape;
  readonly store: LocalStoreShape;
  readonly tables: readonly ReplicatedTableConfig[];
  readonly autoMigrate: boolean;
  readonly chunkRows: number;
  readonly pullBatchRows: number;
  readonly log: Logger;
}

/** Per table, in the pull transaction: whether its cursor outlived the changelog, its columns now, its own epoch. */
const furtherStartSql = `SELECT COALESCE((SELECT value::xid8 FROM ${SCHEMA}.meta WHERE key = 'pruned_xid') >= pg_snapshot_xmin($1::pg_snapshot), false) AS expired,
  ${columnsSignatureExpr(2)} AS columns,
  (SELECT value FROM ${SCHEMA}.meta WHERE key = ${tableEpochKeyExpr("$3::text")}) AS table_epoch`;

/** A further table's rows belong to the master's epoch and its own (set by its TRUNCATE). */
const epochOf = (master: string, own: string | null | undefined): string => (own ? `${master}/${own}` : master);

interface Table {
  readonly d: TableDescriptor;
  /** The master's columns `d` was described from: any other set means describing it anew. */
  readonly signature: string;
  /** Its own epoch at the last connect (NULL until its first TRUNCATE). */
  readonly ownEpoch: string | null;
  readonly columns: Columns;
}

export function makeFurtherTables(o: FurtherOptions): FurtherTables {
  let tables: Table[] = [];
  const log = o.log.child({ module: "further-tables" });
  /** A changed filter or column list is another source: that table is copied anew. */
  const sourceOf = (d: TableDescriptor) => `${o.master.describe}|${d.masterTable}|filter=${d.filter ?? ""}|columns=${d.columns.map((c) => c.name).join(",")}`;
  const shapeOf = (d: TableDescriptor) => JSON.stringify(d);
  const isComplete = (store: LocalStoreShape, d: TableDescriptor) => {
    const s = store.syncState(d);
    return s.snapshotComplete && s.cursor !== null;
  };

  const connect = (epoch: string) =>
    Effect.gen(function* () {
      const found = yield* Effect.forEach(o.tables, (t) => describeTableAt(o.master, t));
      const next: Table[] = [];
      for (const { descriptor: d, signature } of found) {
        yield* ensureObjects(o.master, d, o.autoMigrate);
        const { rows } = yield* o.master.query<{ epoch: string }>(readTableEpochSql, [changeTableName(d.masterTable)]);
        const kept = tables.find((t) => shapeOf(t.d) === shapeOf(d));
        // Queries built for the master's columns, with the drift check (columns.ts); further
        // tables have no gained-column fill-in: a changed column list is a new copy.
        const columns = kept?.columns ?? makeColumns({ master: o.master, store: o.store, descriptor: d, tenantId: undefined, chunkRows: o.chunkRows, log, refresh: () => Effect.succeed(0) });
        next.push({ d, signature, ownEpoch: rows[0]?.epoch ?? null, columns });
      }
      tables = next;
      masterEpoch = epoch;
      // Kept queries were built for the columns as they were (types may have changed meanwhile).
      for (const t of tables) yield* t.columns.recheck();
      yield* local("making the further tables", () => prepare(o.store));
    });

  let masterEpoch = "";
  /**
   * Makes `store` (the replica file, or a re-copy file) hold the tables, and begins anew the
   * sync of any whose source or epoch changed. Logs the tables it creates.
   */
  const prepare = (store: LocalStoreShape) => {
    for (const name of store.ensureTables(tables.map((t) => t.d))) log.info({ table: name, file: store.path }, "further table created in the replica file");
    for (const t of tables) {
      const s = store.syncState(t.d);
      const epoch = epochOf(masterEpoch, t.ownEpoch);
      if (s.source !== sourceOf(t.d) || s.epoch !== epoch) store.resetSync(t.d, sourceOf(t.d), epoch);
    }
  };

  const copy = (store: LocalStoreShape, c: Omit<CopyOptions, "log">) =>
    Effect.gen(function* () {
      // A re-copy file (sync/recopy.ts) gets the tables too, and then every one of them.
      if (store !== o.store) yield* local("making the further tables", () => prepare(store));
      let applied = 0;
      for (const t of tables) {
        if (!c.restart && isComplete(store, t.d)) continue;
        const own = { ...c, log, ownEpoch: { table: changeTableName(t.d.masterTable), combine: epochOf } };
        applied += yield* t.columns.onDrift(() => t.columns.queries().pipe(Effect.flatMap((tq) => copyTable(store, t.d, tq, own))));
      }
      return applied;
    });

  /** Whether a table cannot be pulled at this snapshot (it is reset for a new copy or described anew: connect again). */
  const unusable = (t: Table, state: SyncStateOf, start: FurtherStart, epoch: string) =>
    Effect.gen(function* () {
      const d = t.d;
      const tableEpoch = epochOf(epoch, start.table_epoch);
      if (tableEpoch !== state.epoch) {
        log.warn({ table: d.masterTable }, "a further table was truncated on the master: copying it anew");
        yield* local("resetting sync state", () => o.store.resetSync(d, sourceOf(d), tableEpoch));
        return true;
      }
      if (start.expired) {
        log.warn({ table: d.masterTable }, "changes of a further table this replica had not pulled were pruned: copying it anew");
        yield* local("resetting sync state", () => o.store.resetSync(d, sourceOf(d), state.epoch ?? ""));
        return true;
      }
      // Compared with the columns the table was described from, not the queries' (a retried
      // statement rebuilds those for the columns now, and the local table would not follow).
      if (start.columns !== t.signature) {
        log.info({ table: d.masterTable }, "a further table's columns changed on the master: describing it anew");
        return true;
      }
      return false;
    });

  /** Applies one batch of a table's changes; the last (`commit`) moves its cursor in the same local transaction. */
  const applyBatch = (t: Table, tq: TableQueries, batch: readonly Row[], commit: { cursor: string; applied: number } | undefined) => {
    const upserts: Row[] = [];
    const deletes: string[] = [];
    let bytes = 0;
    for (const r of batch) {
      bytes += rowBytes(r);
      // A NULL key: the row is gone, or no longer matches the table's filter.
      if (r[t.d.key] === null) deletes.push(String(r._changed_key));
      else upserts.push(r);
    }
    return local("applying changes", () => ({ n: o.store.applyChanges(t.d, tq.present, upserts, deletes, commit), bytes }));
  };

  /** The tables copied, with their sync state and queries now; undefined when one is not (the machine copies it first). */
  const pullable = () =>
    Effect.gen(function* () {
      const out: { t: Table; state: SyncStateOf & { cursor: string }; tq: TableQueries }[] = [];
      for (const t of tables) {
        const state = yield* local("reading sync state", () => o.store.syncState(t.d));
        // Not copied (a copy that failed, or one begun anew).
        if (!state.snapshotComplete || state.cursor === null) return undefined;
        out.push({ t, state: state as SyncStateOf & { cursor: string }, tq: yield* t.columns.queries() });
      }
      return out;
    });

  const startStatement = (t: Table, cursor: string): Statement => ({ text: furtherStartSql, values: [cursor, qualified(t.d.masterTable), changeTableName(t.d.masterTable)] });

  const pull = (client: MasterClient, cursor: string, epoch: string) =>
    Effect.gen(function* () {
      const applied: Record<string, number> = {};
      let bytes = 0;
      const ready = yield* pullable();
      if (!ready) return { applied, bytes, reconnect: true };
      let reconnect = false;
      for (const [i, { t, state, tq }] of ready.entries()) {
        const { text: startText, values: startValues } = startStatement(t, state.cursor);
        const start = (yield* client.query<FurtherStart>(startText, startValues)).rows[0]!;
        if (yield* unusable(t, state, start, epoch)) {
          reconnect = true;
          continue;
        }
        const { text, values } = tq.changesSince(state.cursor);
        const name = `embedded_memory_pull_further_${i}`;
        yield* client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${text}`, values);
        let n = 0;
        for (;;) {
          const { rows: batch } = yield* client.query<Row>(`FETCH ${o.pullBatchRows} FROM ${name}`);
          const done = batch.length < o.pullBatchRows;
          const got = yield* applyBatch(t, tq, batch, done ? { cursor, applied: n } : undefined);
          n += got.n;
          bytes += got.bytes;
          if (done) break;
        }
        yield* client.query(`CLOSE ${name}`);
        applied[t.d.localName] = n;
      }
      return { applied, bytes, reconnect };
    });

  // The one-trip pull's part (Replicator): per table its start and its changes, at most a batch.
  const script = () =>
    Effect.gen(function* () {
      const ready = yield* pullable();
      if (!ready) return undefined;
      const statements = ready.flatMap(({ t, state, tq }) => [startStatement(t, state.cursor), tq.changesSinceAtMost(state.cursor, o.pullBatchRows + 1)]);
      const fits = (results: readonly QueryResult<Row>[]) => ready.every((_, i) => results[2 * i + 1]!.rows.length <= o.pullBatchRows);
      const apply = (results: readonly QueryResult<Row>[], cursor: string, epoch: string) =>
        Effect.gen(function* () {
          const applied: Record<string, number> = {};
          let bytes = 0;
          let reconnect = false;
          for (const [i, { t, state, tq }] of ready.entries()) {
            if (yield* unusable(t, state, results[2 * i]!.rows[0] as unknown as FurtherStart, epoch)) {
              reconnect = true;
              continue;
            }
            const got = yield* applyBatch(t, tq, results[2 * i + 1]!.rows, { cursor, applied: 0 });
            applied[t.d.localName] = got.n;
            bytes += got.bytes;
          }
          return { applied, bytes, reconnect } satisfies FurtherPull;
        });
      return { statements, fits, apply } satisfies FurtherScript;
    });

  const queries = () => Effect.forEach(tables, (t) => t.columns.queries());

  return { descriptors: () => tables.map((t) => t.d), queries, connect, complete: (store) => tables.every((t) => isComplete(store, t.d)), copy, pull, script };
}
