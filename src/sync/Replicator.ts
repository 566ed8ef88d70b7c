/**
 * The sync protocol (DESIGN.md): connect (check objects, epoch, replica identity), the
 * chunked resumable snapshot, and the incremental pull with the snapshot cursor. Each
 * method is one Effect, run by one of the sync machine's actors.
 */
import * as Context from "effect/Context";
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Fiber from "effect/Fiber";
import * as Layer from "effect/Layer";
import { Master, type MasterError, type MasterShape } from "../master/Master.ts";
import { LocalStore, LocalStoreError, makeLocalStore, type LocalStoreShape } from "../store/LocalStore.ts";
import { recopyKey, recopyPath, removeRecopy } from "../store/recopy.ts";
import {
  TableQueries, columnProblemMessage, columnProblems, currentSnapshotSql, introspectColumnsSql, pruneChangesSql, pullStartSql, qualified, readEpochSql, type MasterColumn,
} from "../master/masterSql.ts";
import { ensureObjects, introspectColumns, MasterObjectsMissing } from "../master/masterObjects.ts";
import { primaryReads, ReadSource, type ReadSourceShape } from "../master/readPool.ts";
import type { Row, TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Logger } from "../observability/logger.ts";

/**
 * The master's table lacks a column the replica needs, or has a column of a type it cannot
 * read (schema drift). The message names the table, the column, the type expected and what to
 * do; the machine waits in backoff and recovers by itself once the table is fixed.
 */
export class MasterSchemaDrift extends Data.TaggedError("MasterSchemaDrift")<{ readonly message: string; readonly table: string; readonly column: string }> {}

export type SyncError = MasterError | MasterObjectsMissing | MasterSchemaDrift | LocalStoreError;

/** undefined_column, datatype_mismatch: a statement built for columns the master no longer has. */
const DRIFT_CODES = new Set(["42703", "42804"]);
export const isColumnDriftError = (e: unknown): boolean =>
  (e as { _tag?: string })?._tag === "MasterQueryError" && DRIFT_CODES.has((e as { code?: string }).code ?? "");

export interface ConnectResult {
  /** The replica holds a complete copy for the master's current epoch. */
  readonly snapshotComplete: boolean;
  readonly epoch: string;
}

export interface SnapshotProgress {
  readonly rowsCopied: number;
  /** Approximate bytes of the chunk just written. */
  readonly chunkBytes: number;
}

export interface PullResult {
  /** Rows applied (upserts + deletes + expired rows swept). */
  readonly applied: number;
  /** The master's epoch changed, or changes this cursor needs were pruned: copy the table anew. */
  readonly epochChanged: boolean;
  readonly cursor: string | null;
  /** Approximate bytes of row data read. */
  readonly bytes: number;
  /** When the oldest change applied was made on the master (ms since epoch), for lag. */
  readonly oldestChangeAtMs: number | null;
  /** Age of the oldest open write transaction on the master (seconds). */
  readonly oldestOpenXactSeconds: number;
  /** Rows of `applied` whose counters alone were updated (counters-only changes). */
  readonly countersApplied: number;
}

/** Rough size of a row as read (for the bytes-pulled counter). */
export function rowBytes(r: Row): number {
  let n = 0;
  for (const v of Object.values(r)) n += v === null ? 0 : typeof v === "string" ? v.length : Buffer.isBuffer(v) ? v.length : 8;
  return n;
}

export interface ReplicatorShape {
  readonly descriptor: TableDescriptor;
  readonly connect: () => Effect.Effect<ConnectResult, SyncError>;
  /** Copies the table in keyset chunks, resuming a copy in progress unless `restart`. */
  readonly snapshot: (options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) => Effect.Effect<number, SyncError>;
  readonly pull: () => Effect.Effect<PullResult, SyncError>;
  /** The queries for the master's actual columns (known after `connect`). */
  readonly queries: () => Effect.Effect<TableQueries, SyncError>;
  /**
   * Reads the master's columns anew and rebuilds the queries (after a statement failed with
   * undefined_column / datatype_mismatch): fails with MasterSchemaDrift when a column the
   * replica needs is gone or retyped.
   */
  readonly recheckColumns: () => Effect.Effect<TableQueries, SyncError>;
  /** Applies the master's current state of some rows (after an upload settled them). */
  readonly refresh: (keys: readonly string[]) => Effect.Effect<number, SyncError>;
  /**
   * The uploader settled local writes of these rows. A pull that began before this reads the
   * master in a snapshot that may predate the upload: it must not apply those rows (a row
   * deleted here would come back), so it skips them and refreshes them once it has committed.
   */
  readonly settled: (keys: readonly string[]) => void;
  /**
   * The replica was away longer than the changelog retention: the table is being copied anew
   * into a second file, and until it is swapped in, reads answer from this older copy.
   */
  readonly stale: () => boolean;
}

