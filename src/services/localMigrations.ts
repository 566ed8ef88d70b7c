/**
 * SQLite DDL of the replica file, as numbered migrations. `PRAGMA user_version` records
 * the last one applied; each runs in its own transaction. Append, never edit.
 */
export interface LocalMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const LOCAL_MIGRATIONS: readonly LocalMigration[] = [
  {
    version: 1,
    name: "replica table and sync state",
    sql: `
      CREATE TABLE unified_ai_memory (
        id TEXT PRIMARY KEY,
        memory_type TEXT,
        content TEXT,
        source_system TEXT,
        source_agent TEXT,
        created_by TEXT,
        importance_score REAL,
        tags TEXT,
        metadata TEXT,
        context_id TEXT,
        tenant_id TEXT,
        embedding BLOB,
        search_text TEXT,
        access_count INTEGER,
        last_accessed TEXT,
        created_at TEXT,
        updated_at TEXT,
        expires_at TEXT,
        archived INTEGER
      );
      CREATE INDEX unified_ai_memory_expires_at ON unified_ai_memory (expires_at) WHERE expires_at IS NOT NULL;
      CREATE INDEX unified_ai_memory_tenant_id ON unified_ai_memory (tenant_id);

      -- One row per replicated table: where its sync stands. Written in the same
      -- transaction as every batch it describes, so a crash resumes exactly.
      CREATE TABLE sync_state (
        table_name TEXT PRIMARY KEY,
        source TEXT,                 -- which master/table/filter this replica copies
        epoch TEXT,                  -- the master's epoch the rows belong to
        cursor TEXT,                 -- pg_snapshot of the last completed pull; NULL until a snapshot completes
        snapshot_cursor TEXT,        -- pg_snapshot taken when the current copy started
        snapshot_after_key TEXT,     -- last key copied by the current copy (resume point)
        snapshot_rows INTEGER NOT NULL DEFAULT 0,
        snapshot_complete INTEGER NOT NULL DEFAULT 0,
        snapshot_started_at TEXT,
        last_sync_time TEXT,
        last_sync_count INTEGER NOT NULL DEFAULT 0,
        total_pulls INTEGER NOT NULL DEFAULT 0,
        total_applied INTEGER NOT NULL DEFAULT 0
      );
    `,
  },
];
