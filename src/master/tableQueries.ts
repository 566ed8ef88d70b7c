/**
 * The statements of one replicated table, built for the master's actual columns: the snapshot's
 * keyset chunks, the changes since a cursor, rows by key, and the uploads (upserts, deletes,
 * access deltas). Each column is read through one normalising expression (see ColumnKind).
 */
import type { ColumnSpec, TableDescriptor } from "../schema/tableDescriptor.ts";
import { columnsSignature, type MasterColumn } from "./columnsSql.ts";
import { changeTableName, COUNTER_COLUMNS, COUNTERS_OP, qualified, quoteIdent, SCHEMA } from "./masterSql.ts";
import { embeddingSelect } from "./pgvector.ts";

/** Key types whose own order is SQLite's order of their stored form (see TableQueries.keyOrder). */
const NATIVE_KEY_TYPES = new Set(["uuid", "int2", "int4", "int8"]);

/** Builds the SELECT list and row filter for a descriptor against the master's real columns. */
export class TableQueries {
  readonly present: readonly ColumnSpec[];
  private readonly table: string;
  private readonly key: string;
  private readonly keyType: string;
  private readonly byName: ReadonlyMap<string, MasterColumn>;

  constructor(
    readonly descriptor: TableDescriptor,
    readonly masterColumns: readonly MasterColumn[],
    private readonly tenantId: string | undefined,
  ) {
    const byName = (this.byName = new Map(masterColumns.map((c) => [c.name, c])));
    this.present = descriptor.columns.filter((c) => byName.has(c.name));
    this.table = qualified(descriptor.masterTable);
    this.key = `t.${quoteIdent(descriptor.key)}`;
    this.keyType = byName.get(descriptor.key)?.udt ?? "text";
  }

  /** A column's type name on the master (text when it has no such column) and its type's schema. */
  private udt = (name: string): string => this.byName.get(name)?.udt ?? "text";
  private udtSchema = (name: string): string | undefined => this.byName.get(name)?.udtSchema;
  private has = (name: string | undefined): name is string => name !== undefined && this.present.some((c) => c.name === name);