export class Replicator extends Context.Service<Replicator, ReplicatorShape>()("embedded-memory/Replicator") {}

export interface ReplicatorOptions {
  readonly descriptor: TableDescriptor;
  readonly tenantId: string | undefined;
  readonly autoMigrate: boolean;
  readonly snapshotChunkRows: number;
  readonly pullBatchRows: number;
  /** Changelog rows older than this are pruned (by any replica, at most hourly); 0 = never. */
  readonly changelogRetentionMs: number;
  readonly logger: Logger;
}

/** How often one process prunes the master's changelog. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** The prune gives up on a lock held longer than this (it is housekeeping: the next pull retries). */
const PRUNE_LOCK_TIMEOUT_MS = 500;

const local = <A>(what: string, f: () => A): Effect.Effect<A, LocalStoreError> =>
  Effect.try({ try: f, catch: (cause) => new LocalStoreError({ message: `${what}: ${(cause as Error).message}`, cause }) });

/** `reads`: where pulls and the first copy read (DATABASE_READ_URL's standby); default the master. */
export function makeReplicator(master: MasterShape, store: LocalStoreShape, o: ReplicatorOptions, reads: ReadSourceShape = primaryReads(master)): ReplicatorShape {
  const d = o.descriptor;
  const log = o.logger.child({ module: "replicator", table: d.masterTable });
  const source = `${master.describe}|${d.masterTable}|tenant=${o.tenantId ?? "*"}`;
  let cached: TableQueries | undefined;
  /** The signature of the columns whose newcomers were last filled in (see pickUpColumns). */
  let pickedUp: string | undefined;
  let lastPruneAt = 0;
  /** replica_meta: the descriptor's columns the local rows were read with (a JSON array). */
  const readColumnsKey = `master_columns:${d.localName}`;

  // Housekeeping after a pull: failure only logs (it is retried an hour later). It runs inside
  // the sync step, so it never waits on a lock (an upload holding the receipts table would
  // otherwise hold the pull for the whole statement timeout).
  const pruneIfDue = () =>
    o.changelogRetentionMs > 0 && Date.now() - lastPruneAt > PRUNE_EVERY_MS
      ? master.transaction("READ WRITE", (c) =>
          c.query(`SET LOCAL lock_timeout = ${PRUNE_LOCK_TIMEOUT_MS}`).pipe(Effect.andThen(c.query<{ removed: string | null }>(pruneChangesSql, [o.changelogRetentionMs / 1000]))),
        ).pipe(
          Effect.tap(({ rows }) => Effect.sync(() => {
            lastPruneAt = Date.now();
            const removed = rows[0]!.removed;
            if (removed === null) log.debug("another session is pruning the changelog");
            else log.info({ removed: Number(removed) }, "changelog pruned");
          })),
          Effect.catch((err) => Effect.sync(() => log.warn({ err }, "changelog prune failed"))),
          Effect.asVoid,
        )
      : Effect.void;

  /** Queries for these columns, once they pass the check; a failed check leaves none cached. */
  const build = (cols: readonly MasterColumn[]): Effect.Effect<TableQueries, MasterObjectsMissing | MasterSchemaDrift | LocalStoreError> => {
    if (cols.length === 0) {
      cached = undefined;
      return Effect.fail(new MasterObjectsMissing({ message: `the master has no table ${d.masterTable}: run \`embedded-memory migrate\`` }));
    }
    const problems = columnProblems(d, cols);
    if (problems.length > 0) {
      cached = undefined;
      pickedUp = undefined;
      // The local values of these columns can no longer be kept current: once the master has
      // them again (restored, retyped back) they count as gained and are filled in anew.
      const unread = new Set(problems.map((p) => p.column));
      const forget = local("recording the columns read", () => {
        const before = store.meta.get(readColumnsKey);
        const read = before === null ? [] : (JSON.parse(before) as string[]);
        if (read.some((n) => unread.has(n))) store.meta.set(readColumnsKey, JSON.stringify(read.filter((n) => !unread.has(n))));
      });
      const more = problems.length > 1 ? ` (also: ${problems.slice(1).map((p) => `${p.column} ${p.problem}`).join(", ")})` : "";
      const drift = new MasterSchemaDrift({ message: columnProblemMessage(d, problems[0]!) + more, table: d.masterTable, column: problems[0]!.column });
      return forget.pipe(Effect.andThen(Effect.fail(drift)));
    }
    const tq = new TableQueries(d, cols, o.tenantId);
    if (cached && cached.signature !== tq.signature) {
      const names = (t: TableQueries) => t.present.map((c) => c.name);
      log.info({ gained: names(tq).filter((n) => !names(cached!).includes(n)), lost: names(cached).filter((n) => !names(tq).includes(n)) }, "the master's columns changed: queries rebuilt");
    }
    return Effect.succeed((cached = tq));
  };

  const queries = () => (cached ? Effect.succeed(cached) : introspectColumns(master, d).pipe(Effect.flatMap(build)));

  const recheckColumns = () =>
    Effect.suspend(() => {
      cached = undefined;
      return queries();
    });

  /** Runs `work`; a statement that met columns changed under it re-reads them and runs it once more. */
  const onDrift = <A>(work: () => Effect.Effect<A, SyncError>): Effect.Effect<A, SyncError> =>
    work().pipe(Effect.catchIf(isColumnDriftError, () => recheckColumns().pipe(Effect.andThen(work))));

  /**
   * Columns the replica knows that the master gained (after an upgrade, or restored) are filled
   * in without a new copy: rows holding a value in them are refreshed whole, in keyset chunks (a
   * column added with no default costs one scan that finds none). Columns the master lost keep
   * their local values. Recorded once done, so an interrupted fill starts over at the next pull.
   */
  const pickUpColumns = (tq: TableQueries) =>
    Effect.gen(function* () {
      if (pickedUp === tq.signature) return;
      const now = tq.present.map((c) => c.name);
      const before = yield* local("reading the columns read", () => store.meta.get(readColumnsKey));
      const gained = before === null ? [] : now.filter((n) => !(JSON.parse(before) as string[]).includes(n));
      let filled = 0;
      for (let after: string | null = null; gained.length > 0; ) {
        const { text, values } = tq.keysWithValues(gained, after, o.snapshotChunkRows);
        const { rows } = yield* master.query<{ key: string }>(text, values);
        if (rows.length > 0) filled += yield* refresh(rows.map((r) => r.key));
        if (rows.length < o.snapshotChunkRows) break;
        after = rows[rows.length - 1]!.key;
      }
      if (gained.length > 0) log.info({ columns: gained, rows: filled }, "columns the master gained filled in on rows copied before");
      const record = JSON.stringify(now);
      if (before !== record) yield* local("recording the columns read", () => store.meta.set(readColumnsKey, record));
      pickedUp = tq.signature;
    });

  const connect = () =>
    Effect.gen(function* () {
      const objects = yield* ensureObjects(master, d, o.autoMigrate);
      if (!objects.installed) {
        log.warn(
          { captureVersion: objects.captureVersion, reason: objects.upgradeError ?? "AUTO_MIGRATE is off" },
          "the master's sync objects are of an earlier version: run `embedded-memory migrate` (until then every change, read counts included, is pulled as a whole row)",
        );
      }
      cached = undefined; // the table may have been created or changed since the last connect
      const tq = yield* queries();
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
      const after = yield* local("reading sync state", () => store.syncState(d));
      return { snapshotComplete: after.snapshotComplete && after.cursor !== null && !stale(), epoch };
    });

  const stale = () => store.meta.get(recopyKey(d)) !== null;

  const snapshot = (options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) =>
    Effect.suspend(() => (stale() ? recopy(options) : onDrift(() => copy(store, options))));

  /**
   * The copy of a replica whose cursor expired goes to a second file, so that this one keeps
   * answering (stale) and no reader sees a table half old and half new; complete, it is swapped
   * in. An interrupted re-copy resumes from its own sync state.
   */
  const recopy = (options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) =>
    Effect.acquireUseRelease(
      local("opening the re-copy file", () => {
        if (options.restart) removeRecopy(store.path);
        let next = makeLocalStore(recopyPath(store.path));
        if (next.syncState(d).source !== source) {
          // Left by another configuration (or never started): begun anew for this source.
          next.close();
          removeRecopy(store.path);
          next = makeLocalStore(recopyPath(store.path));
          next.resetSync(d, source, store.syncState(d).epoch ?? "");
        }
        return next;
      }),
      (next) =>
        Effect.gen(function* () {
          const done = yield* local("reading the re-copy's state", () => next.syncState(d));
          const applied = done.snapshotComplete && done.cursor !== null ? 0 : yield* onDrift(() => copy(next, options));
          yield* local("swapping in the re-copy", () => {
            next.close();
            store.replaceWith(d);
          });
          log.info({ rows: store.count(d) }, "the re-copy replaced the replica file");
          return applied;
        }),
      (next) => Effect.sync(() => next.close()),
    );

  const copy = (store: LocalStoreShape, options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) =>
    Effect.gen(function* () {
      const tq = yield* queries();
      const { rows: snap } = yield* reads.query<{ snapshot: string; epoch: string }>(null, currentSnapshotSql);
      let state = yield* local("reading sync state", () => store.syncState(d));
      if (options.restart || state.snapshotCursor === null || state.epoch !== snap[0]!.epoch) {
        // The cursor is taken *before* copying: whatever changes during the copy is
        // re-read by the first pull, and applying state is idempotent.
        yield* local("starting snapshot", () => store.beginSnapshot(d, snap[0]!.snapshot, snap[0]!.epoch));
        state = yield* local("reading sync state", () => store.syncState(d));
        log.info({ snapshot: snap[0]!.snapshot }, "snapshot started");
      } else {
        log.info({ afterKey: state.snapshotAfterKey, rowsCopied: state.snapshotRows }, "snapshot resumed");
      }
      const fetch = (after: string | null) => {
        const { text, values } = tq.snapshotChunk(after, o.snapshotChunkRows);
        // Rows no older than the copy's cursor: a standby that lags behind it waits.
        return reads.query<Row>(state.snapshotCursor, text, values).pipe(Effect.map((r) => r.rows));
      };
      let after = state.snapshotAfterKey;
      let copied = state.snapshotRows;
      let applied = 0;
      let next = yield* Effect.forkChild(fetch(after));
      for (;;) {
        const rows = yield* Fiber.join(next);
        const last = rows.length < o.snapshotChunkRows;
        // Fetch the next chunk while this one is written: Postgres works while SQLite does.
        if (!last) next = yield* Effect.forkChild(fetch(String(rows[rows.length - 1]![d.key])));
        const from = after;
        applied += yield* local("applying snapshot chunk", () => store.applySnapshotChunk(d, tq.present, rows, from, last));
        copied += rows.length;
        options.onProgress?.({ rowsCopied: copied, chunkBytes: rows.reduce((n, r) => n + rowBytes(r), 0) });
        if (last) break;
        after = String(rows[rows.length - 1]![d.key]);
      }
      log.info({ rows: copied }, "snapshot complete");
      return applied;
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

  const pull = () =>
    onDrift(pullOnce).pipe(
      // After the pull's own refresh: rows copied before the master gained a column get it.
      Effect.tap(() => (cached ? pickUpColumns(cached) : Effect.void)),
    );

  const pullOnce = () =>
    Effect.gen(function* () {
      const mark = settleSeq;
      const recheck = new Set<string>();
      let tq = yield* queries();
      const state = yield* local("reading sync state", () => store.syncState(d));
      const none = { applied: 0, epochChanged: true, cursor: null, bytes: 0, oldestChangeAtMs: null, oldestOpenXactSeconds: 0, countersApplied: 0 };
      if (state.cursor === null) return none;
      // One REPEATABLE READ transaction: its snapshot is the new cursor, and the changes
      // read are exactly those of transactions that became visible since the old one.
      return yield* reads.transaction(state.cursor, (client) =>
        Effect.gen(function* () {
          const { rows } = yield* client.query<{ snapshot: string; epoch: string; cursor_expired: boolean; oldest_open_xact_s: number; columns: string }>(pullStartSql, [
            state.cursor,
            qualified(d.masterTable),
          ]);
          const { snapshot: cursor, epoch, cursor_expired, oldest_open_xact_s, columns } = rows[0]!;
          // Columns added, dropped or retyped since the queries were built: build them anew.
          if (columns !== tq.signature) tq = yield* build((yield* client.query<MasterColumn>(introspectColumnsSql, [qualified(d.masterTable)])).rows);
          if (epoch !== state.epoch || cursor_expired) {
            if (cursor_expired) {
              log.warn({ cursor: state.cursor }, "changes this replica had not pulled were pruned from the changelog: copying the table anew into a new file (reads answer from this one, stale, meanwhile)");
              yield* local("marking the replica stale", () => {
                removeRecopy(store.path); // a re-copy left from an earlier absence holds an older state
                store.meta.set(recopyKey(d), epoch);
              });
            }
            return none;
          }
          const { text, values } = tq.changesSince(state.cursor!);
          yield* client.query(`DECLARE embedded_memory_pull NO SCROLL CURSOR FOR ${text}`, values);
          const counterColumns = tq.counterColumns;
          let applied = 0;
          let countersApplied = 0;
          let bytes = 0;
          let oldestChangeAtMs: number | null = null;
          for (;;) {
            const { rows: batch } = yield* client.query<Row>(`FETCH ${o.pullBatchRows} FROM embedded_memory_pull`);
            const upserts: Row[] = [];
            const deletes: string[] = [];
            const counters: Row[] = [];
            for (const r of batch) {
              const at = r._changed_at_ms as number;
              if (oldestChangeAtMs === null || at < oldestChangeAtMs) oldestChangeAtMs = at;
              bytes += rowBytes(r);
              if (r[d.key] === null) deletes.push(String(r._changed_key));
              else if ((r._counters as unknown) === true) counters.push(r);
              else upserts.push(r);
            }
            const done = batch.length < o.pullBatchRows;
            const commit = done ? { cursor, applied } : undefined;
            const fresh = new Set(settledSince(mark, [...upserts, ...counters].map((r) => String(r[d.key])), recheck));
            const keep = (rows: Row[]) => (rows.every((r) => fresh.has(String(r[d.key]))) ? rows : rows.filter((r) => fresh.has(String(r[d.key]))));
            const upsertsNow = keep(upserts);
            const deletesNow = settledSince(mark, deletes, recheck);
            // A counters-only change of a row this replica lacks fetches the row whole (after the pull).
            const countersNow = counters.length ? { columns: counterColumns, rows: keep(counters), absent: [] as string[], applied: 0 } : undefined;
            applied += yield* local("applying changes", () => store.applyChanges(d, tq.present, upsertsNow, deletesNow, commit, countersNow));
            if (countersNow) {
              countersApplied += countersNow.applied;
              for (const k of countersNow.absent) recheck.add(k);
            }
            if (done) break;
          }
          return { applied, epochChanged: false, cursor, bytes, oldestChangeAtMs, oldestOpenXactSeconds: oldest_open_xact_s, countersApplied };
        }),
      ).pipe(
        // Rows settled while this pull ran take the master's state as it is now.
        Effect.tap(() => (recheck.size ? refresh([...recheck]) : Effect.void)),
        Effect.tap(() =>
          Effect.sync(() => {
            // Settles up to this pull's start are visible to every later pull: forget them.
            for (const [k, seq] of settledAt) if (seq <= mark) settledAt.delete(k);
          }),
        ),
        Effect.tap(() => pruneIfDue()),
      );
    });

  const refresh = (keys: readonly string[]) => onDrift(() => refreshOnce(keys));

  const refreshOnce = (keys: readonly string[]) =>
    Effect.gen(function* () {
      if (keys.length === 0) return 0;
      const tq = yield* queries();
      const { text, values } = tq.rowsByKey(keys);
      const { rows } = yield* master.query<Row>(text, values);
      const found = new Set(rows.map((r) => String(r[d.key])));
      return yield* local("refreshing rows", () => store.applyChanges(d, tq.present, rows, keys.filter((k) => !found.has(k))));
    });

  return { descriptor: d, connect, snapshot, pull, queries, recheckColumns, refresh, settled, stale };
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
