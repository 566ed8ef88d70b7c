/**
 * The master Postgres: a pg Pool owned by an Effect layer (closed in its finalizer), and
 * typed errors that tell "not reachable" (retry later) from "the master refused this".
 */
import pg from "pg";
import * as Context from "effect/Context";
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import * as Schedule from "effect/Schedule";
import type { Logger } from "../observability/logger.ts";
import { masterEndpoint, QUERY_DEADLINE_GRACE_MS, setLocalStatementTimeout } from "./connection.ts";
import { rowTypes } from "./rowTypes.ts";
import { executeText, preparedName, prepareText, scriptText, type Statement } from "./script.ts";

/** The master cannot be reached now (refused, reset, timed out, shutting down): try again later. */
export class MasterUnavailable extends Data.TaggedError("MasterUnavailable")<{ readonly message: string; readonly cause?: unknown }> {}
/** The master answered with an error for this statement. */
export class MasterQueryError extends Data.TaggedError("MasterQueryError")<{
  readonly message: string;
  readonly code?: string | undefined;
  readonly cause?: unknown;
}> {}
export type MasterError = MasterUnavailable | MasterQueryError;

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EPIPE", "EHOSTUNREACH", "EAI_AGAIN", "57P01", "57P02", "57P03", "53300"]);
const CONNECTION_MESSAGES = /Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable|the database system is (starting up|shutting down)/i;

export function classifyMasterError(cause: unknown): MasterError {
  const e = cause as { code?: string; message?: string; errors?: unknown[] } | undefined;
  const code = e?.code;
  // AggregateError (IPv4 + IPv6 both refused) carries the codes on its members.
  const inner = Array.isArray(e?.errors) ? (e!.errors[0] as { code?: string; message?: string }) : undefined;
  const message = e?.message || inner?.message || String(cause);
  if ((code && (CONNECTION_CODES.has(code) || code.startsWith("08"))) || (inner?.code && CONNECTION_CODES.has(inner.code)) || CONNECTION_MESSAGES.test(message)) {
    return new MasterUnavailable({ message: `master not reachable: ${message || inner?.code || code}`, cause });
  }
  return new MasterQueryError({ message, code, cause });
}

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

/** One checked-out connection, for work that must share a transaction. */
export interface MasterClient {
  readonly query: <R = Record<string, unknown>>(text: string, values?: readonly unknown[]) => Effect.Effect<QueryResult<R>, MasterError>;
}

/** How a transaction begins: pulls and verify read one snapshot; uploads write. */
export type TransactionMode = "READ WRITE" | "ISOLATION LEVEL REPEATABLE READ READ ONLY";

/** The pool's connections now (pg-pool's counters) and its bound. */
export interface PoolCounts {
  readonly open: number;
  readonly idle: number;
  readonly waiting: number;
  readonly max: number;
}

export interface MasterShape {
  /** `host:port/database`, safe to show (no credentials). */
  readonly describe: string;
  /** One statement on a pooled connection, bounded by the client-side deadline. */
  readonly query: <R = Record<string, unknown>>(text: string, values?: readonly unknown[]) => Effect.Effect<QueryResult<R>, MasterError>;
  /**
   * BEGIN `mode` + `SET LOCAL statement_timeout`, `use`, COMMIT — on one connection. A failure
   * rolls back (or, when the connection broke, timed out or was interrupted, destroys it).
   * No session state outlives the transaction, so it works through transaction pooling.
   */
  readonly transaction: <A, E>(mode: TransactionMode, use: (client: MasterClient) => Effect.Effect<A, E>) => Effect.Effect<A, E | MasterError>;
  /**
   * BEGIN `mode`, the statements, COMMIT — in one round trip (script.ts: values inlined as
   * literals); their results in order. A failure part-way rolls back as `transaction` does.
   */
  readonly readScript: <R = Record<string, unknown>>(mode: TransactionMode, statements: readonly Statement[]) => Effect.Effect<QueryResult<R>[], MasterError>;
  /**
   * This pool's connections are proven sessions of their own (the feed's NOTIFY round trip came
   * back over the same URL, so no transaction pooler is in between): from now on pulls PREPARE
   * their statements once per connection (readScript). Until then they keep no session state.
   */
  readonly keepPlans: () => void;
  /** Runs `use` on one connection, with no transaction of its own (migrate's DDL manages its own). */
  readonly withClient: <A, E>(use: (client: MasterClient) => Effect.Effect<A, E>) => Effect.Effect<A, E | MasterError>;
  readonly pool: () => PoolCounts;
}

export class Master extends Context.Service<Master, MasterShape>()("embedded-memory/Master") {}

/**
 * Brief retry for one call that met a dropped connection; the sync machine owns the long
 * backoff. Delays ≈ 50, 100 ms (jittered ×0.8–1.2), then the error goes up.
 */
export const BRIEF_RETRY = {
  schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
  times: 2,
  while: (e: MasterError) => e._tag === "MasterUnavailable",
} as const;

