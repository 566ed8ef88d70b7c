/**
 * Every statement this project sends to the master Postgres, in one module. The NOTIFY
 * channel name lives here and nowhere else: the trigger SQL and the listener both take it
 * from `CHANGE_CHANNEL`.
 */
import { acceptsType, EXPECTED_TYPES, type ColumnSpec, type TableDescriptor } from "../schema/tableDescriptor.ts";
import { embeddingSelect } from "./pgvector.ts";

export const SCHEMA = "embedded_memory";
/** The one NOTIFY channel; its payload is the changed table's name and the committing xid (a hint, never the data). */
export const CHANGE_CHANNEL = "embedded_memory_changes";
/**
 * Version of the objects below; bumped when they change shape. 2: the capture trigger records
 * counters-only updates as op 'c' (installStatements replaces the function on older masters).
 */
export const MASTER_SCHEMA_VERSION = "2";
/**
 * The changelog op of an UPDATE that changed only access_count / last_accessed: replicas
 * update those two columns instead of re-reading the row. (`op` is a one-byte "char".)
 */
export const COUNTERS_OP = "c";
/** The columns a counters-only change carries. */
export const COUNTER_COLUMNS: readonly string[] = ["access_count", "last_accessed"];

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const quoteLiteral = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** `schema.table` or `table` → the quoted, qualified form. */
export function qualified(table: string): string {
  return table.split(".").map(quoteIdent).join(".");
}

/** The name the trigger records and the pull asks for: schema-qualified, unquoted. */
export function changeTableName(table: string): string {
  return table.includes(".") ? table : `public.${table}`;
}

const slug = (table: string): string => changeTableName(table).replace(/[^A-Za-z0-9_]/g, "__");

/** The row trigger's function for a table (one per replicated table). */
export const captureFunction = (table: string): string => `${SCHEMA}.${quoteIdent(`capture_${slug(table)}`)}`;
/** Written into the capture function's body: checkObjects reads it to tell an outdated trigger. */
const CAPTURE_MARKER = `embedded-memory capture v${MASTER_SCHEMA_VERSION}`;

/** What the master says about one column of the replicated table. */
export interface MasterColumn {
  readonly name: string;
  /** `udt_name` from information_schema: uuid, text, jsonb, _float4, vector, timestamptz… */
  readonly udt: string;
  /** The type's schema: pgvector's send functions live there, often off the search_path (`extensions`). */
  readonly udtSchema?: string;
  /** pg_type.typcategory of the type (of its base type, for a domain): see `acceptsType`. */
  readonly category?: string;
  /** The type's oid as text: with the name, what `columnsSignature` is made of. */
  readonly typeOid?: string;
}

export const introspectColumnsSql = `
  SELECT a.attname AS name, t.typname AS udt, tn.nspname AS "udtSchema",
         coalesce(bt.typcategory, t.typcategory)::text AS category, a.atttypid::text AS "typeOid"
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
    LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
  WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

/**
 * The table's columns in one string (name:type oid, in order), computed by the pull's first
 * statement at no extra round trip: when it differs from the queries' own, the columns changed
 * (added, dropped, retyped) and the queries are rebuilt before they are used.
 */
const columnsSignatureExpr = (tableParam: number) => `(SELECT coalesce(string_agg(a.attname || ':' || a.atttypid::text, ',' ORDER BY a.attnum), '')
     FROM pg_attribute a WHERE a.attrelid = to_regclass($${tableParam}) AND a.attnum > 0 AND NOT a.attisdropped)`;

export const columnsSignature = (columns: readonly MasterColumn[]): string => columns.map((c) => `${c.name}:${c.typeOid ?? "?"}`).join(",");

/** A column the replica needs that the master lacks, or a column of a type it cannot read. */
export interface ColumnProblem {
  readonly column: string;
  readonly problem: "missing" | "incompatible";
  readonly expected: string;
  /** The master's type, for an incompatible column. */
  readonly found?: string;
}

/**
 * Checks the master's columns against the descriptor: a required column missing, or any known
 * column of a type its kind cannot read (e.g. an embedding retyped to text). Columns the
 * descriptor does not know are never a problem; optional ones may be missing.
 */
export function columnProblems(d: TableDescriptor, columns: readonly MasterColumn[]): ColumnProblem[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const problems: ColumnProblem[] = [];
  for (const spec of d.columns) {
    const m = byName.get(spec.name);
    const expected = spec.name === d.key ? `${EXPECTED_TYPES[spec.kind]}, the key` : EXPECTED_TYPES[spec.kind];
    if (!m) {
      if (spec.required || spec.name === d.key) problems.push({ column: spec.name, problem: "missing", expected });
    } else if (m.category !== undefined && !acceptsType(spec.kind, m)) {
      problems.push({ column: spec.name, problem: "incompatible", expected, found: m.udt });
    }
  }
  return problems;
}

/** The message for a problem: names the table, the column, what was expected and what to do. */
export function columnProblemMessage(d: TableDescriptor, p: ColumnProblem): string {
  const spec = d.columns.find((c) => c.name === p.column)!;
  const type = spec.createAs.split(" ")[0];
  const fix =
    p.problem === "missing"
      ? `the master table ${d.masterTable} has no column ${p.column} (${p.expected} expected): restore it (ALTER TABLE ${d.masterTable} ADD COLUMN ${p.column} ${type}), or set MEMORY_TABLE to a table that has it`
      : `the master table ${d.masterTable}'s column ${p.column} is of type ${p.found} (${p.expected} expected): change it back (ALTER TABLE ${d.masterTable} ALTER COLUMN ${p.column} TYPE ${type} USING …)${spec.required ? "" : ", or drop it (the replica syncs without it)"}`;
  return `${fix}; sync waits in backoff, retrying, and resumes without a restart once it is fixed`;
}

