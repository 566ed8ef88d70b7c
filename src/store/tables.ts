/**
 * The further replicated tables in the replica file (REPLICATE_TABLES): one SQLite table per
 * master table, with the master's name (unqualified) and its columns typed as the memory table's
 * are, so `sqlite3` users can join them; and the catalog of their descriptors (replica_meta), so
 * that reads work from the file alone (CLI `tables`, `get`) and a changed configuration is seen.
 */
import type Database from "better-sqlite3";
import type { ColumnKind, TableDescriptor } from "../schema/tableDescriptor.ts";

/** replica_meta: the JSON array of the further tables' descriptors. */
export const CATALOG_KEY = "replicated_tables";

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The SQLite type a column kind is stored as (as in the memory table: see migration 1). */
export function sqliteType(kind: ColumnKind): string {
  switch (kind) {
    case "real":
      return "REAL";
    case "int":
    case "bigint":
    case "bool":
      return "INTEGER";
    case "vector":
      return "BLOB";
    default:
      return "TEXT";
  }
}

/**
 * An index's name: table and column joined by a colon, which no validated table or column name
 * holds (`a` + `b_c` and `a_b` + `c` must not meet, nor the memory table's own indexes).
 */
const indexName = (d: TableDescriptor, column: string): string => q(`${d.localName}:${column}`);

/** The DDL of one further table: the table, keyed by its key column, and its indexes. */
export function tableDdl(d: TableDescriptor): string[] {
  const cols = d.columns.map((c) => `${q(c.name)} ${sqliteType(c.kind)}${c.name === d.key ? " PRIMARY KEY" : ""}`);
  return [
    `CREATE TABLE IF NOT EXISTS ${q(d.localName)} (\n  ${cols.join(",\n  ")}\n)`,
    ...(d.indexes ?? []).filter((c) => c !== d.key).map((c) => `CREATE INDEX IF NOT EXISTS ${indexName(d, c)} ON ${q(d.localName)} (${q(c)})`),
  ];
}

/** The descriptors the file holds (none before the first connect that named further tables). */
export function readCatalog(db: Database.Database): TableDescriptor[] {
  const raw = db.prepare("SELECT value FROM replica_meta WHERE key = ?").pluck().get(CATALOG_KEY) as string | undefined;
  return raw ? (JSON.parse(raw) as TableDescriptor[]).map((d) => Object.freeze(d)) : [];
}

/** What must match for a local table to be kept: its key and columns (name and kind, in order). */
const shapeOf = (d: TableDescriptor): string => JSON.stringify([d.key, d.columns.map((c) => [c.name, c.kind])]);

/**
 * Makes the file hold exactly these further tables, in one transaction: a table new here is
 * created; one whose key or columns changed is dropped and created anew (its sync state too, so
 * it is copied again); one no longer configured is dropped with its sync state. Returns the
 * local names that were (re)created.
 */
export function ensureTables(db: Database.Database, tables: readonly TableDescriptor[]): string[] {
  return db.transaction(() => {
    const before = new Map(readCatalog(db).map((d) => [d.localName, d]));
    const created: string[] = [];
    const drop = (name: string) => {
      db.exec(`DROP TABLE IF EXISTS ${q(name)}`);
      db.prepare("DELETE FROM sync_state WHERE table_name = ?").run(name);
    };
    for (const [name] of before) if (!tables.some((d) => d.localName === name)) drop(name);
    for (const d of tables) {
      const old = before.get(d.localName);
      if (old && shapeOf(old) !== shapeOf(d)) drop(d.localName);
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(d.localName) !== undefined;
      if (!exists) created.push(d.localName);
      for (const sql of tableDdl(d)) db.exec(sql);
      // Indexes no longer named are dropped (the shape check leaves the table itself alone).
      for (const c of old?.indexes ?? []) if (!(d.indexes ?? []).includes(c)) db.exec(`DROP INDEX IF EXISTS ${indexName(d, c)}`);
    }
    const catalog = JSON.stringify(tables);
    db.prepare("INSERT INTO replica_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(CATALOG_KEY, catalog);
    return created;
  })();
}
