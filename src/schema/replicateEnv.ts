/**
 * The further tables as the CLI is given them: REPLICATE_TABLES (`name` or `name:<predicate>`,
 * comma-separated) and REPLICATE_CONFIG (a JSON file). Both may be set; the tables are the union,
 * decoded later with the rest of the config (decodeReplicatedTables), each error naming the
 * variable the entry came from. Only loadConfig reads the file: makeConfig reads nothing.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "./configError.ts";
import { scanSql, type TableSource } from "./replicatedTables.ts";

/**
 * Splits REPLICATE_TABLES into its entries: on commas outside quotes and parentheses (a
 * predicate's `IN ('a','b')` stays whole), each entry on its first colon (a predicate may hold
 * `::` casts). Empty entries (a trailing comma) are skipped, as in API_KEYS.
 */
export function parseReplicateTables(text: string): { name: string; filter?: string }[] {
  const cuts: number[] = [];
  // A stray `)` leaves the depth below 0: still a place to cut, and the filter check names it.
  scanSql(text, (i, depth) => {
    if (text[i] === "," && depth <= 0) cuts.push(i);
  });
  const parts = [-1, ...cuts].map((start, k) => text.slice(start + 1, cuts[k] ?? text.length));
  return parts
    .filter((p) => p.trim() !== "")
    .map((p) => {
      const colon = p.indexOf(":");
      return colon < 0 ? { name: p.trim() } : { name: p.slice(0, colon).trim(), filter: p.slice(colon + 1).trim() };
    });
}

/** The entries of a REPLICATE_CONFIG file's text: `{"tables": [...]}` or a bare array. Throws the message without the file. */
export function tablesOfJson(text: string): { entries: unknown[]; at: (j: number) => string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message})`);
  }
  if (Array.isArray(doc)) return { entries: doc, at: (j) => `[${j}]` };
  if (doc === null || typeof doc !== "object" || !("tables" in doc)) throw new Error('expected {"tables": [...]} or a JSON array of tables');
  const extra = Object.keys(doc).find((k) => k !== "tables");
  if (extra !== undefined) throw new Error(`unknown key "${extra}" (expected only "tables")`);
  const tables = (doc as { tables: unknown }).tables;
  if (!Array.isArray(tables)) throw new Error("tables: expected an array of tables");
  return { entries: tables, at: (j) => `tables[${j}]` };
}

function readConfigFile(raw: string): { entries: unknown[]; at: (j: number) => string } {
  const file = path.resolve(raw.trim());
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError("REPLICATE_CONFIG", `${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const { entries, at } = tablesOfJson(text);
    return { entries, at: (j) => `${file}: ${at(j)}` };
  } catch (e) {
    throw new ConfigError("REPLICATE_CONFIG", `${file}: ${(e as Error).message}`);
  }
}

const isSet = (v: string | undefined): v is string => v !== undefined && v.trim() !== "";

/** The union of REPLICATE_TABLES and REPLICATE_CONFIG, with each entry's source; undefined when neither is set. Throws ConfigError for a file it cannot read. */
export function replicatedTablesFromEnv(env: Readonly<Record<string, string | undefined>>): { entries: unknown[]; sourceOf: (i: number) => TableSource } | undefined {
  const { REPLICATE_TABLES: tables, REPLICATE_CONFIG: file } = env;
  if (!isSet(tables) && !isSet(file)) return undefined;
  const listed = isSet(tables) ? parseReplicateTables(tables) : [];
  const fromFile = isSet(file) ? readConfigFile(file) : { entries: [], at: (j: number) => `[${j}]` };
  return {
    entries: [...listed, ...fromFile.entries],
    sourceOf: (i) => (i < listed.length ? { variable: "REPLICATE_TABLES", at: `[${i}]` } : { variable: "REPLICATE_CONFIG", at: fromFile.at(i - listed.length) }),
  };
}