  /** The expression that yields a column's normalised value (see ColumnKind). */
  private expr(c: ColumnSpec): string {
    const ref = `t.${quoteIdent(c.name)}`;
    const udt = this.udt(c.name);
    switch (c.kind) {
      case "uuid":
      case "text":
      case "json":
        return `${ref}::text`;
      case "textArray":
        return udt.startsWith("_") ? `to_json(${ref})::text` : `${ref}::text`;
      case "real":
        return udt === "float4" || udt === "float8" ? ref : `${ref}::float8`;
      case "int":
        return udt === "int2" || udt === "int4" ? ref : `${ref}::float8`;
      case "bigint":
        // Text, not a JS number: exact past 2^53 (the local INTEGER column takes it back).
        return `${ref}::text`;
      case "timestamp":
        return udt === "timestamptz"
          ? `to_char(${ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
          : `to_char(${ref}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
      case "bool":
        return `${ref}::int`;
      case "vector":
        // Always bytea, never text: formatting floats as text was most of a snapshot's time
        // (≈1.8× the fetch rate, measured). pgvector's vector/halfvec go in their own send
        // format (half the bytes of a real[] cast), arrays as array_send(::real[]);
        // Master.rowTypes decodes either into a float32 BLOB (see pgvector.ts).
        return embeddingSelect(ref, udt, this.udtSchema(c.name));
    }
  }

  get selectList(): string {
    return this.present.map((c) => `${this.expr(c)} AS ${quoteIdent(c.name)}`).join(", ");
  }

  /**
   * The counter columns the master has; none unless it has access_count (see COUNTERS_OP), and
   * none for a further table (read-only here: its changes always come as whole rows).
   */
  get counterColumns(): readonly ColumnSpec[] {
    return this.descriptor.localWrites && this.has("access_count") ? this.present.filter((c) => COUNTER_COLUMNS.includes(c.name)) : [];
  }

  /** The select list where `counters` (an SQL boolean) leaves all but the key and the counters NULL. */
  private selectListUnless(counters: string): string {
    const keep = new Set([this.descriptor.key, ...this.counterColumns.map((c) => c.name)]);
    return this.present
      .map((c) => `${keep.has(c.name) ? this.expr(c) : `CASE WHEN ${counters} THEN NULL ELSE ${this.expr(c)} END`} AS ${quoteIdent(c.name)}`)
      .join(", ");
  }

  /**
   * Keys in the order SQLite's BINARY collation gives them, so keyset ranges agree (a copy's
   * range deletes rely on it): uuids and integers natively; every other type — text, varchar,
   * char(n), citext, enums, domains, numeric, any collation — by its text form, byte for byte.
   */
  private get nativeKey(): boolean {
    return NATIVE_KEY_TYPES.has(this.keyType);
  }
  private get keyOrder(): string {
    return this.nativeKey ? this.key : `(${this.key}::text) COLLATE "C"`;
  }
  /**
   * The row whose key is the changelog's text `rowId`: by the key's text form unless native (a
   * citext key changed only in case is another row here, as in the trigger and in SQLite).
   */
  private keyMatches(rowId: string): string {
    // The typed equality keeps the key's index (citext, enums, char(n), numeric); the text one
    // makes it exact (a citext key changed only in case is another row).
    return this.nativeKey ? `${this.key} = ${rowId}::${this.keyType}` : `${this.key} = ${rowId}::${this.keyTypeQualified} AND ${this.key}::text = ${rowId}`;
  }
  /** The key's type, schema-qualified unless built in (citext often lives in `extensions`). */
  private get keyTypeQualified(): string {
    const schema = this.udtSchema(this.descriptor.key);
    return schema && schema !== "pg_catalog" ? `${quoteIdent(schema)}.${quoteIdent(this.keyType)}` : this.keyType;
  }
  /** A keyset bound in the same terms as keyOrder. */
  private afterKey(param: number): string {
    return this.nativeKey ? `$${param}::${this.keyType}` : `$${param}::text COLLATE "C"`;
  }

  /** The predicate a row must meet to be replicated; `$tenant` is the parameter index. */
  private filter(tenantParam: number | undefined): string {
    const d = this.descriptor;
    const parts: string[] = [];
    if (this.has(d.archivedColumn)) parts.push(`t.${quoteIdent(d.archivedColumn)} IS NOT TRUE`);
    if (this.has(d.expiresColumn)) parts.push(`(t.${quoteIdent(d.expiresColumn)} IS NULL OR t.${quoteIdent(d.expiresColumn)} > now())`);
    if (tenantParam !== undefined && this.has(d.tenantColumn)) {
      parts.push(`(t.${quoteIdent(d.tenantColumn)}::text = $${tenantParam} OR t.${quoteIdent(d.tenantColumn)} IS NULL)`);
    }
    // The operator's predicate (REPLICATE_TABLES), planned by the master at connect (tableShape.ts).
    if (d.filter !== undefined) parts.push(`(${d.filter})`);
    return parts.length ? parts.join(" AND ") : "true";
  }

  /** One keyset chunk of the initial copy. */
  snapshotChunk(afterKey: string | null, limit: number): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    let where = this.filter(tenantParam);
    if (afterKey !== null) where += ` AND ${this.keyOrder} > ${this.afterKey(values.push(afterKey))}`;
    const text = `SELECT ${this.selectList} FROM ${this.table} t WHERE ${where} ORDER BY ${this.keyOrder} LIMIT $${values.push(limit)}`;
    return { text, values };
  }

  /**
   * The type a parameter is cast to for a column (`_text` → `text[]`). Vectors go as real[]
   * whatever the column: pgvector's real[] → vector/halfvec casts are assignment casts, so
   * the INSERT/UPDATE converts (and checks the dimension) on the master.
   */
  private paramType(c: ColumnSpec): string {
    if (c.kind === "vector") return "real[]";
    const udt = this.udt(c.name);
    return udt.startsWith("_") ? `${udt.slice(1)}[]` : udt;
  }

  /**
   * Upload of one local write: insert, or update when the incoming version is not older
   * (last writer wins on updated_at; a tie goes to the incoming write, so a retry is
   * harmless). Access counts are never written here (see `accessDelta`).
   */
  upsert(columns: readonly string[]): { text: string; columns: ColumnSpec[] } {
    const cols = this.present.filter((c) => columns.includes(c.name) && c.name !== "access_count" && c.name !== "last_accessed");
    const k = this.descriptor.key;
    const names = cols.map((c) => quoteIdent(c.name));
    const params = cols.map((c, i) => `$${i + 1}::${this.paramType(c)}`);
    const updates = cols.filter((c) => c.name !== k && c.name !== "created_at").map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
    const lww = this.has("updated_at") && cols.some((c) => c.name === "updated_at") ? ` WHERE t.updated_at IS NULL OR t.updated_at <= EXCLUDED.updated_at` : "";
    const text = `INSERT INTO ${this.table} AS t (${names.join(", ")}) VALUES (${params.join(", ")})
      ON CONFLICT (${quoteIdent(k)}) DO UPDATE SET ${updates.join(", ")}${lww}`;
    return { text, columns: cols };
  }

