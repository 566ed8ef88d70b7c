/**
 * Local reads of the replicated tables: the memory table's raw rows and the further tables
 * (REPLICATE_TABLES), by their local names. The library's `table(name).get/list`, the HTTP
 * routes (GET /tables/:name[/:key]) and the CLI (`tables`, `get`) all read through this, from the
 * replica file alone: no master is needed. The inputs are checked here (shared schemas, then the
 * table's own columns and kinds); the SQL is src/store/tableReads.ts. A table the configuration
 * names that the file does not hold yet (before the first connect) reads as empty and incomplete.
 */
import { withLockCheck } from "../store/locked.ts";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { makeTableReads, rowToJson, type Bound, type JsonValue, type StoredRow } from "../store/tableReads.ts";
import { decodeInput, invalid } from "../schema/decode.ts";
import { localTableName, type ReplicatedTableConfig } from "../schema/replicatedTables.ts";
import { decodeCursor, encodeCursor, storedForm, TABLE_LIST_LIMIT, TableKey, TableListQuery } from "../schema/tables.ts";
import type { ColumnSpec, TableDescriptor } from "../schema/tableDescriptor.ts";

export type { JsonValue };

/** One row: the master's column names; JSON values (see README, "Further tables: reads"). */
export type TableRow = Readonly<Record<string, JsonValue>>;

export interface TablePage {
  readonly table: string;
  readonly rows: TableRow[];
  /** Pass it as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
  /**
   * The table holds a complete copy. False while it is being copied (the first copy, or a copy
   * anew after a change of its columns or filter, a TRUNCATE on the master, an expired cursor)
   * and before it is in the file at all: the page may then be empty or partial.
   */
  readonly complete: boolean;
}

/** One replicated table as `embedded-memory tables` shows it (the fields of /memory/stats' `tables`). */
export interface TableSummary {
  readonly master_table: string;
  /** The key column; null for a configured table not described by the master yet. */
  readonly key: string | null;
  readonly rows: number;
  readonly last_sync: string | null;
  readonly cursor: string | null;
  readonly filter: string | null;
  readonly snapshot_complete: boolean;
}

export interface TableReadOptions {
  /** Read as a key scoped to this tenant: only its rows and the shared (NULL-tenant) ones, in tables that have a tenant column. */
  readonly tenant?: string | null;
}

/** One table's reads, synchronous (the CLI's). */
export interface TableView {
  readonly name: string;
  /** The row with this key, or undefined (also for another tenant's row, when scoped). */
  get(key: string | number): TableRow | undefined;
  list(query?: TableListQuery): TablePage;
}

export interface TableReader {
  /** The local names of every replicated table, the memory table first (configured ones the file lacks last). */
  readonly names: () => string[];
  /** InvalidInputError naming `table` for a name that is none of them. */
  readonly table: (name: string, options?: TableReadOptions) => TableView;
  readonly summaries: () => Record<string, TableSummary>;
  /** @internal How many list statements the reader keeps prepared (bounded), for tests. */
  readonly listStatements: () => number;
}

/** The library's form (EmbeddedMemory.table): the same reads, asynchronous, a locked file a ReplicaLockedError. */
export interface TableHandle {
  readonly name: string;
  get(key: string | number): Promise<TableRow | undefined>;
  list(query?: TableListQuery): Promise<TablePage>;
}

/** Names and values from input are shown shortened in errors. */
const shown = (s: string): string => (s.length > 100 ? `${s.slice(0, 100)}…` : s);

/** Timestamps are stored with microseconds; stats and summaries show plain ISO-8601 (ms), as /memory/stats does. */
const toIso = (t: string | null): string | null => (t ? new Date(t.replace(/(\.\d{3})\d*Z$/, "$1Z")).toISOString() : null);

/** What a cursor holds for a stored value (bigints are already text). */
const cursorOf = (v: string | number | Buffer | null | undefined): string | number | null => (v === undefined || Buffer.isBuffer(v) ? null : v);

