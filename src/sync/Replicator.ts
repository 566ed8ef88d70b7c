/**
 * The sync protocol (DESIGN.md): connect (check objects, epoch, replica identity), the
 * chunked resumable snapshot, and the incremental pull with the snapshot cursor. Each
 * method is one Effect, run by one of the sync machine's actors. The master's columns and their
 * drift (columns.ts), the re-copy of a replica away past the retention (recopy.ts) and the
 * changelog prune (prune.ts) are modules of their own.
 */
import * as Context from "effect/Context";
import * as Effect from "effect/Effect";
import * as Semaphore from "effect/Semaphore";
import * as Layer from "effect/Layer";
import { Master, type MasterShape, type QueryResult } from "../master/Master.ts";
import { LocalStore, type LocalStoreShape } from "../store/LocalStore.ts";
import { introspectColumnsSql, type MasterColumn } from "../master/columnsSql.ts";
import { pullStartSql, qualified, readEpochSql } from "../master/masterSql.ts";
import { ensureObjects } from "../master/masterObjects.ts";
import { primaryReads, ReadSource, type ReadSourceShape } from "../master/readPool.ts";
import type { Row } from "../schema/tableDescriptor.ts";
import { isColumnDriftError, makeColumns } from "./columns.ts";
import { copyTable, rowBytes, type SnapshotProgress } from "./copyTable.ts";
import { makeFurtherTables } from "./furtherTables.ts";
import { local } from "./local.ts";
import { makePruneIfDue } from "./prune.ts";
import { isStale, markStale, recopy } from "./recopy.ts";
import { NOTHING_PULLED, type PullStart, type ReplicatorOptions, type ReplicatorShape } from "./replicatorShape.ts";

export type { ConnectResult, PullResult, ReplicatorOptions, ReplicatorShape, SyncError } from "./replicatorShape.ts";
export { rowBytes, type SnapshotProgress };

/** Owed refreshes taken per pull (the rest wait for the next one). */
const OWED_REFRESH_BATCH = 500;

export class Replicator extends Context.Service<Replicator, ReplicatorShape>()("embedded-memory/Replicator") {}