/** `$1` the table, `$2` its capture function's signature (`captureFunction(table) + "()"`). */
export const checkObjectsSql = `
  SELECT to_regclass($1) IS NOT NULL AS table_exists,
         (SELECT coalesce(substring(prosrc from 'embedded-memory capture v([0-9]+)')::int, 1) FROM pg_proc WHERE oid = to_regprocedure($2)) AS capture_version,
         to_regclass('${SCHEMA}.changes') IS NOT NULL AS changes_exists,
         to_regclass('${SCHEMA}.meta') IS NOT NULL AS meta_exists,
         to_regclass('${SCHEMA}.upload_receipts') IS NOT NULL AS receipts_exists,
         (SELECT count(*)::int FROM pg_trigger
            WHERE tgrelid = to_regclass($1)
              AND tgname IN ('embedded_memory_capture', 'embedded_memory_notify', 'embedded_memory_truncate')) AS triggers`;

export const readEpochSql = `SELECT value AS epoch FROM ${SCHEMA}.meta WHERE key = 'epoch'`;
export const currentSnapshotSql = `SELECT pg_current_snapshot()::text AS snapshot, (${readEpochSql}) AS epoch`;
/** The pull's first statement: new cursor, epoch, and whether changes the old cursor still needs were pruned. */
export const pullStartSql = `SELECT pg_current_snapshot()::text AS snapshot, (${readEpochSql}) AS epoch,
  COALESCE((SELECT value::xid8 FROM ${SCHEMA}.meta WHERE key = 'pruned_xid') >= pg_snapshot_xmin($1::pg_snapshot), false) AS cursor_expired,
  -- The oldest write transaction still open: the cursor waits on it (for the lag metric).
  (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float8 FROM pg_stat_activity
     WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()) AS oldest_open_xact_s,
  -- $2 the replicated table: its columns now, so a pull never runs queries built for others.
  ${columnsSignatureExpr(2)} AS columns`;
export const receiptSql = `INSERT INTO ${SCHEMA}.upload_receipts (replica_id, seq) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING`;
/** Receipts for a whole batch; returns the seqs that were new (not applied before). */
export const receiptsSql = `INSERT INTO ${SCHEMA}.upload_receipts (replica_id, seq) SELECT $1::uuid, unnest($2::bigint[]) ON CONFLICT DO NOTHING RETURNING seq`;
/** The advisory lock one prune holds at a time (the function takes it too: it is reentrant). */
export const PRUNE_LOCK = `hashtext('${SCHEMA}.prune')`;
/**
 * NULL when another session is pruning (it does the same work: this one need not wait). The
 * lock is taken here too so that a master whose function predates it is pruned one at a time.
 */
