/**
 * The master table's columns as the replicator sees them: the queries built for them (kept until
 * the columns change), the drift check that refuses columns the replica cannot read, the retry of
 * a statement that met columns changed under it, and the fill-in of columns the master gained.
 */
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import type { MasterError, MasterShape } from "../master/Master.ts";
import { introspectColumns, MasterObjectsMissing } from "../master/masterObjects.ts";
import { columnProblemMessage, columnProblems, type MasterColumn } from "../master/columnsSql.ts";
import { TableQueries } from "../master/tableQueries.ts";
import type { LocalStoreError, LocalStoreShape } from "../store/LocalStore.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Logger } from "../observability/logger.ts";
import { local } from "./local.ts";

/**
 * The master's table lacks a column the replica needs, or has a column of a type it cannot
 * read (schema drift). The message names the table, the column, the type expected and what to
 * do; the machine waits in backoff and recovers by itself once the table is fixed.
 */
export class MasterSchemaDrift extends Data.TaggedError("MasterSchemaDrift")<{ readonly message: string; readonly table: string; readonly column: string }> {}

/** undefined_column, datatype_mismatch: a statement built for columns the master no longer has. */
const DRIFT_CODES = new Set(["42703", "42804"]);
export const isColumnDriftError = (e: unknown): boolean =>
  (e as { _tag?: string })?._tag === "MasterQueryError" && DRIFT_CODES.has((e as { code?: string }).code ?? "");

export type ColumnsError = MasterError | MasterObjectsMissing | MasterSchemaDrift | LocalStoreError;

export interface ColumnsOptions {
  readonly master: MasterShape;
  readonly store: LocalStoreShape;
  readonly descriptor: TableDescriptor;
  readonly tenantId: string | undefined;
  /** Keys per statement when filling in gained columns (the snapshot's chunk size). */
  readonly chunkRows: number;
  readonly log: Logger;
  /** Applies the master's current state of some rows (the replicator's refresh). */
  readonly refresh: (keys: readonly string[]) => Effect.Effect<number, ColumnsError>;
}

export interface Columns {
  /** The queries for the master's actual columns, introspected when none are kept. */
  readonly queries: () => Effect.Effect<TableQueries, ColumnsError>;
  /** Forgets the queries and reads the columns anew (see ReplicatorShape.recheckColumns). */
  readonly recheck: () => Effect.Effect<TableQueries, ColumnsError>;
  /** Queries for these columns, once they pass the check; a failed check leaves none kept. */
  readonly build: (cols: readonly MasterColumn[]) => Effect.Effect<TableQueries, MasterObjectsMissing | MasterSchemaDrift | LocalStoreError>;
  /** Runs `work`; a statement that met columns changed under it re-reads them and runs it once more. */
  readonly onDrift: <A, E>(work: () => Effect.Effect<A, E>) => Effect.Effect<A, E | ColumnsError>;
  /** Fills in the columns the master gained since the kept queries' columns were last filled in. */
  readonly pickUp: () => Effect.Effect<void, ColumnsError>;
  /**
   * Records in `file` (the replica, or a re-copy file) the columns a copy that begins now reads:
   * one the master gains during the copy is then filled in after it, as any gained column.
   */
  readonly copyBegins: (file: LocalStoreShape, tq: TableQueries) => void;
}

export function makeColumns(o: ColumnsOptions): Columns {
  const { master, store, descriptor: d, log } = o;
  let cached: TableQueries | undefined;
  /** The signature of the columns whose newcomers were last filled in (see pickUpColumns). */
  let pickedUp: string | undefined;
  /** replica_meta: the descriptor's columns the local rows were read with (a JSON array). */
  const readColumnsKey = `master_columns:${d.localName}`;

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

  const recheck = () =>
    Effect.suspend(() => {
      cached = undefined;
      return queries();
    });

  const onDrift = <A, E>(work: () => Effect.Effect<A, E>): Effect.Effect<A, E | ColumnsError> =>
    work().pipe(Effect.catchIf(isColumnDriftError, () => recheck().pipe(Effect.andThen(work))));

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
        const { text, values } = tq.keysWithValues(gained, after, o.chunkRows);
        const { rows } = yield* master.query<{ key: string }>(text, values);
        if (rows.length > 0) filled += yield* o.refresh(rows.map((r) => r.key));
        if (rows.length < o.chunkRows) break;
        after = rows[rows.length - 1]!.key;
      }
      if (gained.length > 0) log.info({ columns: gained, rows: filled }, "columns the master gained filled in on rows copied before");
      const record = JSON.stringify(now);
      if (before !== record) yield* local("recording the columns read", () => store.meta.set(readColumnsKey, record));
      pickedUp = tq.signature;
    });

  // Every pull asks; nothing to do unless the columns changed since the last fill.
  const pickUp = () => (cached && pickedUp !== cached.signature ? pickUpColumns(cached) : Effect.void);

  const copyBegins = (file: LocalStoreShape, tq: TableQueries) => {
    file.meta.set(readColumnsKey, JSON.stringify(tq.present.map((c) => c.name)));
    if (file === store) pickedUp = undefined;
  };

  return { queries, recheck, build, onDrift, pickUp, copyBegins };
}
