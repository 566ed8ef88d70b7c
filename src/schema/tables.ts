/**
 * Reads of the replicated tables (library `table(name).get/list`, HTTP GET /tables/:name and
 * /tables/:name/:key): the list query and its query-string form, and how a value given as text
 * (a filter, a key) is checked against its column's kind and put in the form the replica stores
 * it in, which is what SQL compares it with. Also the list cursor's encoding.
 */
import * as Schema from "effect/Schema";
import { decodeInput, invalid } from "./decode.ts";
import { opt, Text, UUID_RE } from "./fields.ts";
import type { ColumnSpec } from "./tableDescriptor.ts";

export const TABLE_LIST_LIMIT = Object.freeze({ default: 50, max: 1000 });

/** A cursor holds one row's order value and key; a long text order value makes a long cursor. */
const CURSOR_MAX = 65_536;

const FilterValue = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean, Schema.Null]);

export const TableListQuery = Schema.Struct({
  filters: opt(
    Schema.Record(Schema.String, FilterValue).annotate({
      description: "column → value: only rows whose column equals it (null: IS NULL); the value is checked against the column's type",
    }),
  ),
  order_by: opt(Text(200).annotate({ description: "the key or an indexed column, `-column` for descending; ties are broken by the key; default the key" })),
  limit: opt(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: TABLE_LIST_LIMIT.max }, { message: `expected a whole number from 1 to ${TABLE_LIST_LIMIT.max}` }))),
  cursor: opt(Text(CURSOR_MAX).annotate({ description: "the previous page's next_cursor (same table and order_by)" })),
}).annotate({ title: "TableListQuery" });

export type TableListQuery = typeof TableListQuery.Type;

/** A row's key: text (as in a URL path), or a number. */
export const TableKey = Schema.Union([Text(10_000).check(Schema.isMinLength(1, { message: "must not be empty" })), Schema.Finite]);

const IntString = Schema.String.check(Schema.isPattern(/^\d+$/, { message: `expected a whole number from 1 to ${TABLE_LIST_LIMIT.max}` }));

/** The query string's own parameters (every other parameter is a column filter). */
export const TableQueryString = Schema.Struct({
  order_by: opt(Text(200).annotate({ description: "the key or an indexed column, `-column` for descending; ties are broken by the key" })),
  limit: opt(IntString.annotate({ description: `1..${TABLE_LIST_LIMIT.max}, default ${TABLE_LIST_LIMIT.default}` })),
  cursor: opt(Text(CURSOR_MAX).annotate({ description: "the previous page's next_cursor" })),
});

const RESERVED = new Set(["order_by", "limit", "cursor"]);

const put = (o: Record<string, unknown>, k: string, v: unknown) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

/**
 * GET /tables/:name's query string (each name with its values, as Hono's `queries()` gives
 * them) as a list query: `order_by`, `limit` and `cursor` are the list's (empty: absent), every
 * other parameter is an equality filter on the column it names (a column with one of those three
 * names cannot be filtered over HTTP). A parameter given twice is refused.
 */
export function tableListFromQuery(queries: Readonly<Record<string, readonly string[]>>): TableListQuery {
  const own: Record<string, unknown> = {};
  const filters: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(queries)) {
    if (values.length > 1) invalid(name, `given ${values.length} times; each parameter takes one value`);
    const value = values[0] ?? "";
    if (!RESERVED.has(name)) put(filters, name, value);
    else if (value !== "") put(own, name, value);
  }
  const q = decodeInput(TableQueryString, own, "query");
  return {
    filters: filters as Record<string, string>,
    ...(q.order_by !== undefined ? { order_by: q.order_by } : {}),
    ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
  };
}

/** A value in the form SQL compares a column with (bigint as a JS bigint: exact past 2^53). */
export type StoredValue = string | number | bigint;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const REAL_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const TIMESTAMP_RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A timestamp as the replica stores it (ISO-8601 UTC with microseconds), so that
 * `2026-01-02T03:04:05Z` and `…05.000000+00:00` find the same rows. No offset means UTC.
 */
function storedTimestamp(s: string): string | undefined {
  const m = TIMESTAMP_RE.exec(s);
  if (!m) return undefined;
  const [, date, time, fraction = "", offset = "Z"] = m;
  const ms = Date.parse(`${date}T${time}${offset.toUpperCase() === "Z" ? "Z" : offset.length === 5 ? `${offset.slice(0, 3)}:${offset.slice(3)}` : offset}`);
  if (Number.isNaN(ms)) return undefined;
  return `${new Date(ms).toISOString().slice(0, 19)}.${fraction.padEnd(6, "0")}Z`;
}

