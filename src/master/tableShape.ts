/**
 * A further replicated table (REPLICATE_TABLES) as the master has it: its key (the single-column
 * primary key unless configured), its columns and their kinds, the leading columns of its
 * indexes; and the check that the master can plan its row filter. The result is the table's
 * descriptor, which the sync and the local file are built from.
 */
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import type { MasterError, MasterShape } from "./Master.ts";
import { columnsSignature, introspectColumnsSql, type MasterColumn } from "./columnsSql.ts";
import { qualified } from "./masterSql.ts";
import { TableQueries } from "./tableQueries.ts";
import { localTableName, type ReplicatedTableConfig } from "../schema/replicatedTables.ts";
import type { ColumnKind, ColumnSpec, TableDescriptor } from "../schema/tableDescriptor.ts";

/**
 * A further table the replica cannot copy as configured: missing on the master, no usable key, a
 * configured column it lacks, or a row filter the master cannot plan. The message names the table
 * and what to change; sync waits in backoff and resumes once the master or the configuration is fixed.
 */
export class ReplicatedTableInvalid extends Data.TaggedError("ReplicatedTableInvalid")<{ readonly message: string; readonly table: string }> {}

const primaryKeySql = `SELECT a.attname AS name FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
  WHERE i.indrelid = to_regclass($1) AND i.indisprimary`;
/** Whether a column is NOT NULL and alone makes a unique index (a full one: no predicate, no expression). */
const uniqueKeySql = `SELECT a.attnotnull AS not_null,
    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indnatts = 1
              AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL) AS unique
  FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`;

/** Key kinds whose changelog text form (`row_id`) is the stored form: a delete finds its row. */
const KEY_KINDS: ReadonlySet<ColumnKind> = new Set(["uuid", "text", "int", "bigint"]);

/** The leading column of each index (an expression index has none). */
const indexedSql = `SELECT DISTINCT a.attname AS name FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = to_regclass($1)`;

const TIMESTAMPS = new Set(["timestamptz", "timestamp", "date"]);

/** How a master column travels (see ColumnKind); what has no closer kind goes as its text form. */
export function kindOf(c: MasterColumn): ColumnKind {
  if (c.udt === "uuid") return "uuid";
  if (c.udt === "json" || c.udt === "jsonb") return "json";
  if (c.udt === "vector" || c.udt === "halfvec") return "vector";
  if (c.category === "A") return "textArray";
  if (c.udt === "int2" || c.udt === "int4") return "int";
  if (c.udt === "int8") return "bigint";
  // numeric is exact: as text (as node-postgres gives it), never rounded through a double.
  if (c.udt === "float4" || c.udt === "float8") return "real";
  if (TIMESTAMPS.has(c.udt)) return "timestamp";
  if (c.udt === "bool") return "bool";
  return "text";
}

const invalid = (table: string, message: string) => new ReplicatedTableInvalid({ table, message: `the replicated table ${table}: ${message}; sync waits in backoff, retrying, and resumes once it is fixed` });

/**
 * Reads the table's shape from the master and builds its descriptor. The key and the configured
 * columns are required (a master that loses them later is schema drift, as for the memory table);
 * the other columns are kept while the master has them.
 */
export const describeTable = (master: MasterShape, t: ReplicatedTableConfig, options: { planFilter?: boolean } = {}): Effect.Effect<TableDescriptor, MasterError | ReplicatedTableInvalid> =>
  Effect.map(describeTableAt(master, t, options), (r) => r.descriptor);

/** A table's descriptor and the signature of the master's columns it was made from (see columnsSignature). */
export interface DescribedTable {
  readonly descriptor: TableDescriptor;
  readonly signature: string;
}

/** describeTable, with the columns' signature: a pull that sees another one describes the table anew. */
/** `planFilter: false` skips planning the filter (whose statements read the changelog: `migrate --print` before it exists). */
export const describeTableAt = (master: MasterShape, t: ReplicatedTableConfig, options: { planFilter?: boolean } = {}): Effect.Effect<DescribedTable, MasterError | ReplicatedTableInvalid> =>
  Effect.gen(function* () {
    const name = qualified(t.name);
    const { rows: columns } = yield* master.query<MasterColumn>(introspectColumnsSql, [name]);
    if (columns.length === 0) return yield* Effect.fail(invalid(t.name, `the master has no table ${t.name}`));
    const byName = new Map(columns.map((c) => [c.name, c]));
    let key = t.key;
    if (key === undefined) {
      const { rows: pk } = yield* master.query<{ name: string }>(primaryKeySql, [name]);
      if (pk.length !== 1) {
        return yield* Effect.fail(invalid(t.name, pk.length === 0 ? "the table has no primary key: name its key column (\"key\" in REPLICATE_CONFIG)" : `its primary key has ${pk.length} columns (${pk.map((r) => r.name).join(", ")}): name a single unique key column ("key" in REPLICATE_CONFIG)`));
      }
      key = pk[0]!.name;
    } else {
      // The trigger records every row under its key: a NULL key would fail the master's own
      // writes, and a duplicate one would fold two rows into one here.
      const { rows: u } = yield* master.query<{ not_null: boolean; unique: boolean }>(uniqueKeySql, [name, key]);
      if (u.length && !(u[0]!.not_null && u[0]!.unique)) {
        return yield* Effect.fail(invalid(t.name, `its key column ${key} must be NOT NULL and unique on its own (a single-column unique index or the primary key)`));
      }
    }
    const keyColumn = byName.get(key);
    if (keyColumn && !KEY_KINDS.has(kindOf(keyColumn))) {
      return yield* Effect.fail(invalid(t.name, `its key column ${key} is of type ${keyColumn.udt}: a key must be a uuid, an integer or a text-like column`));
    }
    const wanted = t.columns ? [key, ...t.columns.filter((c) => c !== key)] : columns.map((c) => c.name);
    const lacking = wanted.filter((c) => !byName.has(c));
    if (lacking.length) return yield* Effect.fail(invalid(t.name, `the master table has no column ${lacking.join(", ")}`));
    const specs: ColumnSpec[] = wanted.map((n) => {
      const c = byName.get(n)!;
      const spec = { name: n, kind: kindOf(c), createAs: c.udt };
      return n === key || t.columns ? { ...spec, required: true } : spec;
    });
    const { rows: indexed } = yield* master.query<{ name: string }>(indexedSql, [name]);
    const indexes = (t.indexes ?? indexed.map((r) => r.name)).filter((c) => c !== key && wanted.includes(c));
    const d: TableDescriptor = Object.freeze({
      masterTable: t.name,
      localName: localTableName(t.name),
      key,
      columns: Object.freeze(specs),
      ...(t.filter !== undefined ? { filter: t.filter } : {}),
      indexes: Object.freeze([...new Set(indexes)].sort()),
    });
    if (options.planFilter !== false) yield* checkFilter(master, d, columns);
    return { descriptor: d, signature: columnsSignature(columns) };
  });