  /**
   * The same upload for many rows at once (distinct keys), from a JSON array of payloads:
   * scalars travel as JSON text and are cast here; tags and vectors as JSON arrays.
   */
  upsertMany(columns: readonly string[]): { text: string } {
    const { columns: cols } = this.upsert(columns);
    const k = this.descriptor.key;
    const recordType = (c: ColumnSpec) => (c.kind === "textArray" && this.udt(c.name).startsWith("_") ? "text[]" : c.kind === "vector" ? "real[]" : "text");
    const value = (c: ColumnSpec) => (recordType(c) === "text" ? `r.${quoteIdent(c.name)}::${this.paramType(c)}` : `r.${quoteIdent(c.name)}`);
    const updates = cols.filter((c) => c.name !== k && c.name !== "created_at").map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
    const lww = this.has("updated_at") && cols.some((c) => c.name === "updated_at") ? ` WHERE t.updated_at IS NULL OR t.updated_at <= EXCLUDED.updated_at` : "";
    const text = `INSERT INTO ${this.table} AS t (${cols.map((c) => quoteIdent(c.name)).join(", ")})
      SELECT ${cols.map(value).join(", ")} FROM jsonb_to_recordset($1::jsonb) AS r(${cols.map((c) => `${quoteIdent(c.name)} ${recordType(c)}`).join(", ")})
      ON CONFLICT (${quoteIdent(k)}) DO UPDATE SET ${updates.join(", ")}${lww}`;
    return { text };
  }

  /** Many deletes at once: `$1` a JSON array of {id, deleted_at}. */
  removeMany(mode: "hard" | "soft"): string {
    const newer = this.has("updated_at") ? ` AND (t.updated_at IS NULL OR t.updated_at <= r.deleted_at)` : "";
    const match = `FROM jsonb_to_recordset($1::jsonb) AS r(id text, deleted_at timestamptz) WHERE ${this.key} = r.id::${this.keyType}${newer}`;
    if (mode === "soft" && this.has(this.descriptor.expiresColumn)) return `UPDATE ${this.table} AS t SET ${quoteIdent(this.descriptor.expiresColumn)} = now() ${match}`;
    return `DELETE FROM ${this.table} AS t USING (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, deleted_at timestamptz)) AS r WHERE ${this.key} = r.id::${this.keyType}${newer}`;
  }

  /** Many access deltas at once: `$1` a JSON array of {id, delta, last_accessed}. */
  get accessDeltaMany(): string | undefined {
    if (!this.has("access_count")) return undefined;
    const last = this.has("last_accessed") ? `, last_accessed = greatest(t.last_accessed, r.last_accessed)` : "";
    return `UPDATE ${this.table} AS t SET access_count = coalesce(t.access_count, 0) + r.delta${last}
      FROM jsonb_to_recordset($1::jsonb) AS r(id text, delta int, last_accessed timestamptz) WHERE ${this.key} = r.id::${this.keyType}`;
  }

  /** A local delete: hard, or soft (expires_at = now()) — unless the master's row is newer. */
  remove(mode: "hard" | "soft"): string {
    const newer = this.has("updated_at") ? ` AND (t.updated_at IS NULL OR t.updated_at <= $2::timestamptz)` : ` AND $2::timestamptz IS NOT NULL`;
    if (mode === "soft" && this.has(this.descriptor.expiresColumn)) {
      return `UPDATE ${this.table} AS t SET ${quoteIdent(this.descriptor.expiresColumn)} = now() WHERE ${this.key} = $1::${this.keyType}${newer}`;
    }
    return `DELETE FROM ${this.table} AS t WHERE ${this.key} = $1::${this.keyType}${newer}`;
  }

  /** Adds an access delta: never overwrites another replica's count. */
  get accessDelta(): string | undefined {
    if (!this.has("access_count")) return undefined;
    const last = this.has("last_accessed") ? `, last_accessed = greatest(t.last_accessed, $3::timestamptz)` : "";
    return `UPDATE ${this.table} AS t SET access_count = coalesce(t.access_count, 0) + $2${last} WHERE ${this.key} = $1::${this.keyType}`;
  }

