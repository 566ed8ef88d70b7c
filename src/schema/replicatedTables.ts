/**
 * The further master tables a replica copies beside the memory table (REPLICATE_TABLES,
 * REPLICATE_CONFIG): each with an optional row filter, the columns to keep, its key and the
 * columns to index locally. What is not given is read from the master at start (its primary key,
 * its columns, its single-column indexes). makeConfig and the CLI decode them with the same
 * checks (decodeReplicatedTables); the master plans each filter later, at start.
 */
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";

/** The local name of a master table: its name without the schema. */
export const localTableName = (name: string): string => name.slice(name.lastIndexOf(".") + 1);

/** The replica file's own tables: a replicated table may not take their names. */
export const RESERVED_LOCAL_NAMES: readonly string[] = [
  "unified_ai_memory",
  "sync_state",
  "memory_rowids",
  "memory_fts",
  "access_deltas",
  "local_embeddings",
  "outbox",
  "replica_meta",
  "refresh_due",
];
/** SQLite keeps `sqlite_*` for itself; FTS5 keeps memory_fts's shadow tables as `memory_fts_*`. */
export const RESERVED_LOCAL_PREFIXES: readonly string[] = ["sqlite_", "memory_fts_"];

/** SQLite compares table and column names without case, so two names that differ only in case clash. */
const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** Why a local table name cannot be used, if it cannot. */
export function reservedLocalNameProblem(name: string): string | undefined {
  const local = localTableName(name).toLowerCase();
  if (local === "unified_ai_memory") return `the local table "${local}" is where the memory table is kept`;
  if (RESERVED_LOCAL_NAMES.includes(local) || RESERVED_LOCAL_PREFIXES.some((p) => local.startsWith(p))) return `the local table "${local}" would clash with one of the replica file's own tables`;
  return undefined;
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export interface SqlScan {
  /** The kind of quote left open at the end, if one is. */
  readonly unclosed?: string;
  /** Every `)` closes an earlier `(` and every `(` is closed. */
  readonly balanced: boolean;
}

/**
 * Walks SQL text as Postgres's lexer sees its quotes (standard_conforming_strings on, the default
 * since 9.1): 'strings' (with '' inside, and backslash escapes in E'…'), "identifiers" and
 * $tag$dollar quotes$tag$. `visit` sees each character outside them, with the parenthesis depth
 * after it.
 */
export function scanSql(text: string, visit?: (i: number, depth: number) => void): SqlScan {
  let depth = 0;
  let balanced = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(text[i - 1] ?? "") && !IDENT_CHAR.test(text[i - 2] ?? "");
      let j = i + 1;
      for (;;) {
        if (j >= text.length) return { unclosed: c === "'" ? "string literal (')" : 'quoted identifier (")', balanced };
        if (escapes && text[j] === "\\") j += 2;
        else if (text[j] === c && text[j + 1] === c) j += 2;
        else if (text[j] === c) break;
        else j++;
      }
      i = j;
      continue;
    }
    if (c === "$" && !IDENT_CHAR.test(text[i - 1] ?? "")) {
      const tag = DOLLAR_TAG.exec(text.slice(i))?.[0];
      if (tag !== undefined) {
        const end = text.indexOf(tag, i + tag.length);
        if (end < 0) return { unclosed: `dollar-quoted string (${tag})`, balanced };
        i = end + tag.length - 1;
        continue;
      }
    }
    if (c === "(") depth++;
    else if (c === ")" && --depth < 0) balanced = false;
    visit?.(i, depth);
  }
  return { balanced: balanced && depth === 0 };
}

/**
 * What makes a row filter unusable before the master sees it: it must be one predicate, so no
 * `;` (a second statement), no comment (which could hide the rest of the statement it is put
 * into) and no unbalanced parenthesis (which could close the statement's own) outside quotes.
 */
export function filterProblem(filter: string): string | undefined {
  if (filter.trim() === "") return "must not be empty";
  let found: string | undefined;
  const scan = scanSql(filter, (i) => {
    const two = filter.slice(i, i + 2);
    if (found !== undefined) return;
    if (filter[i] === ";") found = "must be one SQL predicate: ';' is not allowed outside a string literal";
    else if (two === "--" || two === "/*") found = `must not hold a comment (${two}) outside a string literal`;
  });
  if (found !== undefined) return found;
  if (scan.unclosed !== undefined) return `has an unterminated ${scan.unclosed}`;
  return scan.balanced ? undefined : "has unbalanced parentheses";
}

const firstDuplicate = (names: readonly string[]): string | undefined => names.find((n, i) => names.findIndex((m) => same(m, n)) !== i);
const noDuplicates = Schema.makeFilter((names: readonly string[]) => {
  const twice = firstDuplicate(names);
  return twice === undefined || `names "${twice}" twice`;
});

const Ident = Schema.String.check(Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: "expected a column name (letters, digits, _)" }));