export function describeDatabaseUrl(databaseUrl: string): string {
  try {
    const u = new URL(databaseUrl);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparsable url)";
  }
}

export interface MasterOptions {
  readonly databaseUrl: string;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly logger: Logger;
  /** MASTER_POOL_MAX (default 2): pulls and uploads share these; the listener is one more. */
  readonly maxConnections: number;
}

const toQueryConfig = (text: string, values?: readonly unknown[]) => ({ text, values: values as unknown[] | undefined, types: rowTypes });

const READ_TIMEOUT = /Query read timeout/;

/** One checked-out pg client and what release must know about it. */
interface Lease {
  readonly client: pg.PoolClient;
  /** A query is on the wire (an interruption leaves it there). */
  busy: boolean;
  /** The connection broke or timed out: never reuse it. */
  broken: boolean;
  /** A prepared script failed on it: what it holds prepared is unknown, so the rollback deallocates all. */
  unprepare?: boolean;
}

/** Errors only a prepared script meets: the statement gone or already there (a pooler moved the session), a parameter
 *  type not inferred (these turn prepared statements off for this master), a table changed under a plan (0A000: re-prepared). */
const PREPARED_ONLY = new Set(["26000", "42P05", "42P18", "42P08", "0A000"]);
/** Statements kept prepared on one connection at most (a text changes only with the columns). */
const PREPARED_MAX = 64;