/** `reads`: where pulls and the first copy read (DATABASE_READ_URL's standby); default the master. */
export function makeReplicator(master: MasterShape, store: LocalStoreShape, o: ReplicatorOptions, reads: ReadSourceShape = primaryReads(master)): ReplicatorShape {
  const d = o.descriptor;
  const log = o.logger.child({ module: "replicator", table: d.masterTable });
  const source = `${master.describe}|${d.masterTable}|tenant=${o.tenantId ?? "*"}`;
  const table = qualified(d.masterTable); // every pull passes it
  const pruneIfDue = makePruneIfDue(master, o.changelogRetentionMs, log);
  const columns = makeColumns({ master, store, descriptor: d, tenantId: o.tenantId, chunkRows: o.snapshotChunkRows, log, refresh: (keys) => refresh(keys) });
  const { queries, onDrift } = columns;
  const further = makeFurtherTables({ master, store, tables: o.further ?? [], autoMigrate: o.autoMigrate, chunkRows: o.snapshotChunkRows, pullBatchRows: o.pullBatchRows, log: o.logger });

  const connect = () =>
    Effect.gen(function* () {
      const objects = yield* ensureObjects(master, d, o.autoMigrate);
      if (!objects.installed) {
        log.warn(
          { captureVersion: objects.captureVersion, reason: objects.upgradeError ?? "AUTO_MIGRATE is off" },
          (objects.captureVersion ?? 1) < 2
            ? "the master's sync objects are of an earlier version: run `embedded-memory migrate` (until then every change, read counts included, is pulled as a whole row)"
            : "the master's sync objects are of an earlier version: run `embedded-memory migrate` (sync works meanwhile; a key changed only in case on a citext key is not seen as a new key until then)",
        );
      }
      const tq = yield* columns.recheck(); // the table may have been created or changed since the last connect
      // Local writes need to know whether string content goes to a text or a jsonb column.
      const contentUdt = tq.masterColumns.find((c) => c.name === "content")?.udt;
      if (contentUdt) yield* local("recording the master's content type", () => store.meta.get("master_content_udt") !== contentUdt && store.meta.set("master_content_udt", contentUdt));
      const { rows } = yield* master.query<{ epoch: string }>(readEpochSql);
      const epoch = rows[0]!.epoch;
      const state = yield* local("reading sync state", () => store.syncState(d));
      if (state.source !== source || state.epoch !== epoch) {
        if (state.source !== null) log.warn({ was: state.epoch, now: epoch }, "master epoch or replica source changed: copying the table anew");
        yield* local("resetting sync state", () => store.resetSync(d, source, epoch));
      }
      yield* further.connect(epoch);
      const after = yield* local("reading sync state", () => store.syncState(d));
      return { snapshotComplete: after.snapshotComplete && after.cursor !== null && !stale() && further.complete(store), epoch };
    });

  const stale = () => isStale(store, d);

  const snapshot = (options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) =>
    Effect.suspend(() =>
      stale()
        ? recopy({ store, descriptor: d, source, restart: options.restart, log, copy: (next) => onDrift(() => copy(next, options)) })
        : onDrift(() => copy(store, options)),
    );

  /**
   * The further tables the file lacks, then the memory table unless its copy is complete (or
   * `restart`). In that order, a first copy never holds a task newer than the memories: they
   * are read after it (a pull then brings every table to one snapshot).
   */
  const copy = (store: LocalStoreShape, options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) =>
    Effect.gen(function* () {
      const c = { reads, chunkRows: o.snapshotChunkRows, restart: options.restart, onProgress: options.onProgress };
      const applied = yield* further.copy(store, c);
      const state = yield* local("reading sync state", () => store.syncState(d));
      if (!options.restart && state.snapshotComplete && state.cursor !== null) return applied;
      const tq = yield* queries();
      return applied + (yield* copyTable(store, d, tq, { ...c, log, onBegin: () => columns.copyBegins(store, tq) }));
    });

  // Settles by sequence number, so a pull knows which happened after it began.
  let settleSeq = 0;
  const settledAt = new Map<string, number>();
  const settled = (keys: readonly string[]) => {
    settleSeq++;
    for (const k of keys) settledAt.set(k, settleSeq);
  };
  /** Rows settled after `mark`: a pull that began at `mark` leaves them to a refresh. */
  const settledSince = (mark: number, keys: readonly string[], recheck: Set<string>) =>
    settledAt.size === 0
      ? keys
      : keys.filter((k) => {
          const late = (settledAt.get(k) ?? 0) > mark;
          if (late) recheck.add(k);
          return !late;
        });

  /**
   * Pulls and refreshes apply one at a time: a refresh reads the master and then applies, and a
   * pull that applied a newer state in between would otherwise be overwritten by the refresh's
   * older read (found in review). The pull's own refresh runs inside its turn.
   */
  const applyTurn = Semaphore.makeUnsafe(1);

  const pull = () =>
    applyTurn.withPermits(1)(onDrift(pullOnce)).pipe(
      // After the pull's own refresh: rows copied before the master gained a column get it.
      Effect.tap(() => columns.pickUp()),
    );

  const pullOnce = () =>
    Effect.gen(function* () {
      const state = yield* local("reading sync state", () => store.syncState(d));
      return state.cursor === null ? NOTHING_PULLED : yield* pullFrom(state.cursor, state.epoch);
    });

  const pullFrom = (prev: string, epoch: string | null) =>
    Effect.suspend(() => {
      const mark = settleSeq;
      const recheck = new Set<string>();
      return pullChanges(prev, epoch, mark, recheck).pipe(
        // Rows settled while this pull ran, and any refresh still owed from before (one that
        // failed or never ran), take the master's state as it is now.
        Effect.tap(() =>
          Effect.gen(function* () {
            const owed = new Set([...recheck, ...(yield* local("reading owed refreshes", () => store.refreshDue.list(OWED_REFRESH_BATCH)))]);
            if (owed.size) yield* onDrift(() => refreshOnce([...owed]));
          }),
        ),
        Effect.tap(() =>
          Effect.sync(() => {
            // Settles up to this pull's start are visible to every later pull: forget them.
            for (const [k, seq] of settledAt) if (seq <= mark) settledAt.delete(k);
          }),
        ),
        Effect.tap(() => pruneIfDue()),
      );
    });

  /** The changes since `prev`, applied; `recheck` collects the rows settled meanwhile (after `mark`). */
  const pullChanges = (prev: string, epoch: string | null, mark: number, recheck: Set<string>) =>
    Effect.gen(function* () {
      let tq = yield* queries();
      const totals = { applied: 0, countersApplied: 0, bytes: 0, oldestChangeAtMs: null as number | null };

      /** A snapshot that cannot continue this replica's cursor: nothing to apply (the machine reconnects). */
      const unusable = (start: PullStart) =>
        Effect.gen(function* () {
          if (start.epoch === epoch && !start.cursor_expired) return false;
          if (start.cursor_expired) {
            log.warn({ cursor: prev }, "changes this replica had not pulled were pruned from the changelog: copying the table anew into a new file (reads answer from this one, stale, meanwhile)");
            yield* local("marking the replica stale", () => markStale(store, d, start.epoch));
          }
          return true;
        });

      /** Applies one batch of changes read; the last (`commit`) also moves the cursor, in the same local transaction. */
      const apply = (batch: readonly Row[], commit: { cursor: string } | undefined) =>
        Effect.gen(function* () {
          const upserts: Row[] = [];
          const deletes: string[] = [];
          const counters: Row[] = [];
          for (const r of batch) {
            const at = r._changed_at_ms as number;
            if (totals.oldestChangeAtMs === null || at < totals.oldestChangeAtMs) totals.oldestChangeAtMs = at;
            totals.bytes += rowBytes(r);
            if (r[d.key] === null) deletes.push(String(r._changed_key));
            else if ((r._counters as unknown) === true) counters.push(r);
            else upserts.push(r);
          }
          const fresh = new Set(settledSince(mark, [...upserts, ...counters].map((r) => String(r[d.key])), recheck));
          const keep = (rows: Row[]) => (rows.every((r) => fresh.has(String(r[d.key]))) ? rows : rows.filter((r) => fresh.has(String(r[d.key]))));
          const upsertsNow = keep(upserts);
          const deletesNow = settledSince(mark, deletes, recheck);
          // A counters-only change of a row this replica lacks fetches the row whole (after the pull).
          const countersNow = counters.length ? { columns: tq.counterColumns, rows: keep(counters), absent: [] as string[], applied: 0 } : undefined;
          // Owed refreshes are recorded before the cursor that skips them commits (migration 6).
          const before = totals.applied;
          totals.applied += yield* local("applying changes", () => {
            store.refreshDue.add([...recheck]);
            const n = store.applyChanges(d, tq.present, upsertsNow, deletesNow, commit && { cursor: commit.cursor, applied: before }, countersNow);
            if (countersNow?.absent.length) store.refreshDue.add(countersNow.absent);
            return n;
          });
          if (countersNow) {
            totals.countersApplied += countersNow.applied;
            for (const k of countersNow.absent) recheck.add(k);
          }
        });

      const result = (start: PullStart, more: { reconnect: boolean; bytes: number; applied: Record<string, number> }) => ({
        applied: totals.applied,
        epochChanged: more.reconnect,
        cursor: start.snapshot,
        bytes: totals.bytes + more.bytes,
        oldestChangeAtMs: totals.oldestChangeAtMs,
        oldestOpenXactSeconds: start.oldest_open_xact_s,
        countersApplied: totals.countersApplied,
        tables: { [d.localName]: totals.applied, ...more.applied },
      });

      // The common case in one round trip: the start, every table's changes (no more than a batch
      // each) and COMMIT in one script. More changes than a batch, other columns than the queries
      // were built for, or a further table not copied yet: the streamed transaction below.
      const more = yield* further.script();
      const read = more
        ? yield* reads
            .readScript(prev, [
              { text: pullStartSql, values: [prev, table] },
              tq.changesSinceAtMost(prev, o.pullBatchRows + 1),
              ...more.statements,
            ])
            // A column gone from under the queries (of any table): the streamed pull checks the columns first.
            .pipe(Effect.catchIf(isColumnDriftError, () => Effect.succeed(undefined)))
        : undefined;
      if (more && read) {
        const [startRows, got, ...rest] = read as QueryResult<Row>[];
        const start = startRows!.rows[0] as unknown as PullStart;
        if (yield* unusable(start)) return NOTHING_PULLED;
        if (start.columns === tq.signature && got!.rows.length <= o.pullBatchRows && more.fits(rest)) {
          yield* apply(got!.rows, { cursor: start.snapshot });
          // The further tables after the memories, at the same snapshot: never ahead of them.
          return result(start, yield* more.apply(rest, start.snapshot, start.epoch));
        }
      }

      // One REPEATABLE READ transaction: its snapshot is the new cursor, and the changes
      // read are exactly those of transactions that became visible since the old one.
      return yield* reads.transaction(prev, (client) =>
        Effect.gen(function* () {
          const start = (yield* client.query<PullStart>(pullStartSql, [prev, table])).rows[0]!;
          // Columns added, dropped or retyped since the queries were built: build them anew.
          if (start.columns !== tq.signature) tq = yield* columns.build((yield* client.query<MasterColumn>(introspectColumnsSql, [table])).rows);
          if (yield* unusable(start)) return NOTHING_PULLED;
          const { text, values } = tq.changesSince(prev);
          yield* client.query(`DECLARE embedded_memory_pull NO SCROLL CURSOR FOR ${text}`, values);
          for (;;) {
            const { rows: batch } = yield* client.query<Row>(`FETCH ${o.pullBatchRows} FROM embedded_memory_pull`);
            const done = batch.length < o.pullBatchRows;
            yield* apply(batch, done ? { cursor: start.snapshot } : undefined);
            if (done) break;
          }
          // The further tables move to the same snapshot, after the memories: never ahead of them.
          return result(start, yield* further.pull(client, start.snapshot, start.epoch));
        }),
      );
    });

  const refresh = (keys: readonly string[]) => applyTurn.withPermits(1)(onDrift(() => refreshOnce(keys)));

  const refreshOnce = (keys: readonly string[]) =>
    Effect.gen(function* () {
      if (keys.length === 0) return 0;
      const tq = yield* queries();
      const { text, values } = tq.rowsByKey(keys);
      const { rows } = yield* master.query<Row>(text, values);
      const found = new Set(rows.map((r) => String(r[d.key])));
      return yield* local("refreshing rows", () => {
        const n = store.applyChanges(d, tq.present, rows, keys.filter((k) => !found.has(k)));
        store.refreshDue.remove(keys);
        return n;
      });
    });

  return { descriptor: d, connect, snapshot, pull, queries, recheckColumns: columns.recheck, refresh, settled, stale, further: further.descriptors, furtherQueries: further.queries };
}

export function replicatorLayer(o: ReplicatorOptions): Layer.Layer<Replicator, never, Master | LocalStore> {
  return Layer.effect(
    Replicator,
    Effect.gen(function* () {
      const reads = yield* Effect.serviceOption(ReadSource);
      return makeReplicator(yield* Master, yield* LocalStore, o, reads._tag === "Some" ? reads.value : undefined);
    }),
  );
}