export const ReplicatedTable = Schema.Struct({
  /** The master table, optionally schema-qualified; the local SQLite table has the unqualified name. */
  name: Schema.String.check(
    Schema.isPattern(/^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/, { message: "expected a table name, optionally schema-qualified (schema.table)" }),
    Schema.makeFilter((name: string) => reservedLocalNameProblem(name) ?? true),
  ),
  /** An SQL predicate on the table's columns (`status = 'pending'`); the master plans it at start. */
  filter: Schema.optionalKey(Schema.String.check(Schema.makeFilter((f: string) => filterProblem(f) ?? true))),
  /** The columns to keep (they must include `key` when it is given); default: every column. */
  columns: Schema.optionalKey(Schema.Array(Ident).check(Schema.isMinLength(1, { message: "must not be empty (leave it out to keep every column)" }), noDuplicates)),
  /** The key column; default: the master table's (single-column) primary key. */
  key: Schema.optionalKey(Ident),
  /** Columns to index locally (for `order_by`); default: the leading columns of the master's indexes. */
  indexes: Schema.optionalKey(Schema.Array(Ident).check(noDuplicates)),
}).check(
  Schema.makeFilter((t) => {
    if (t.key !== undefined && t.columns !== undefined && !t.columns.includes(t.key)) return `columns must include the key "${t.key}"`;
    const stray = t.columns === undefined ? undefined : t.indexes?.find((c) => !t.columns!.includes(c));
    return stray === undefined || `indexes must be among the columns: "${stray}" is not`;
  }),
);

export type ReplicatedTableConfig = typeof ReplicatedTable.Type;

/** Where an entry came from, for its errors: the variable (or Config field) and its place there (`[1]`, `/x/t.json: tables[1]`). */
export interface TableSource {
  readonly variable: string;
  readonly at: string;
}

/** A refused entry: the variable to name and the message (which shows the entry's place and name). */
export interface TableProblem {
  readonly variable: string;
  readonly message: string;
}

/** `["columns"][1]` (a schema issue's path) → `.columns[1]`. */
const pathOf = (issuePath: string): string => issuePath.replace(/\["([^"]*)"\]/g, ".$1");

function entryProblem(entry: unknown): { path: string; message: string } | undefined {
  const result = Schema.decodeUnknownResult(ReplicatedTable)(entry, { onExcessProperty: "error" });
  if (Result.isSuccess(result)) return undefined;
  const [first = "invalid", second = ""] = String(result.failure.message).split("\n");
  const path = pathOf(/at (.*)$/.exec(second)?.[1] ?? "");
  if (first.startsWith("Expected no excess property")) {
    const key = /\.([^.[]*)$/.exec(path)?.[1] ?? "?";
    return { path: path.slice(0, path.length - key.length - 1), message: `unknown key "${key}" (expected name, filter, columns, key, indexes)` };
  }
  if (first === "Expected object") return { path, message: 'expected an object {"name": …}' };
  if (first === "Missing key") return { path, message: "is missing" };
  return { path, message: first.replace(/^Expected (string|array)$/, "expected a $1") };
}

/**
 * Decodes the replicated tables as makeConfig and the CLI both do: each entry on its own (so the
 * error shows its place and its name), then together — no local name twice, none the memory
 * table's. The result is frozen through.
 */
export function decodeReplicatedTables(
  entries: readonly unknown[],
  memoryTable: { readonly name: string; readonly variable: string },
  sourceOf: (index: number) => TableSource,
): { readonly tables: readonly ReplicatedTableConfig[] } | { readonly problem: TableProblem } {
  const tables: ReplicatedTableConfig[] = [];
  const refuse = (i: number, path: string, message: string): { problem: TableProblem } => {
    const name = (entries[i] as { name?: unknown } | null)?.name;
    return { problem: { variable: sourceOf(i).variable, message: `${sourceOf(i).at}${path}: ${message}${typeof name === "string" ? ` (table ${JSON.stringify(name)})` : ""}` } };
  };
  for (const [i, entry] of entries.entries()) {
    const problem = entryProblem(entry);
    if (problem) return refuse(i, problem.path, problem.message);
    const t = entry as ReplicatedTableConfig;
    if (same(localTableName(t.name), localTableName(memoryTable.name))) return refuse(i, ".name", `is the memory table's name (${memoryTable.variable} is ${memoryTable.name}), which is always replicated`);
    const earlier = tables.findIndex((o) => same(localTableName(o.name), localTableName(t.name)));
    if (earlier >= 0) {
      const other = sourceOf(earlier);
      const where = other.variable === sourceOf(i).variable ? other.at : `${other.variable} ${other.at}`;
      return refuse(i, ".name", `the local table "${localTableName(t.name)}" is already named by ${where}`);
    }
    tables.push(
      Object.freeze({
        ...t,
        ...(t.filter !== undefined ? { filter: t.filter.trim() } : {}),
        ...(t.columns ? { columns: Object.freeze([...t.columns]) } : {}),
        ...(t.indexes ? { indexes: Object.freeze([...t.indexes]) } : {}),
      }),
    );
  }
  return { tables: Object.freeze(tables) };
}