export function masterLayer(options: MasterOptions): Layer.Layer<Master> {
  const log = options.logger.child({ module: "master" });
  const deadlineMs = options.statementTimeoutMs + QUERY_DEADLINE_GRACE_MS;
  return Layer.effect(
    Master,
    Effect.gen(function* () {
      // A bad URL or an unreadable certificate file is a start-up error (never echoing the URL).
      const endpoint = yield* Effect.sync(() =>
        masterEndpoint(options.databaseUrl, { connectTimeoutMs: options.connectTimeoutMs, statementTimeoutMs: options.statementTimeoutMs, applicationName: "embedded-memory" }),
      );
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const p = new pg.Pool({ ...endpoint.config(), max: options.maxConnections, idleTimeoutMillis: 10_000 });
          // pg-pool copies its options once; the TLS choice (allow/prefer) may switch later.
          Object.defineProperty(p.options, "ssl", { enumerable: true, get: () => endpoint.config().ssl });
          // An idle client whose server went away emits here; without a listener it would crash the process.
          p.on("error", (err) => log.warn({ err: classifyMasterError(err) }, "idle master connection lost"));
          // A checked-out client's errors surface through its failing query; this listener
          // (once per connection) only keeps an 'error' event from crashing the process.
          p.on("connect", (client) => client.on("error", () => undefined));
          return p;
        }),
        (p) => Effect.promise(() => p.end().catch(() => undefined)),
      );

      const connectError = (e: unknown): MasterError => {
        const tls = endpoint.explain(e);
        return tls ? new MasterUnavailable({ message: `master not reachable: ${tls}`, cause: e }) : classifyMasterError(e);
      };

      const checkout = Effect.tryPromise({
        try: async (): Promise<Lease> => {
          try {
            return { client: await pool.connect(), busy: false, broken: false };
          } catch (e) {
            // allow/prefer: the other choice would have worked; it is kept for later connections.
            if (!endpoint.choice.failed(e)) throw e;
            log.info({ encrypted: endpoint.choice.encrypted, sslmode: endpoint.tls.mode }, "master TLS choice switched");
            return { client: await pool.connect(), busy: false, broken: false };
          }
        },
        catch: connectError,
      });

      const run = <R,>(lease: Lease, text: string, values?: readonly unknown[]) =>
        send<R>(lease, text, values).pipe(Effect.map((r) => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 })));

      /** The query's pg result: one, or (a simple-protocol query of several statements) one per statement. */
      const send = <R,>(lease: Lease, text: string, values?: readonly unknown[]) =>
        Effect.suspend(() => {
          lease.busy = true;
          return Effect.tryPromise({
            // Cleared when the query settles, not when the fiber is interrupted: a query left on the wire keeps it set.
            try: () => (lease.client.query(toQueryConfig(text, values)) as unknown as Promise<pg.QueryResult<R & pg.QueryResultRow>>).finally(() => (lease.busy = false)),
            catch: (e): MasterError => {
              const err = READ_TIMEOUT.test((e as Error)?.message ?? "")
                ? new MasterUnavailable({ message: `master not reachable: no answer within ${deadlineMs} ms (the statement timeout plus ${QUERY_DEADLINE_GRACE_MS} ms); the connection was closed`, cause: e })
                : classifyMasterError(e);
              if (err._tag === "MasterUnavailable") lease.broken = true;
              return err;
            },
          });
        });

      /** A connection with a query still on the wire, broken or timed out is closed, never pooled. */
      const destroy = (lease: Lease) =>
        Effect.sync(() => {
          lease.client.release(true);
          // release() ends the client gracefully; a silent socket would keep it half-open.
          (lease.client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
        });

      const lease = <A, E>(use: (l: Lease) => Effect.Effect<A, E>, rollback: boolean) =>
        Effect.acquireUseRelease(checkout, use, (l, exit) => {
          if (exit._tag === "Success") return Effect.sync(() => l.client.release());
          if (l.busy || l.broken || !rollback) return destroy(l);
          // The connection is fine (the master refused a statement, or local work failed): roll back, keep it.
          return run(l, l.unprepare ? "ROLLBACK; DEALLOCATE ALL" : "ROLLBACK").pipe(
            Effect.matchEffect({ onSuccess: () => Effect.sync(() => l.client.release()), onFailure: () => destroy(l) }),
          );
        });

      const clientOf = (l: Lease): MasterClient => ({ query: (text, values) => run(l, text, values) });

      const query = <R,>(text: string, values?: readonly unknown[]) => lease((l) => run<R>(l, text, values), false);

      const withClient = <A, E>(use: (client: MasterClient) => Effect.Effect<A, E>) => lease((l) => use(clientOf(l)), false);

      // One round trip for BEGIN and its timeout (a simple-protocol query may hold two statements).
      const begin = (mode: TransactionMode) => `BEGIN ${mode}; ${setLocalStatementTimeout(options.statementTimeoutMs)}`;

      const transaction = <A, E>(mode: TransactionMode, use: (client: MasterClient) => Effect.Effect<A, E>) =>
        lease(
          (l) =>
            Effect.gen(function* () {
              yield* run(l, begin(mode));
              const a = yield* use(clientOf(l));
              yield* run(l, "COMMIT");
              return a;
            }),
          true,
        );

      /** The results of `statements`, after the `skip` leading ones (BEGIN, SET LOCAL, PREPAREs); COMMIT last. */
      const resultsOf = <R,>(skip: number, n: number) => (all: unknown) =>
        (all as pg.QueryResult<R & pg.QueryResultRow>[]).slice(skip, skip + n).map((r) => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 }));

      const plainScript = <R,>(l: Lease, mode: TransactionMode, statements: readonly Statement[]) =>
        send<R>(l, scriptText([{ text: begin(mode) }, ...statements, { text: "COMMIT" }])).pipe(Effect.map(resultsOf<R>(2, statements.length)));

      // What each connection holds prepared: prepared statements are the session's and outlive
      // transactions (a failed one too), so a connection's set is cleared whenever one fails.
      const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();
      let plans: "unproven" | "on" | "refused" = "unproven";

      /** The same script with each statement EXECUTEd, PREPAREd first on a connection that lacks it. */
      const preparedScript = <R,>(l: Lease, mode: TransactionMode, statements: readonly Statement[]) =>
        Effect.suspend(() => {
          const held = preparedOn.get(l.client) ?? new Set<string>();
          preparedOn.set(l.client, held);
          const names = statements.map((st) => preparedName(st.text));
          const reset = held.size >= PREPARED_MAX ? (held.clear(), ["DEALLOCATE ALL"]) : [];
          const fresh = [...new Set(names)].filter((n) => !held.has(n));
          const lead = [...reset, ...fresh.map((n) => prepareText(n, statements[names.indexOf(n)]!.text))];
          return send<R>(l, [begin(mode), ...lead, ...statements.map((st, i) => executeText(names[i]!, st.values)), "COMMIT"].join("\n;\n")).pipe(
            Effect.map(resultsOf<R>(2 + lead.length, statements.length)),
            Effect.tap(() => Effect.sync(() => fresh.forEach((n) => held.add(n)))),
            Effect.tapError(() => Effect.sync(() => (held.clear(), (l.unprepare = true)))),
          );
        });

      /**
       * Pulls run the same statements every time: once the sessions are proven ours (keepPlans),
       * each connection prepares them once and the master only executes them. Should a pooler
       * still move a session, the first error that shows it turns them off for good, and the
       * script runs again as plain text.
       */
      const readScript = <R,>(mode: TransactionMode, statements: readonly Statement[]) => {
        const plain = () => lease((l) => plainScript<R>(l, mode, statements), true);
        if (plans !== "on") return plain();
        const refused = (e: MasterQueryError) =>
          Effect.sync(() => {
            if (e.code === "0A000" || plans !== "on") return;
            plans = "refused";
            log.info({ code: e.code, reason: e.message }, "prepared statements off for this master (a transaction pooler?): pulls send their statements as text");
          });
        return lease((l) => preparedScript<R>(l, mode, statements), true).pipe(
          Effect.catchIf((e): e is MasterQueryError => e._tag === "MasterQueryError" && PREPARED_ONLY.has(e.code ?? ""), (e) => plain().pipe(Effect.tap(() => refused(e)))),
        );
      };

      const keepPlans = () => void (plans === "unproven" && (plans = "on"));

      const counts = (): PoolCounts => ({ open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: options.maxConnections });

      return { describe: describeDatabaseUrl(options.databaseUrl), query, transaction, readScript, withClient, keepPlans, pool: counts } satisfies MasterShape;
    }),
  );
}
