/**
 * `tables [--json]` and `get <table> <key> [--json]`: the replicated tables' counts and one row,
 * read from the replica file alone (no master, no DATABASE_URL); a table the configuration names
 * that the file does not hold yet is listed with 0 rows, not complete. A person looking from the
 * command line sees every tenant's rows, as `sqlite3` on the file would.
 */
import { existsSync } from "node:fs";
import type { Config } from "../schema/config.ts";
import { makeLocalStore } from "../store/LocalStore.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";
import { makeTableReader, type TableReader } from "../runtime/tables.ts";

function withReader<T>(config: Config, f: (reader: TableReader) => T): T {
  if (!existsSync(config.localPath)) throw new Error(`no replica file at ${config.localPath} (run 'embedded-memory sync' or 'serve' first, or set EMBEDDED_MEMORY_PATH)`);
  const store = makeLocalStore(config.localPath);
  try {
    // The configuration's tables too: one the file lacks yet is listed (0 rows, not complete), and `get` finds no row in it.
    return f(makeTableReader(store, memoryTableDescriptor(config.memoryTable), config.replicatedTables));
  } finally {
    store.close();
  }
}

/** Left-aligned columns, two spaces apart. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}

export function printTables(config: Config, json: boolean, out: (t: string) => void): number {
  const summaries = withReader(config, (r) => r.summaries());
  if (json) out(JSON.stringify(summaries, null, 2));
  else {
    // "complete no": not copied yet, or being copied anew; its rows may be missing.
    const rows = Object.entries(summaries).map(([name, s]) => [name, String(s.rows), s.snapshot_complete ? "yes" : "no", s.last_sync ?? "never", s.filter ?? "-"]);
    for (const line of columns([["table", "rows", "complete", "last sync", "filter"], ...rows])) out(line);
  }
  return 0;
}

/** Exit 0 with the row, 1 when there is none; an unknown table or a bad key is bad input (exit 2). */
export function printRow(config: Config, table: string, key: string, json: boolean, out: (t: string) => void): number {
  const row = withReader(config, (r) => r.table(table).get(key));
  if (!row) throw new Error(`no row ${key.length > 100 ? `${key.slice(0, 100)}…` : key} in table ${table}`);
  out(json ? JSON.stringify(row) : JSON.stringify(row, null, 2));
  return 0;
}
