/**
 * The SQL of the replicated tables' reads (library `table(name)`, HTTP /tables, CLI `tables`,
 * `get`): one row by key, keyset-paginated lists with equality filters, the catalog, and each
 * table's sync facts. Only rows the replica serves are read: not expired ones, and, for a
 * tenant-scoped read, only that tenant's and the shared (NULL-tenant) rows. A list's text depends
 * on its filter set, order and cursor, which the caller chooses: those statements are kept in a
 * small LRU of their own (LIST_STATEMENTS_MAX), not in the store's cache, which keeps every text
 * for the life of the file; the other reads' texts are one per table and go through the store's.
 */
import type { Statement, Statements } from "./statements.ts";
import { isoMicros } from "./statements.ts";
import { CATALOG_KEY } from "./tables.ts";
import type { ColumnSpec, TableDescriptor } from "../schema/tableDescriptor.ts";

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/**
 * A column of the table read, qualified: the select list names bigint columns' text forms like
 * the columns, and ORDER BY would take an unqualified name for that alias (text order).
 */
const r = (name: string): string => `r.${q(name)}`;

/** A value as SQL binds it: bigint for int8 (exact past 2^53). */
export type Bound = string | number | bigint;

/** A row as read: bigint columns as decimal text (so no precision is lost), vectors as BLOBs. */
export type StoredRow = Record<string, string | number | Buffer | null>;

export interface ListSpec {
  /** Equality filters (null: IS NULL), in any order. */
  readonly filters: readonly { readonly column: string; readonly value: Bound | null }[];
  readonly order: { readonly column: string; readonly desc: boolean };
  /** Rows after this one, in the list's order (the cursor). */
  readonly after?: { readonly value: Bound | null; readonly key: Bound };
  readonly limit: number;
  /** A tenant-scoped read: only this tenant's rows and the shared ones. */
  readonly tenant: string | null;
}

/** The column that scopes a table's rows to a tenant: the descriptor's, else a `tenant_id` column. */
export const tenantColumnOf = (d: TableDescriptor): ColumnSpec | undefined => d.columns.find((c) => c.name === (d.tenantColumn ?? "tenant_id"));

/** Prepared list statements kept per reader: a few shapes are in use at a time; more are prepared again. */
export const LIST_STATEMENTS_MAX = 64;

/** Where a table's sync stands (its sync_state row, which a read does not create). */
export interface SyncFacts {
  readonly lastSync: string | null;
  readonly cursor: string | null;
  /** A complete copy with a cursor: not a first copy, nor one begun anew, in progress. */
  readonly complete: boolean;
}

export interface TableReads {
  /** The further tables' descriptors (the catalog tables.ts keeps), parsed once per change. */
  readonly catalog: () => readonly TableDescriptor[];
  readonly get: (d: TableDescriptor, key: Bound, tenant: string | null) => StoredRow | undefined;
  /** One page and whether the table's copy is complete, read in one transaction (one snapshot of the file). */
  readonly list: (d: TableDescriptor, spec: ListSpec) => { readonly rows: StoredRow[]; readonly complete: boolean };
  /** Where a table's sync stands, without creating its sync_state row (these are reads). */
  readonly syncFacts: (d: TableDescriptor) => SyncFacts;
  readonly count: (d: TableDescriptor) => number;
  /** @internal How many list statements are kept (at most LIST_STATEMENTS_MAX), for tests. */
  readonly listStatements: () => number;
}

/** The select list: bigint columns as text, every column under its own name. */
const selectList = (d: TableDescriptor): string => d.columns.map((c) => (c.kind === "bigint" ? `CAST(${r(c.name)} AS TEXT) AS ${q(c.name)}` : r(c.name))).join(", ");

/** What every read of `d` adds to its WHERE: the rows the replica serves (to this tenant). */
function visible(d: TableDescriptor, tenant: string | null, where: string[], params: unknown[]): void {
  if (d.expiresColumn) {
    where.push(`(${r(d.expiresColumn)} IS NULL OR ${r(d.expiresColumn)} > ?)`);
    params.push(isoMicros());
  }
  const t = tenant === null ? undefined : tenantColumnOf(d);
  if (t) {
    // uuids are stored lower-case; a text tenant column may hold any case.
    where.push(t.kind === "uuid" ? `(${r(t.name)} IS NULL OR ${r(t.name)} = ?)` : `(${r(t.name)} IS NULL OR lower(${r(t.name)}) = ?)`);
    params.push(tenant!.toLowerCase());
  }
}

/**
 * The keyset condition for the rows after (value, key) in the order (column, key), both ascending
 * or both descending. SQLite puts NULLs first ascending and last descending, so descending is
 * exactly the reverse of ascending, and a NULL order value needs its own conditions.
 */