export const pruneChangesSql = `SELECT CASE WHEN pg_try_advisory_xact_lock(${PRUNE_LOCK}) THEN ${SCHEMA}.prune_changes(make_interval(secs => $1)) END AS removed`;

/** The statements `migrate` runs (and `migrate --print` shows), in one transaction. */
export function installStatements(d: TableDescriptor, columns: readonly MasterColumn[] | undefined): string[] {
  const table = qualified(d.masterTable);
  const has = (name: string | undefined): name is string =>
    name !== undefined && (columns === undefined || columns.some((c) => c.name === name));
  const key = quoteIdent(d.key);
  const tenantOld = has(d.tenantColumn) ? `OLD.${quoteIdent(d.tenantColumn)}::text` : "NULL";
  const tenantNew = has(d.tenantColumn) ? `NEW.${quoteIdent(d.tenantColumn)}::text` : "NULL";
  const name = quoteLiteral(changeTableName(d.masterTable));
  const capture = captureFunction(d.masterTable);
  // Counters-only updates are told apart only where the table has the counters. Measured with
  // 1536-d real[] embeddings (toasted): the image comparison adds ≈ 30 µs per counted row to the
  // old trigger's ≈ 15 µs; comparing to_jsonb(NEW) - counters with to_jsonb(OLD) cost 1.5–2.4 ms.
  // Without columns the table is the one created below, from the descriptor.
  const counterCols = COUNTER_COLUMNS.filter((c) => (columns ?? d.columns).some((m) => m.name === c));
  const counters = counterCols.includes("access_count");
  const counterChanged = counterCols.map((c) => `NEW.${quoteIdent(c)} IS DISTINCT FROM OLD.${quoteIdent(c)}`).join(" OR ");
  const trigger = (tgname: string, timing: string, fn: string) => `
DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ${quoteLiteral(table)}::regclass AND tgname = '${tgname}') THEN
    CREATE TRIGGER ${tgname} ${timing} ON ${table} ${fn};
  END IF;
END $do$`;
  const schema = d.masterTable.includes(".") ? d.masterTable.split(".")[0]! : undefined;
  return [
    `SELECT pg_advisory_xact_lock(hashtext('${SCHEMA}.migrate'))`,
    `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`,
    `CREATE TABLE IF NOT EXISTS ${SCHEMA}.meta (key text PRIMARY KEY, value text NOT NULL)`,
    `INSERT INTO ${SCHEMA}.meta (key, value) VALUES ('schema_version', '${MASTER_SCHEMA_VERSION}'), ('epoch', gen_random_uuid()::text), ('pruned_xid', '0')
  ON CONFLICT (key) DO NOTHING`,
    // A master installed by an earlier version records the version it now has (never lowered).
    `UPDATE ${SCHEMA}.meta SET value = '${MASTER_SCHEMA_VERSION}'
  WHERE key = 'schema_version' AND (CASE WHEN value ~ '^[0-9]+$' THEN value::int ELSE 0 END) < ${MASTER_SCHEMA_VERSION}`,
    // One row per changed row per transaction; the pull reads those whose xid became
    // visible since its previous snapshot. Never the row data: the pull joins the table.
    `CREATE TABLE IF NOT EXISTS ${SCHEMA}.changes (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  table_name text NOT NULL,
  row_id text NOT NULL,
  op "char" NOT NULL,
  tenant_id text,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
    `CREATE INDEX IF NOT EXISTS changes_xid_idx ON ${SCHEMA}.changes (xid)`,
    // One row per outbox entry a replica has applied here, written in the same transaction
    // as the entry: a retried entry finds its receipt and is not applied twice.
    `CREATE TABLE IF NOT EXISTS ${SCHEMA}.upload_receipts (
  replica_id uuid NOT NULL,
  seq bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (replica_id, seq)
)`,
    // Drops changelog rows older than the retention whose transactions every snapshot now
    // sees, and records the newest xid dropped: a replica whose cursor predates it may have
    // missed a dropped change, so it copies the table anew instead of trusting its cursor.
    // One prune at a time (any number of replicas run it): a second returns NULL at once.
    `CREATE OR REPLACE FUNCTION ${SCHEMA}.prune_changes(retention interval) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  horizon xid8;
  removed bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(${PRUNE_LOCK}) THEN RETURN NULL; END IF;
  SELECT max(xid) INTO horizon FROM ${SCHEMA}.changes
    WHERE changed_at < now() - retention AND xid < pg_snapshot_xmin(pg_current_snapshot());
  DELETE FROM ${SCHEMA}.upload_receipts WHERE applied_at < now() - retention;
  IF horizon IS NULL THEN RETURN 0; END IF;
  UPDATE ${SCHEMA}.meta SET value = horizon::text WHERE key = 'pruned_xid' AND value::xid8 < horizon;
  INSERT INTO ${SCHEMA}.meta (key, value) VALUES ('pruned_at', now()::text) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
  DELETE FROM ${SCHEMA}.changes WHERE xid <= horizon;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END $fn$`,
    ...(schema ? [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`] : []),
    `CREATE TABLE IF NOT EXISTS ${table} (\n  ${d.columns.map((c: ColumnSpec) => `${quoteIdent(c.name)} ${c.createAs}`).join(",\n  ")}\n)`,
    `CREATE OR REPLACE FUNCTION ${SCHEMA}.notify_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- One small wake-up per statement; identical payloads in a transaction collapse into one.
  -- The transaction's id lets a replica reading a standby wait until the standby has replayed it.
  PERFORM pg_notify('${CHANGE_CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME || ' ' || pg_current_xact_id()::text);
  RETURN NULL;
END $fn$`,
    `CREATE OR REPLACE FUNCTION ${SCHEMA}.new_epoch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- TRUNCATE fires no row triggers: a new epoch makes every replica copy the table anew.
  UPDATE ${SCHEMA}.meta SET value = gen_random_uuid()::text WHERE key = 'epoch';
  PERFORM pg_notify('${CHANGE_CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME || ' ' || pg_current_xact_id()::text);
  RETURN NULL;
END $fn$`,
    `CREATE OR REPLACE FUNCTION ${capture}() RETURNS trigger LANGUAGE plpgsql AS $fn$
-- ${CAPTURE_MARKER}
DECLARE
  change_op "char" := left(TG_OP, 1);${counters ? `
  probe record;` : ""}
BEGIN${counters ? `
  -- An update of the read counters alone is op '${COUNTERS_OP}': replicas copy two columns, not the row.
  -- The row is compared with the old counters put back, by binary image (*=: any column type,
  -- no equality operator needed); only updates that changed a counter pay for it.
  IF TG_OP = 'UPDATE' AND (${counterChanged}) THEN
    probe := NEW;
    ${counterCols.map((c) => `probe.${quoteIdent(c)} := OLD.${quoteIdent(c)};`).join("\n    ")}
    IF probe *= OLD THEN change_op := '${COUNTERS_OP}'; END IF;
  END IF;` : ""}
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO ${SCHEMA}.changes (table_name, row_id, op, tenant_id)
      VALUES (${name}, OLD.${key}::text, change_op, ${tenantOld});
  END IF;
  -- An update that moves the row to another key or tenant is recorded under both, so a
  -- replica filtered on the old tenant learns that the row left it.
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.${key} IS DISTINCT FROM OLD.${key}
      OR ${tenantNew} IS DISTINCT FROM ${tenantOld})) THEN
    INSERT INTO ${SCHEMA}.changes (table_name, row_id, op, tenant_id)
      VALUES (${name}, NEW.${key}::text, change_op, ${tenantNew});
  END IF;
  RETURN NULL;
END $fn$`,
    trigger("embedded_memory_capture", "AFTER INSERT OR UPDATE OR DELETE", `FOR EACH ROW EXECUTE FUNCTION ${capture}()`),
    trigger("embedded_memory_notify", "AFTER INSERT OR UPDATE OR DELETE", `FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}.notify_change()`),
    trigger("embedded_memory_truncate", "AFTER TRUNCATE", `FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}.new_epoch()`),
  ];
}

