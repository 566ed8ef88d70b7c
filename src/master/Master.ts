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
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable|the database system is (starting up|shutting down)/i;

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

/** Parses Postgres `real[]` text (`{0.1,-2,3e-05}`) straight into a float32 little-endian BLOB. */
export function parseFloat4ArrayToBlob(text: string): Buffer {
  if (text.length <= 2) return Buffer.alloc(0);
  const parts = text.slice(1, -1).split(",");
  const out = new Float32Array(parts.length);
  for (let i = 0; i < parts.length; i++) out[i] = Number(parts[i]);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

const FLOAT4_OID = 700;
/**
 * Decodes `array_send(x::real[])` — Postgres's binary array format (big-endian: ndim, flags,
 * element type, then size and lower bound per dimension, then length-prefixed elements) —
 * into a float32 little-endian BLOB. NULL elements become NaN, as the text parser makes them.
 * Undefined for bytes that are not exactly one float4 array (malformed, truncated, trailing).
 */
export function float4ArraySendToBlob(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 12) return undefined;
  const ndim = bytes.readInt32BE(0);
  if (bytes.readUInt32BE(8) !== FLOAT4_OID || ndim < 0 || ndim > 6 || bytes.length < 12 + ndim * 8) return undefined;
  let count = ndim === 0 ? 0 : 1;
  for (let d = 0; d < ndim; d++) {
    const size = bytes.readInt32BE(12 + d * 8);
    if (size < 0) return undefined;
    count *= size;
  }
  let at = 12 + ndim * 8;
  // Every element takes at least its 4-byte length: checked before allocating.
  if (count * 4 > bytes.length - at) return undefined;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) return undefined;
    const len = bytes.readInt32BE(at);
    at += 4;
    if (len === 4 && at + 4 <= bytes.length) {
      out[i] = bytes.readFloatBE(at);
      at += 4;
    } else if (len === -1) out[i] = NaN;
    else return undefined;
  }
  return at === bytes.length ? Buffer.from(out.buffer, out.byteOffset, out.byteLength) : undefined;
}

/**
 * bytea in text form (`\x0a1b…`). Our queries select bytea only as `array_send` of an
 * embedding: anything else is an error, never bytes stored as if they were a vector.
 */
function parseByteaEmbedding(text: string): Buffer {
  const bytes = text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex") : (pg.types.getTypeParser(BYTEA_OID, "text")(text) as Buffer);
  const blob = float4ArraySendToBlob(bytes);
  if (!blob) throw new Error(`an embedding arrived as ${bytes.length} bytes that are not one real[] in Postgres's binary array format`);
  return blob;
}

const FLOAT4_ARRAY_OID = 1021;
const BYTEA_OID = 17;
/** Per-query type parsers: only our own queries turn embeddings into BLOBs. */
export const rowTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === BYTEA_OID ? parseByteaEmbedding : oid === FLOAT4_ARRAY_OID ? parseFloat4ArrayToBlob : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

/** One checked-out connection, for work that must share a transaction. */
export interface MasterClient {
  readonly query: <R = Record<string, unknown>>(text: string, values?: readonly unknown[]) => Effect.Effect<QueryResult<R>, MasterError>;
}

export interface MasterShape {
  /** `host:port/database`, safe to show (no credentials). */
  readonly describe: string;
  readonly query: <R = Record<string, unknown>>(text: string, values?: readonly unknown[]) => Effect.Effect<QueryResult<R>, MasterError>;
  /** Runs `use` on one connection; a failed or interrupted use destroys the connection. */
  readonly withClient: <A, E>(use: (client: MasterClient) => Effect.Effect<A, E>) => Effect.Effect<A, E | MasterError>;
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

export function masterLayer(options: MasterOptions): Layer.Layer<Master> {
  const log = options.logger.child({ module: "master" });
  return Layer.effect(
    Master,
    Effect.gen(function* () {
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const p = new pg.Pool({
            connectionString: options.databaseUrl,
            connectionTimeoutMillis: options.connectTimeoutMs,
            max: options.maxConnections,
            idleTimeoutMillis: 10_000,
            application_name: "embedded-memory",
          });
          // An idle client whose server went away emits here; without a listener it would crash the process.
          p.on("error", (err) => log.warn({ err: classifyMasterError(err) }, "idle master connection lost"));
          // A checked-out client's errors surface through its failing query; this listener
          // (once per connection) only keeps an 'error' event from crashing the process.
          p.on("connect", (client) => client.on("error", () => undefined));
          return p;
        }),
        (p) => Effect.promise(() => p.end().catch(() => undefined)),
      );

      const query = <R,>(text: string, values?: readonly unknown[]) =>
        Effect.tryPromise({
          try: () => pool.query(toQueryConfig(text, values)) as unknown as Promise<pg.QueryResult<R & pg.QueryResultRow>>,
          catch: classifyMasterError,
        }).pipe(Effect.map((r) => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 })));

      const withClient = <A, E>(use: (client: MasterClient) => Effect.Effect<A, E>) =>
        Effect.acquireUseRelease(
          Effect.tryPromise({ try: () => pool.connect(), catch: classifyMasterError }),
          (client) =>
            use({
              query: <R,>(text: string, values?: readonly unknown[]) =>
                Effect.tryPromise({
                  try: () => client.query(toQueryConfig(text, values)) as unknown as Promise<pg.QueryResult<R & pg.QueryResultRow>>,
                  catch: classifyMasterError,
                }).pipe(Effect.map((r) => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 }))),
            }),
          // A connection that failed or was interrupted mid-transaction is not reused.
          (client, exit) => Effect.sync(() => client.release(exit._tag === "Failure" ? true : undefined)),
        );

      return { describe: describeDatabaseUrl(options.databaseUrl), query, withClient } as MasterShape;
    }),
  );
}