/**
 * `raw` (a filter value or a key) for `column`, in its stored form; InvalidInputError for
 * `field` when it is not a value of the column's kind. Text columns take any text (the empty
 * string included: it matches empty values, not NULLs); JSON, array and vector columns are not
 * compared by equality.
 */
export function storedForm(column: ColumnSpec, raw: string | number | boolean, field: string): StoredValue {
  const s = String(raw);
  const of = `(${column.name} is ${column.kind})`;
  switch (column.kind) {
    case "text":
      return s;
    case "uuid":
      return UUID_RE.test(s) ? s.toLowerCase() : invalid(field, `expected a UUID ${of}`);
    case "int": {
      const n = Number(s);
      return /^-?\d+$/.test(s) && Number.isSafeInteger(n) ? n : invalid(field, `expected a whole number ${of}`);
    }
    case "bigint": {
      if (typeof raw === "number" && !Number.isSafeInteger(raw)) return invalid(field, `expected a whole number, past 2^53 written as a decimal string ${of}`);
      const n = /^-?\d{1,20}$/.test(s) ? BigInt(s) : undefined;
      return n !== undefined && n >= INT64_MIN && n <= INT64_MAX ? n : invalid(field, `expected a 64-bit whole number ${of}`);
    }
    case "real": {
      const n = Number(s);
      return REAL_RE.test(s) && Number.isFinite(n) ? n : invalid(field, `expected a number ${of}`);
    }
    case "bool": {
      const b = s.toLowerCase();
      return b === "true" || b === "1" ? 1 : b === "false" || b === "0" ? 0 : invalid(field, `expected true, false, 1 or 0 ${of}`);
    }
    case "timestamp":
      return storedTimestamp(s) ?? invalid(field, `expected an ISO-8601 timestamp (2026-01-02T03:04:05.123456Z) ${of}`);
    case "json":
    case "textArray":
    case "vector":
      return invalid(field, `column ${column.name} is ${column.kind}: it cannot be compared by equality`);
  }
}

/** The cursor's content: the table and order it belongs to, the last row's order value and key (bigint as text). */
interface CursorContent {
  readonly t: string;
  readonly o: string;
  readonly v: string | number | null;
  readonly k: string | number;
}

export const encodeCursor = (c: CursorContent): string => Buffer.from(JSON.stringify(c), "utf8").toString("base64url");

const badCursor = (why: string): never => invalid("cursor", `${why}; pass the next_cursor of the previous page, unchanged, with the same order_by`);

/** A cursor value in its stored form, checked against the column's kind (a cursor is input too). */
function cursorValue(column: ColumnSpec, v: unknown): StoredValue {
  switch (column.kind) {
    case "int":
    case "real":
    case "bool":
      return typeof v === "number" && Number.isFinite(v) ? v : badCursor("not a cursor of this table");
    case "bigint":
      return typeof v === "string" && /^-?\d{1,20}$/.test(v) ? BigInt(v) : badCursor("not a cursor of this table");
    default:
      return typeof v === "string" ? v : badCursor("not a cursor of this table");
  }
}

/** Decodes a cursor of `table` listed in `order` (`col` or `-col`); InvalidInputError naming `cursor` otherwise. */
export function decodeCursor(cursor: string, table: string, order: string, orderColumn: ColumnSpec, key: ColumnSpec): { value: StoredValue | null; key: StoredValue } {
  let c: Partial<CursorContent> | null;
  try {
    c = /^[A-Za-z0-9_-]+$/.test(cursor) ? (JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Partial<CursorContent>) : null;
  } catch {
    c = null;
  }
  if (c === null || typeof c !== "object" || !("k" in c) || !("v" in c)) return badCursor("not a cursor");
  if (c.t !== table) return badCursor(`a cursor of another table (${String(c.t).slice(0, 100)})`);
  if (c.o !== order) return badCursor(`a cursor of another order (order_by ${String(c.o).slice(0, 100)}, not ${order})`);
  return { value: c.v === null ? null : cursorValue(orderColumn, c.v), key: cursorValue(key, c.k) };
}