/** Builds the SELECT list and row filter for a descriptor against the master's real columns. */
export class TableQueries {
  readonly present: readonly ColumnSpec[];
  private readonly table: string;
  private readonly key: string;
  private readonly keyType: string;

  constructor(
    readonly descriptor: TableDescriptor,
    readonly masterColumns: readonly MasterColumn[],
    private readonly tenantId: string | undefined,
  ) {
    const byName = new Map(masterColumns.map((c) => [c.name, c]));
    this.present = descriptor.columns.filter((c) => byName.has(c.name));
    this.table = qualified(descriptor.masterTable);
    this.key = `t.${quoteIdent(descriptor.key)}`;
    this.keyType = byName.get(descriptor.key)?.udt ?? "text";
  }

  private udt(name: string): string {
    return this.masterColumns.find((c) => c.name === name)?.udt ?? "text";
  }

  private udtSchema(name: string): string | undefined {
    return this.masterColumns.find((c) => c.name === name)?.udtSchema;
  }

  private has(name: string | undefined): name is string {
    return name !== undefined && this.present.some((c) => c.name === name);
  }

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

  /** The counter columns the master has; none unless it has access_count (see COUNTERS_OP). */
  get counterColumns(): readonly ColumnSpec[] {
    return this.has("access_count") ? this.present.filter((c) => COUNTER_COLUMNS.includes(c.name)) : [];
  }