function view(reads: ReturnType<typeof makeTableReads>, d: TableDescriptor, tenant: string | null): TableView {
  const columns = new Map(d.columns.map((c) => [c.name, c]));
  const keyColumn: ColumnSpec = columns.get(d.key) ?? { name: d.key, kind: "text", createAs: "text" };
  // What order_by may name: the key and the indexed columns (a vector has no order).
  const orderable = [d.key, ...(d.indexes ?? []).filter((c) => c !== d.key && columns.has(c) && columns.get(c)!.kind !== "vector")];

  const orderOf = (raw: string | undefined) => {
    const text = raw ?? d.key;
    const desc = text.startsWith("-");
    const name = desc ? text.slice(1) : text;
    if (!orderable.includes(name)) {
      const what = columns.has(name) ? `column ${name} is not indexed` : `no column ${shown(name)}`;
      invalid("order_by", `${what} in table ${d.localName}; order by the key or an indexed column: ${orderable.join(", ")} (-column for descending)`);
    }
    return { text, column: columns.get(name) ?? keyColumn, desc };
  };

  const filterOf = ([name, value]: [string, string | number | boolean | null]): { column: string; value: Bound | null } => {
    const field = `filters.${shown(name)}`;
    const c = columns.get(name) ?? invalid(field, `no column ${shown(name)} in table ${d.localName} (its columns: ${[...columns.keys()].join(", ")})`);
    return { column: c.name, value: value === null ? null : storedForm(c, value, field) };
  };

  const answer = (row: StoredRow): TableRow => rowToJson(d, row);

  return {
    name: d.localName,
    get: (key) => {
      const k = storedForm(keyColumn, decodeInput(TableKey, key, "key"), "key");
      const row = reads.get(d, k, tenant);
      return row && answer(row);
    },
    list: (query = {}) => {
      const q = decodeInput(TableListQuery, query, "query");
      const filters = Object.entries(q.filters ?? {}).map(filterOf);
      const order = orderOf(q.order_by);
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, d.localName, order.text, order.column, keyColumn);
      const limit = q.limit ?? TABLE_LIST_LIMIT.default;
      // One row more than asked: whether it exists says whether there is a next page.
      const { rows, complete } = reads.list(d, { filters, order: { column: order.column.name, desc: order.desc }, ...(after ? { after } : {}), limit: limit + 1, tenant });
      const more = rows.length > limit;
      if (more) rows.length = limit;
      const last = rows[rows.length - 1];
      const next = more && last ? encodeCursor({ t: d.localName, o: order.text, v: cursorOf(last[order.column.name]), k: cursorOf(last[d.key]) ?? "" }) : null;
      return { table: d.localName, rows: rows.map(answer), next_cursor: next, complete };
    },
  };
}

/**
 * A configured table the file does not hold yet: its columns are unknown until the master
 * describes it, so only what the shared schemas check is checked; it has no rows.
 */
function notYetCopied(name: string): TableView {
  return {
    name,
    get: (key) => {
      decodeInput(TableKey, key, "key");
      return undefined;
    },
    list: (query = {}) => {
      decodeInput(TableListQuery, query, "query");
      return { table: name, rows: [], next_cursor: null, complete: false };
    },
  };
}

/**
 * Reads of the tables in `store`'s file; `memory` is the memory table's descriptor, `configured`
 * the further tables the configuration names (those the file's catalog lacks read as empty).
 */
export function makeTableReader(store: LocalStoreShape, memory: TableDescriptor, configured: readonly ReplicatedTableConfig[] = []): TableReader {
  const reads = makeTableReads(store);
  const all = (): readonly TableDescriptor[] => [memory, ...reads.catalog()];
  /** The configured tables the file does not hold (yet). */
  const pending = (held: readonly TableDescriptor[]): ReplicatedTableConfig[] => configured.filter((t) => !held.some((d) => d.localName === localTableName(t.name)));
  const names = (): string[] => {
    const held = all();
    return [...held.map((d) => d.localName), ...pending(held).map((t) => localTableName(t.name))];
  };
  return {
    names,
    table: (name, options = {}) => {
      if (typeof name !== "string") return invalid("table", "expected a table name");
      const held = all();
      const d = held.find((t) => t.localName === name);
      if (d) return view(reads, d, options.tenant ?? null);
      if (pending(held).some((t) => localTableName(t.name) === name)) return notYetCopied(name);
      return invalid("table", `unknown table ${shown(name)}; the replicated tables are: ${names().join(", ")}`);
    },
    summaries: () => {
      const held = all();
      const summaries: [string, TableSummary][] = held.map((d) => {
        const s = reads.syncFacts(d);
        return [d.localName, { master_table: d.masterTable, key: d.key, rows: reads.count(d), last_sync: toIso(s.lastSync), cursor: s.cursor, filter: d.filter ?? null, snapshot_complete: s.complete }];
      });
      for (const t of pending(held)) summaries.push([localTableName(t.name), { master_table: t.name, key: t.key ?? null, rows: 0, last_sync: null, cursor: null, filter: t.filter ?? null, snapshot_complete: false }]);
      return Object.fromEntries(summaries);
    },
    listStatements: reads.listStatements,
  };
}

const readers = new WeakMap<LocalStoreShape, TableReader>();

/** The reader of this store, made once (it keeps the parsed catalog and its list statements). */
export function readerOf(store: LocalStoreShape, memory: TableDescriptor, configured: readonly ReplicatedTableConfig[] = []): TableReader {
  let r = readers.get(store);
  if (!r) readers.set(store, (r = makeTableReader(store, memory, configured)));
  return r;
}

/** `name`'s reads, asynchronous, on a reader opened when first needed (EmbeddedMemory.table). */
export function tableHandle(name: string, options: TableReadOptions, localPath: string, reader: () => Promise<TableReader>): TableHandle {
  return {
    name,
    get: (key) => withLockCheck(localPath, async () => (await reader()).table(name, options).get(key)),
    list: (query) => withLockCheck(localPath, async () => (await reader()).table(name, options).list(query)),
  };
}
