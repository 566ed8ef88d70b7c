/**
 * Where pulls and the first copy read: the primary (the Master pool), or, with
 * DATABASE_READ_URL, a streaming hot standby — LISTEN, uploads and changelog maintenance stay
 * on the primary, since NOTIFY is not replicated and a standby takes no writes.
 *
 * A standby answers from an older point of the WAL than the primary. A read goes to it only
 * once its snapshot holds (a) everything the cursor it continues from holds, so a cursor never
 * moves backwards, and (b) the newest transaction a notification announced (the payload carries
 * its xid), so a pull woken by a commit sees that commit. Until then the read waits, polling,
 * for at most `maxWaitMs`; past that, or when the standby cannot be reached, that read goes to
 * the primary (stats say so and why) and the standby is tried again later.
 *
 * Without DATABASE_READ_URL every read is the primary's, exactly as before.
 */
import * as Context from "effect/Context";
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import type { Logger } from "../observability/logger.ts";
import { describeDatabaseUrl, Master, masterLayer, type MasterClient, type MasterError, type MasterShape, type QueryResult } from "./Master.ts";
import type { Statement } from "./script.ts";

/** The standby's view, in `/memory/stats` as `standby`. */
export interface StandbyStatus {
  /** host:port/database (no credentials). */
  readonly url: string;
  /** Time since the standby last replayed a commit while WAL it has received waits (0 when caught up); null before the first read. */
  readonly replay_lag_ms: number | null;
  /** Where the last read went. */
  readonly using: "standby" | "primary";
  /** Why the last read went to the primary (null when it went to the standby). */
  readonly reason: string | null;
  /** A read is waiting for the standby to replay a transaction. */
  readonly waiting: boolean;
  /** Reads that went to the primary instead. */
  readonly fallbacks: number;
}

export interface ReadSourceShape {
  /** A REPEATABLE READ READ ONLY transaction whose snapshot holds the snapshot `after` (a cursor) and every announced commit. */
  readonly transaction: <A, E>(after: string | null, use: (client: MasterClient) => Effect.Effect<A, E>) => Effect.Effect<A, E | MasterError>;
  /** One statement on the same terms (the primary's: a plain pooled query, as before). */
  readonly query: <R = Record<string, unknown>>(after: string | null, text: string, values?: readonly unknown[]) => Effect.Effect<QueryResult<R>, MasterError>;
  /** The statements in one such transaction and one round trip (Master.readScript), their results in order. */
  readonly readScript: (after: string | null, statements: readonly Statement[]) => Effect.Effect<QueryResult<Record<string, unknown>>[], MasterError>;
  /** A notification announced this committed transaction id (xid8 as text). */
  readonly noteCommit: (xid: string) => void;
  /** Undefined without a standby. */
  readonly status: () => StandbyStatus | undefined;
}

export class ReadSource extends Context.Service<ReadSource, ReadSourceShape>()("embedded-memory/ReadSource") {}

/** The standby has not replayed far enough yet (internal: retried, then the primary). */
class NotReplayed extends Data.TaggedError("NotReplayed")<{ readonly lagMs: number }> {}

/**
 * On the standby, in the read's own snapshot: whether it contains `$1` (the previous cursor,
 * may be null) and the announced xid `$2`, and how far replay is behind what was received.
 */
export const standbyReadySql = `SELECT
  -- On a standby the snapshot's xip is empty (open transactions of the primary are not listed), so
  -- only what is below its xmin is surely visible: the read must see past the previous cursor's
  -- xmax and the announced xid by that measure (see cursorSnapshotExpr in masterSql.ts).
  CASE WHEN pg_is_in_recovery() THEN
    ($1::pg_snapshot IS NULL OR pg_snapshot_xmax($1::pg_snapshot) <= pg_snapshot_xmin(pg_current_snapshot()))
    AND ($2::xid8 IS NULL OR $2::xid8 < pg_snapshot_xmin(pg_current_snapshot()))
  ELSE
    ($1::pg_snapshot IS NULL OR (pg_snapshot_xmax($1::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())
       AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) x WHERE pg_visible_in_snapshot(x, $1::pg_snapshot))))
    AND ($2::xid8 IS NULL OR pg_visible_in_snapshot($2::xid8, pg_current_snapshot()))
  END AS ready,
  CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
       ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000, 0) END::float8 AS lag_ms`;

const RR = "ISOLATION LEVEL REPEATABLE READ READ ONLY" as const;

/** What standbyReadySql answers. */
interface ReplayCheck {
  readonly ready: boolean;
  readonly lag_ms: number;
}

export interface ReadSourceOptions {
  readonly databaseReadUrl: string | undefined;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly maxConnections: number;
  readonly logger: Logger;
  /** How long one read waits for the standby to replay (default 2 s), then it reads the primary. */
  readonly maxWaitMs?: number;
  /** After the standby could not be reached, reads go to the primary this long (default 5 s). */
  readonly retryStandbyMs?: number;
}

/** Between two looks at the standby's replay: a commit usually replays within a few ms. */
const POLL_MS = 5;

/** Every read on the primary: what a replica without DATABASE_READ_URL does. */
export const primaryReads = (master: MasterShape): ReadSourceShape => ({
  transaction: (_after, use) => master.transaction(RR, use),
  query: (_after, text, values) => master.query(text, values),
  readScript: (_after, statements) => master.readScript(RR, statements),
  noteCommit: () => undefined,
  status: () => undefined,
});