  /** Current state of some rows (refresh after an upload): absent or filtered rows are missing. */
  rowsByKey(keys: readonly string[]): { text: string; values: unknown[] } {
    const values: unknown[] = [keys];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    return { text: `SELECT ${this.selectList} FROM ${this.table} t WHERE ${this.key} = ANY($1::${this.keyType}[]) AND ${this.filter(tenantParam)}`, values };
  }

  /** What the pull's first statement compares with (see `columnsSignature`); every pull reads it, the columns never change. */
  get signature(): string {
    return (this.signatureText ??= columnsSignature(this.masterColumns));
  }
  private signatureText: string | undefined;

  /**
   * One keyset chunk of the keys of replicated rows that hold a value in any of `columns`:
   * rows copied before the master had those columns, whose local copy lacks the value.
   */
  keysWithValues(columns: readonly string[], afterKey: string | null, limit: number): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    let where = `${this.filter(tenantParam)} AND (${columns.map((c) => `t.${quoteIdent(c)} IS NOT NULL`).join(" OR ")})`;
    if (afterKey !== null) where += ` AND ${this.keyOrder} > ${this.afterKey(values.push(afterKey))}`;
    return { text: `SELECT ${this.key}::text AS key FROM ${this.table} t WHERE ${where} ORDER BY ${this.keyOrder} LIMIT $${values.push(limit)}`, values };
  }

  /** Every replicated row in key order (for verify). */
  allRows(): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    return { text: `SELECT ${this.selectList} FROM ${this.table} t WHERE ${this.filter(tenantParam)} ORDER BY ${this.keyOrder}`, values };
  }

  /**
   * The rows changed by transactions that became visible since `prev` (a pg_snapshot
   * text), joined with their current state: a NULL key means "not here any more". A row
   * whose every change in that set is counters-only (`_counters`) comes with its key and
   * counters alone: the other columns are NULL and never read (a 6 KB embedding stays put).
   * Run inside a REPEATABLE READ transaction whose snapshot is the new cursor.
   */
  changesSince(prev: string): { text: string; values: unknown[] } {
    const values: unknown[] = [changeTableName(this.descriptor.masterTable), prev];
    if (this.tenantId) values.push(this.tenantId);
    // The same text every pull (only the values move): built once, its template parsed once (script.ts).
    this.changesText ??= this.buildChangesText(this.tenantId ? 3 : undefined);
    return { text: this.changesText, values };
  }
  private changesText: string | undefined;

  private buildChangesText(tenantParam: number | undefined): string {
    const tenantChanges = tenantParam ? ` AND (c.tenant_id = $${tenantParam} OR c.tenant_id IS NULL)` : "";
    // Masters installed by an earlier version never write op 'c': every row comes whole.
    const counters = this.counterColumns.length > 0;
    const text = `
      WITH ids AS (
        SELECT c.row_id AS em_row_id, min(c.changed_at) AS em_changed_at${counters ? `, bool_and(c.op = '${COUNTERS_OP}') AS em_counters` : ""} FROM ${SCHEMA}.changes c
        WHERE c.table_name = $1
          -- "not visible in prev": at or past its xmax, or in progress then (its xip list):
          -- two index probes (a BitmapOr), not a scan. = ANY (ARRAY(…)), as IN (SELECT …) is a
          -- hashed subplan no index serves: every pull read the whole changelog (test/pullPlan).
          AND (c.xid >= pg_snapshot_xmax($2::pg_snapshot)
               OR c.xid = ANY (ARRAY(SELECT pg_snapshot_xip($2::pg_snapshot))))${tenantChanges}
        GROUP BY c.row_id
      ) -- (em_ names: a row filter's unqualified columns must not meet these)
      SELECT ids.em_row_id AS "_changed_key", (extract(epoch FROM ids.em_changed_at) * 1000)::float8 AS "_changed_at_ms",
        ${counters ? `ids.em_counters AS "_counters", ${this.selectListUnless("ids.em_counters")}` : `false AS "_counters", ${this.selectList}`}
      FROM ids LEFT JOIN ${this.table} t
        ON ${this.keyMatches("ids.em_row_id")} AND ${this.filter(tenantParam)}`;
    return text;
  }

  /** changesSince, at most `rows` of them (a one-trip pull asks one more than a batch: more means it did not see them all). */
  changesSinceAtMost(prev: string, rows: number): { text: string; values: unknown[] } {
    const { text, values } = this.changesSince(prev);
    if (this.bounded?.rows !== rows) this.bounded = { rows, text: `SELECT * FROM (${text}\n) AS em_pull LIMIT ${rows}` };
    return { text: this.bounded.text, values };
  }
  private bounded: { rows: number; text: string } | undefined;
}
