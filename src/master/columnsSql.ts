/**
 * The master table's columns: how they are read (introspection, and the signature the pull's
 * first statement compares), and the check of them against the table descriptor (schema drift:
 * a column the replica needs missing, or of a type it cannot read).
 */
import { acceptsType, EXPECTED_TYPES, type TableDescriptor } from "../schema/tableDescriptor.ts";

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
export const columnsSignatureExpr = (tableParam: number): string => `(SELECT coalesce(string_agg(a.attname || ':' || a.atttypid::text, ',' ORDER BY a.attnum), '')
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