export function makeStandbyReads(primary: MasterShape, standby: MasterShape, o: ReadSourceOptions & { readonly url: string }): ReadSourceShape {
  const log = o.logger.child({ module: "standby", standby: o.url });
  const maxWaitMs = o.maxWaitMs ?? 2_000;
  const retryStandbyMs = o.retryStandbyMs ?? 5_000;
  let announced: bigint | undefined;
  let downUntil = 0;
  let status: StandbyStatus = { url: o.url, replay_lag_ms: null, using: "standby", reason: null, waiting: false, fallbacks: 0 };
  const set = (s: Partial<StandbyStatus>) => void (status = { ...status, ...s });

  const fallBack = (reason: string) =>
    Effect.sync(() => {
      if (status.using !== "primary" || status.reason !== reason) log.warn({ reason }, "reading from the primary instead of the standby");
      set({ using: "primary", reason, waiting: false, fallbacks: status.fallbacks + 1 });
    });

  /** The replay check's answer: the read goes on, or fails NotReplayed to be tried again. */
  const replayed = (row: ReplayCheck): Effect.Effect<void, NotReplayed> => {
    const lagMs = Math.round(row.lag_ms);
    set({ replay_lag_ms: lagMs });
    if (!row.ready) return Effect.fail(new NotReplayed({ lagMs }));
    set({ using: "standby", reason: null, waiting: false });
    return Effect.void;
  };

  /**
   * `onStandby(target)` (which checks the replay first) until the standby has replayed, polling,
   * at most maxWaitMs; then, or when the standby is not reachable, `onPrimary`.
   */
  const read = <A, E>(onStandby: (target: string | null) => Effect.Effect<A, E | NotReplayed | MasterError>, onPrimary: () => Effect.Effect<A, E | MasterError>): Effect.Effect<A, E | MasterError> =>
    Effect.gen(function* () {
      if (Date.now() < downUntil) {
        yield* Effect.sync(() => set({ using: "primary", waiting: false, fallbacks: status.fallbacks + 1 }));
        return yield* onPrimary();
      }
      const target = announced === undefined ? null : String(announced);
      const deadline = Date.now() + maxWaitMs;
      for (;;) {
        const attempt = yield* Effect.result(onStandby(target));
        if (attempt._tag === "Success") return attempt.success;
        const err = attempt.failure;
        if (err instanceof NotReplayed) {
          if (Date.now() >= deadline) {
            yield* fallBack(`the standby had not replayed the newest commit within ${maxWaitMs} ms (replay lag ${err.lagMs} ms)`);
            return yield* onPrimary();
          }
          set({ waiting: true });
          yield* Effect.sleep(POLL_MS);
          continue;
        }
        if ((err as MasterError)._tag === "MasterUnavailable") {
          downUntil = Date.now() + retryStandbyMs;
          yield* fallBack(`standby not reachable: ${(err as MasterError).message}`);
          return yield* onPrimary();
        }
        set({ waiting: false });
        return yield* Effect.fail(err as E | MasterError);
      }
    });

  const transaction = <A, E>(after: string | null, use: (client: MasterClient) => Effect.Effect<A, E>): Effect.Effect<A, E | MasterError> =>
    read<A, E>(
      (target) =>
        standby.transaction(RR, (client) =>
          client.query<ReplayCheck>(standbyReadySql, [after, target]).pipe(
            Effect.flatMap(({ rows }) => replayed(rows[0]!)),
            Effect.andThen(() => use(client)),
          ),
        ),
      () => primary.transaction(RR, use),
    );

  // The replay check leads the script, in its snapshot. Once the standby was found behind, the
  // polls ask the check alone (a plain query) and run the script again only when it passes, so
  // a lagging standby is not made to run every pull's statements every POLL_MS.
  const readScript = (after: string | null, statements: readonly Statement[]) => {
    let behind = false;
    return read<QueryResult<Record<string, unknown>>[], never>(
      (target) =>
        Effect.gen(function* () {
          if (behind) yield* replayed((yield* standby.query<ReplayCheck>(standbyReadySql, [after, target])).rows[0]!);
          const [check, ...results] = yield* standby.readScript(RR, [{ text: standbyReadySql, values: [after, target] }, ...statements]);
          behind = true; // (if the check in the script's own snapshot fails)
          yield* replayed(check!.rows[0] as unknown as ReplayCheck);
          return results;
        }),
      () => primary.readScript(RR, statements),
    );
  };

  return {
    transaction,
    readScript,
    query: <R,>(after: string | null, text: string, values?: readonly unknown[]) => transaction(after, (c) => c.query<R>(text, values)),
    noteCommit: (xid) => {
      const x = BigInt(xid);
      if (announced === undefined || x > announced) announced = x;
    },
    status: () => status,
  };
}

/** ReadSource on the Master pool; with DATABASE_READ_URL, on a pool of its own to the standby (closed with the layer). */
export function readSourceLayer(o: ReadSourceOptions): Layer.Layer<ReadSource, never, Master> {
  return Layer.effect(
    ReadSource,
    Effect.gen(function* () {
      const primary = yield* Master;
      if (o.databaseReadUrl === undefined) return primaryReads(primary);
      const standbyPool = masterLayer({ databaseUrl: o.databaseReadUrl, connectTimeoutMs: o.connectTimeoutMs, statementTimeoutMs: o.statementTimeoutMs, maxConnections: o.maxConnections, logger: o.logger });
      const standby = Context.get(yield* Layer.build(standbyPool), Master);
      return makeStandbyReads(primary, standby, { ...o, url: describeDatabaseUrl(o.databaseReadUrl) });
    }),
  );
}
