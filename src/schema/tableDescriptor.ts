/**
 * What a replicated table is: its master name, key, columns and row filters. The sync
 * code is written against this description, so replicating a second table is a new
 * descriptor (configuration), not new code.
 */

/** How a column's value travels: its normalised JS form and its SQLite storage class. */
export type ColumnKind =
  | "uuid" // text, lower-case
  | "text"
  | "json" // the master's JSON text (jsonb or text column)
  | "textArray" // JSON array text
  | "real"
  | "int"
  | "bigint" // int8: read as text (exact past 2^53), stored INTEGER
  | "timestamp" // ISO-8601 UTC with microseconds: 2026-01-02T03:04:05.123456Z
  | "bool" // 0/1
  | "vector"; // float32 little-endian BLOB

export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The type used when this project creates the master table. */
  readonly createAs: string;
  /**
   * The replica cannot serve without it: a master table lacking it is an error state (backoff
   * naming the column), never a silent sync without it. Other columns may be missing.
   */
  readonly required?: boolean;
}

/**
 * A master column's type as the compatibility check sees it: `udt` its type name, `category`
 * Postgres's typcategory of the type (of the base type, for a domain): S string, N numeric,
 * D date/time, B boolean, A array, U user-defined (jsonb, vector), E enum.
 */
export interface MasterType {
  readonly udt: string;
  readonly category?: string | undefined;
}

const VECTOR_UDTS = new Set(["vector", "halfvec", "_float4", "_float8", "_numeric"]);

/**
 * Whether the select expression for a kind (TableQueries.expr) reads a column of this type
 * meaningfully. Text takes anything (every type has a text form: enums, domains, citext).
 */
export function acceptsType(kind: ColumnKind, t: MasterType): boolean {
  const c = t.category;
  switch (kind) {
    case "text":
      return true;
    case "uuid":
      return t.udt === "uuid" || c === "S";
    case "json":
      return t.udt === "jsonb" || t.udt === "json" || c === "S";
    case "textArray":
      return c === "A" || t.udt === "jsonb" || t.udt === "json" || c === "S";
    case "real":
    case "int":
    case "bigint":
      return c === "N";
    case "timestamp":
      return c === "D";
    case "bool":
      return c === "B";
    case "vector":
      return VECTOR_UDTS.has(t.udt);
  }
}

/** What a kind expects, for the error that names an incompatible column. */
export const EXPECTED_TYPES: Record<ColumnKind, string> = {
  uuid: "uuid or text",
  text: "text",
  json: "jsonb, json or text",
  textArray: "text[] or jsonb",
  real: "real or double precision",
  int: "integer or bigint",
  bigint: "bigint",
  timestamp: "timestamptz or timestamp",
  bool: "boolean",
  vector: "vector, halfvec, real[] or double precision[]",
};

export interface TableDescriptor {
  /** The master table, optionally schema-qualified. */
  readonly masterTable: string;
  /** The table's name in the local SQLite file. */
  readonly localName: string;
  readonly key: string;
  readonly columns: readonly ColumnSpec[];
  /** A row of another tenant is not replicated (NULL tenant rows are shared). */
  readonly tenantColumn?: string;
  /** A row whose time in this column has passed is not replicated, and is swept locally. */
  readonly expiresColumn?: string;
  /** A row with true in this column is not replicated. */
  readonly archivedColumn?: string;
  /** The column holding the row's embedding, if any. */
  readonly embeddingColumn?: string;
  /**
   * A further table's row filter (REPLICATE_TABLES): an SQL predicate on the master table's
   * columns; a row that does not match is not replicated, and leaves the replica when it stops
   * matching.
   */
  readonly filter?: string;
  /** Local writes go through the outbox and hold their rows against pulls (the memory table only; the others are read-only here). */
  readonly localWrites?: boolean;
  /** Columns with a local index (besides the key): what `order_by` may name. */
  readonly indexes?: readonly string[];
}

const col = (name: string, kind: ColumnKind, createAs: string, required = false): ColumnSpec => (required ? { name, kind, createAs, required } : { name, kind, createAs });

/**
 * The reference shape of the agents' memory table (CONTRACT.md). Required: the key, what a
 * memory is (type, content) and the importance that searches filter and rank by; tables of
 * other shapes (no tenant, no counters, no embedding…) replicate without the rest.
 */
export const MEMORY_COLUMNS: readonly ColumnSpec[] = [
  col("id", "uuid", "uuid PRIMARY KEY DEFAULT gen_random_uuid()", true),
  col("memory_type", "text", "text NOT NULL", true),
  col("content", "json", "jsonb NOT NULL", true),
  col("source_system", "text", "text"),
  col("source_agent", "text", "text"),
  col("created_by", "text", "text"),
  col("importance_score", "real", "real DEFAULT 0.5 CHECK (importance_score >= 0 AND importance_score <= 1)", true),
  col("tags", "textArray", "text[] NOT NULL DEFAULT '{}'"),
  col("metadata", "json", "jsonb NOT NULL DEFAULT '{}'"),
  col("context_id", "uuid", "uuid"),
  col("tenant_id", "uuid", "uuid"),
  col("embedding", "vector", "real[]"),
  col("search_text", "text", "text"),
  col("access_count", "int", "integer NOT NULL DEFAULT 0"),
  col("last_accessed", "timestamp", "timestamptz"),
  col("created_at", "timestamp", "timestamptz NOT NULL DEFAULT now()"),
  col("updated_at", "timestamp", "timestamptz NOT NULL DEFAULT now()"),
  col("expires_at", "timestamp", "timestamptz"),
  col("archived", "bool", "boolean NOT NULL DEFAULT false"),
];

export function memoryTableDescriptor(masterTable: string): TableDescriptor {
  return Object.freeze({
    masterTable,
    localName: "unified_ai_memory",
    key: "id",
    columns: MEMORY_COLUMNS,
    tenantColumn: "tenant_id",
    expiresColumn: "expires_at",
    archivedColumn: "archived",
    embeddingColumn: "embedding",
    localWrites: true,
  });
}

/** One row as it travels from master to replica: column name → normalised value. */
export type Row = Record<string, string | number | Buffer | null>;