/**
 * The master plans the copy's and the pull's statements with the filter in them (EXPLAIN, so
 * nothing runs): a predicate naming an unknown column, of the wrong type, or not SQL at all is
 * refused here, at connect, with the master's own words — not in the middle of a copy.
 */
const checkFilter = (master: MasterShape, d: TableDescriptor, columns: readonly MasterColumn[]): Effect.Effect<void, MasterError | ReplicatedTableInvalid> => {
  if (d.filter === undefined) return Effect.void;
  const tq = new TableQueries(d, columns, undefined);
  return Effect.forEach([tq.snapshotChunk(null, 1), tq.changesSince("1:1:")], ({ text, values }) => master.query(`EXPLAIN ${text}`, values), { discard: true }).pipe(
    Effect.catchIf(
      (e: MasterError) => e._tag === "MasterQueryError",
      (e) => Effect.fail(invalid(d.masterTable, `the master cannot plan its row filter ${JSON.stringify(d.filter)}: ${e.message}`)),
    ),
    Effect.andThen(checkRowOnly(master, d)),
  );
};

/** A subquery, which an index predicate may not have: it reads other rows or tables. */
const SUBQUERY = "0A000";
/** A function that is not IMMUTABLE: refused only when it is the clock or chance (see checkRowOnly). */
const NOT_IMMUTABLE = "42P17";
/** The functions whose value changes with no change of the row (string literals removed first). */
const CLOCK_OR_CHANCE = /\b(now|current_timestamp|current_date|current_time|localtime|localtimestamp|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday|random)\b/i;
const mentionsClock = (filter: string): boolean => CLOCK_OR_CHANCE.test(filter.replace(/'(?:[^']|'')*'/g, "''"));

/**
 * A filter must depend on the row alone: a row that leaves `valid_until > now()` by the clock, or
 * one whose subquery reads another table, changes no row here, so no change would tell the
 * replica. Postgres is asked as for an index predicate, on an empty temporary copy of the table's
 * columns named `t` (the alias the copy and pull use, so `t.col` resolves), rolled back: a
 * subquery is refused; a function that is not IMMUTABLE is refused when it is the clock or
 * `random()` — STABLE ones that read only the row (`to_char(ts, …)`, an enum's `::text`,
 * `concat`) are what filters are made of. A role that may not make temporary tables (or a
 * read-only master) skips this check; the filter was planned above.
 */
const checkRowOnly = (master: MasterShape, d: TableDescriptor): Effect.Effect<void, MasterError | ReplicatedTableInvalid> =>
  master
    .withClient((client) =>
      Effect.gen(function* () {
        yield* client.query("BEGIN");
        const probe = yield* Effect.gen(function* () {
          yield* client.query(`CREATE TEMPORARY TABLE t (LIKE ${qualified(d.masterTable)}) ON COMMIT DROP`);
          yield* client.query(`CREATE INDEX ON pg_temp.t ((true)) WHERE (${d.filter})`);
          return undefined;
        }).pipe(Effect.catchIf((e: MasterError) => e._tag === "MasterQueryError", (e) => Effect.succeed(e)));
        yield* client.query("ROLLBACK");
        return probe;
      }),
    )
    .pipe(
      Effect.flatMap((e) =>
        e !== undefined && e._tag === "MasterQueryError" && (e.code === SUBQUERY || (e.code === NOT_IMMUTABLE && mentionsClock(d.filter!)))
          ? Effect.fail(invalid(d.masterTable, `its row filter ${JSON.stringify(d.filter)} must depend on the row alone (${e.message}): a row that leaves it by the clock or by another table's change would stay in the replica, since no change of the row tells it`))
          : Effect.void,
      ),
    );
