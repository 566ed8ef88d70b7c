/**
 * What `migrate` installs on the master (schema `embedded_memory`: meta with the epoch and the
 * version marker, the changelog, upload receipts, the prune function, the capture, notify and
 * truncate triggers), the check of what is installed, and the call of the prune function. The
 * capture function's body carries a version marker that `checkObjectsSql` reads back.
 */
import type { ColumnSpec, TableDescriptor } from "../schema/tableDescriptor.ts";
import type { MasterColumn } from "./columnsSql.ts";
import { CHANGE_CHANNEL, changeTableName, COUNTER_COLUMNS, COUNTERS_OP, qualified, quoteIdent, quoteLiteral, SCHEMA, tableEpochKeyExpr } from "./masterSql.ts";

/**
 * Version of the objects below; bumped when they change shape (installStatements replaces the
 * functions on older masters). 2: the capture trigger records counters-only updates as op 'c'.
 * 3: keys compared as text in the trigger (a citext key changed in case is another key), upload
 * receipts kept four times the changelog retention (at least 30 days).
 */
export const MASTER_SCHEMA_VERSION = "3";

const slug = (table: string): string => changeTableName(table).replace(/[^A-Za-z0-9_]/g, "__");

/** The row trigger's function for a table (one per replicated table). */
export const captureFunction = (table: string): string => `${SCHEMA}.${quoteIdent(`capture_${slug(table)}`)}`;
/** Written into the capture function's body: checkObjects reads it to tell an outdated trigger. */
const CAPTURE_MARKER = `embedded-memory capture v${MASTER_SCHEMA_VERSION}`;

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
  const counterCols = d.localWrites ? COUNTER_COLUMNS.filter((c) => (columns ?? d.columns).some((m) => m.name === c)) : [];
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
  -- Receipts outlive the changelog: an entry whose acknowledgement was lost and that is sent
  -- again after a long absence (a re-copy keeps the outbox) must still find its receipt.
  DELETE FROM ${SCHEMA}.upload_receipts WHERE applied_at < now() - greatest(retention * 4, interval '30 days');
  IF horizon IS NULL THEN RETURN 0; END IF;
  UPDATE ${SCHEMA}.meta SET value = horizon::text WHERE key = 'pruned_xid' AND value::xid8 < horizon;
  INSERT INTO ${SCHEMA}.meta (key, value) VALUES ('pruned_at', now()::text) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
  DELETE FROM ${SCHEMA}.changes WHERE xid <= horizon;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END $fn$`,
    // The memory table is created when missing; a further table (REPLICATE_TABLES) is someone
    // else's: it must exist, and only its triggers are installed.
    ...(d.localWrites && schema ? [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`] : []),
    ...(d.localWrites ? [`CREATE TABLE IF NOT EXISTS ${table} (\n  ${d.columns.map((c: ColumnSpec) => `${quoteIdent(c.name)} ${c.createAs}`).join(",\n  ")}\n)`] : []),
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
    ...(d.localWrites ? [] : [`CREATE OR REPLACE FUNCTION ${SCHEMA}.new_table_epoch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- A further table's TRUNCATE (REPLICATE_TABLES): that table alone is copied anew, not the memories.
  INSERT INTO ${SCHEMA}.meta (key, value) VALUES (${tableEpochKeyExpr("TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME")}, gen_random_uuid()::text)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
  PERFORM pg_notify('${CHANGE_CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME || ' ' || pg_current_xact_id()::text);
  RETURN NULL;
END $fn$`]),
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
  -- Keys compared as text: a citext key changed only in case is another key here.
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.${key}::text IS DISTINCT FROM OLD.${key}::text
      OR ${tenantNew} IS DISTINCT FROM ${tenantOld})) THEN
    INSERT INTO ${SCHEMA}.changes (table_name, row_id, op, tenant_id)
      VALUES (${name}, NEW.${key}::text, change_op, ${tenantNew});
  END IF;
  RETURN NULL;
END $fn$`,
    trigger("embedded_memory_capture", "AFTER INSERT OR UPDATE OR DELETE", `FOR EACH ROW EXECUTE FUNCTION ${capture}()`),
    trigger("embedded_memory_notify", "AFTER INSERT OR UPDATE OR DELETE", `FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}.notify_change()`),
    // A further table's TRUNCATE trigger made by an earlier build called new_epoch (copying every
    // table anew): it is made again with the table's own epoch.
    ...(d.localWrites
      ? []
      : [
          `DO $do$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ${quoteLiteral(table)}::regclass AND tgname = 'embedded_memory_truncate'
               AND tgfoid = to_regprocedure('${SCHEMA}.new_epoch()')) THEN
    DROP TRIGGER embedded_memory_truncate ON ${table};
  END IF;
END $do$`,
        ]),
    trigger("embedded_memory_truncate", "AFTER TRUNCATE", `FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}.${d.localWrites ? "new_epoch" : "new_table_epoch"}()`),
  ];
}