function after(d: TableDescriptor, spec: ListSpec, where: string[], params: unknown[]): void {
  const a = spec.after;
  if (!a) return;
  const k = r(d.key);
  const { column, desc } = spec.order;
  if (column === d.key) {
    where.push(`${k} ${desc ? "<" : ">"} ?`);
    params.push(a.key);
    return;
  }
  const c = r(column);
  if (a.value === null) {
    where.push(desc ? `(${c} IS NULL AND ${k} < ?)` : `((${c} IS NULL AND ${k} > ?) OR ${c} IS NOT NULL)`);
    params.push(a.key);
  } else {
    where.push(desc ? `((${c}, ${k}) < (?, ?) OR ${c} IS NULL)` : `(${c}, ${k}) > (?, ?)`);
    params.push(a.value, a.key);
  }
}

/** The list statement for `sql`, from `kept` (least recently used first) or prepared and kept, evicting the oldest. */
function listStatement(kept: Map<string, Statement>, prepare: Statements["prepare"], sql: string): Statement {
  let s = kept.get(sql);
  if (s) kept.delete(sql);
  else {
    s = prepare(sql);
    if (kept.size >= LIST_STATEMENTS_MAX) kept.delete(kept.keys().next().value!);
  }
  kept.set(sql, s);
  return s;
}

export function makeTableReads({ statement, pluck, prepare, transaction }: Statements): TableReads {
  let catalogText: string | undefined;
  let catalog: readonly TableDescriptor[] = [];
  const kept = new Map<string, Statement>();

  const syncFacts = (d: TableDescriptor): SyncFacts => {
    const row = statement("SELECT last_sync_time, cursor, snapshot_complete FROM sync_state WHERE table_name = ?").get(d.localName) as
      | { last_sync_time: string | null; cursor: string | null; snapshot_complete: number }
      | undefined;
    return { lastSync: row?.last_sync_time ?? null, cursor: row?.cursor ?? null, complete: row?.snapshot_complete === 1 && row.cursor !== null };
  };

  const rows = (d: TableDescriptor, spec: ListSpec): StoredRow[] => {
    const where: string[] = [];
    const params: unknown[] = [];
    // Sorted, so the same filters in another order share one statement.
    for (const f of [...spec.filters].sort((x, y) => (x.column < y.column ? -1 : 1))) {
      if (f.value === null) where.push(`${r(f.column)} IS NULL`);
      else {
        where.push(`${r(f.column)} = ?`);
        params.push(f.value);
      }
    }
    visible(d, spec.tenant, where, params);
    after(d, spec, where, params);
    const dir = spec.order.desc ? "DESC" : "ASC";
    const order = spec.order.column === d.key ? `${r(d.key)} ${dir}` : `${r(spec.order.column)} ${dir}, ${r(d.key)} ${dir}`;
    const sql = `SELECT ${selectList(d)} FROM ${q(d.localName)} AS r${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order} LIMIT ?`;
    return listStatement(kept, prepare, sql).all(...params, spec.limit) as StoredRow[];
  };

  // A sync writing between the two reads (another process on the file) would pair a page with another state.
  const page = transaction((d: TableDescriptor, spec: ListSpec) => ({ rows: rows(d, spec), complete: syncFacts(d).complete }));

  return {
    catalog: () => {
      const raw = (pluck("SELECT value FROM replica_meta WHERE key = ?").get(CATALOG_KEY) as string | undefined) ?? "[]";
      if (raw !== catalogText) {
        catalog = (JSON.parse(raw) as TableDescriptor[]).map((d) => Object.freeze(d));
        catalogText = raw;
      }
      return catalog;
    },
    get: (d, key, tenant) => {
      const where = [`${r(d.key)} = ?`];
      const params: unknown[] = [key];
      visible(d, tenant, where, params);
      return statement(`SELECT ${selectList(d)} FROM ${q(d.localName)} AS r WHERE ${where.join(" AND ")}`).get(...params) as StoredRow | undefined;
    },
    list: page,
    syncFacts,
    count: (d) => pluck(`SELECT count(*) FROM ${q(d.localName)}`).get() as number,
    listStatements: () => kept.size,
  };
}

/** A JSON value, as rows are answered. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const parsed = (text: string): JsonValue => {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text; // the master's column was text, not JSON
  }
};

/** One stored value as JSON: JSON and arrays parsed, booleans, vectors as numbers, bigint a number when exact. */
function jsonOf(c: ColumnSpec, v: string | number | Buffer | null): JsonValue {
  if (v === null) return null;
  switch (c.kind) {
    case "json":
    case "textArray":
      return typeof v === "string" ? parsed(v) : (v as number);
    case "bool":
      return v !== 0 && v !== "0";
    case "bigint": {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : String(v);
    }
    case "vector": {
      if (!Buffer.isBuffer(v)) return null;
      const out = new Array<number>(v.length >> 2);
      for (let i = 0; i < out.length; i++) out[i] = v.readFloatLE(i * 4);
      return out;
    }
    default:
      return Buffer.isBuffer(v) ? v.toString("base64") : v;
  }
}

/** A stored row as the reads answer it: the master's column names, JSON values. */
export function rowToJson(d: TableDescriptor, row: StoredRow): Record<string, JsonValue> {
  // fromEntries defines own properties: a column named __proto__ stays a column.
  return Object.fromEntries(d.columns.map((c) => [c.name, jsonOf(c, row[c.name] ?? null)]));
}