  /** The select list where `counters` (an SQL boolean) leaves all but the key and the counters NULL. */
  private selectListUnless(counters: string): string {
    const keep = new Set([this.descriptor.key, ...this.counterColumns.map((c) => c.name)]);
    return this.present
      .map((c) => `${keep.has(c.name) ? this.expr(c) : `CASE WHEN ${counters} THEN NULL ELSE ${this.expr(c)} END`} AS ${quoteIdent(c.name)}`)
      .join(", ");
  }

  /** Order keys the way SQLite's BINARY collation does, so keyset ranges agree. */
  private get keyOrder(): string {
    return this.keyType === "text" || this.keyType === "varchar" ? `${this.key} COLLATE "C"` : this.key;
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
    return parts.length ? parts.join(" AND ") : "true";
  }

  /** One keyset chunk of the initial copy. */
  snapshotChunk(afterKey: string | null, limit: number): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    let where = this.filter(tenantParam);
    if (afterKey !== null) where += ` AND ${this.keyOrder} > $${values.push(afterKey)}::${this.keyType}`;
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

  /** What the pull's first statement compares with (see `columnsSignature`). */
  get signature(): string {
    return columnsSignature(this.masterColumns);
  }

  /**
   * One keyset chunk of the keys of replicated rows that hold a value in any of `columns`:
   * rows copied before the master had those columns, whose local copy lacks the value.
   */
  keysWithValues(columns: readonly string[], afterKey: string | null, limit: number): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    let where = `${this.filter(tenantParam)} AND (${columns.map((c) => `t.${quoteIdent(c)} IS NOT NULL`).join(" OR ")})`;
    if (afterKey !== null) where += ` AND ${this.keyOrder} > $${values.push(afterKey)}::${this.keyType}`;
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
    const tenantParam = this.tenantId ? values.push(this.tenantId) : undefined;
    const tenantChanges = tenantParam ? ` AND (c.tenant_id = $${tenantParam} OR c.tenant_id IS NULL)` : "";
    // Masters installed by an earlier version never write op 'c': every row comes whole.
    const counters = this.counterColumns.length > 0;
    const text = `
      WITH ids AS (
        SELECT c.row_id, min(c.changed_at) AS changed_at${counters ? `, bool_and(c.op = '${COUNTERS_OP}') AS counters` : ""} FROM ${SCHEMA}.changes c
        WHERE c.table_name = $1
          -- "not visible in prev": at or past its xmax, or in progress then (its xip list).
          -- The same set as xid >= xmin AND NOT pg_visible_in_snapshot(xid, prev), but two
          -- index probes instead of a scan back to the oldest transaction open at prev.
          AND (c.xid >= pg_snapshot_xmax($2::pg_snapshot)
               OR c.xid IN (SELECT pg_snapshot_xip($2::pg_snapshot)))${tenantChanges}
        GROUP BY c.row_id
      )
      SELECT ids.row_id AS "_changed_key", (extract(epoch FROM ids.changed_at) * 1000)::float8 AS "_changed_at_ms",
        ${counters ? `ids.counters AS "_counters", ${this.selectListUnless("ids.counters")}` : `false AS "_counters", ${this.selectList}`}
      FROM ids LEFT JOIN ${this.table} t
        ON ${this.key} = ids.row_id::${this.keyType} AND ${this.filter(tenantParam)}`;
    return { text, values };
  }
}
