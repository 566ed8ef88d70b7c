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
  | "timestamp" // ISO-8601 UTC with microseconds: 2026-01-02T03:04:05.123456Z
  | "bool" // 0/1
  | "vector"; // float32 little-endian BLOB

export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The type used when this project creates the master table. */
  readonly createAs: string;
}

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
}

const col = (name: string, kind: ColumnKind, createAs: string): ColumnSpec => ({ name, kind, createAs });

/** The reference shape of the agents' memory table (CONTRACT.md). */
export const MEMORY_COLUMNS: readonly ColumnSpec[] = [
  col("id", "uuid", "uuid PRIMARY KEY DEFAULT gen_random_uuid()"),
  col("memory_type", "text", "text NOT NULL"),
  col("content", "json", "jsonb NOT NULL"),
  col("source_system", "text", "text"),
  col("source_agent", "text", "text"),
  col("created_by", "text", "text"),
  col("importance_score", "real", "real DEFAULT 0.5 CHECK (importance_score >= 0 AND importance_score <= 1)"),
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
  });
}

/** One row as it travels from master to replica: column name → normalised value. */
export type Row = Record<string, string | number | Buffer | null>;
