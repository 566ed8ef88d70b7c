import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";

/**
 * SQLite DDL of the replica file, as numbered migrations. `PRAGMA user_version` records
 * the last one applied; each runs in its own transaction. Append, never edit.
 */
export interface LocalMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The text the full-text index holds for a memory row (`p` = new, old or a table alias): the
 * string values of a JSON content (or the content as it is) plus search_text, and the tags.
 * One expression for indexing and for removing a row's tokens, so both always agree.
 */
const ftsBody = (p: string): string => `CASE WHEN json_valid(${p}.content) AND json_type(${p}.content) IN ('object', 'array')
               THEN (SELECT group_concat(value, ' ') FROM json_tree(${p}.content) WHERE type = 'text')
               ELSE ${p}.content END || ' ' || coalesce(${p}.search_text, '')`;
const ftsTags = (p: string): string => `CASE WHEN json_valid(${p}.tags) AND json_type(${p}.tags) = 'array'
               THEN (SELECT group_concat(value, ' ') FROM json_each(${p}.tags)) ELSE coalesce(${p}.tags, '') END`;
const rid = (p: string): string => `(SELECT rid FROM memory_rowids WHERE id = ${p}.id)`;

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
  {
    version: 2,
    name: "full-text index, stable row ids, access deltas, local embeddings",
    sql: `
      -- FTS rowids must not move: a table without INTEGER PRIMARY KEY may renumber its
      -- rowids on VACUUM, so each memory id gets a stable integer here.
      CREATE TABLE memory_rowids (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);

      -- Contentless FTS5 (the text lives in unified_ai_memory), kept by the triggers below
      -- in the same transaction as every apply and local write.
      CREATE VIRTUAL TABLE memory_fts USING fts5(body, tags, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');

      CREATE TRIGGER unified_ai_memory_fts_insert AFTER INSERT ON unified_ai_memory BEGIN
        INSERT OR IGNORE INTO memory_rowids (id) VALUES (new.id);
        INSERT INTO memory_fts (rowid, body, tags) VALUES ((SELECT rid FROM memory_rowids WHERE id = new.id),
          CASE WHEN json_valid(new.content) AND json_type(new.content) IN ('object', 'array')
               THEN (SELECT group_concat(value, ' ') FROM json_tree(new.content) WHERE type = 'text')
               ELSE new.content END || ' ' || coalesce(new.search_text, ''),
          CASE WHEN json_valid(new.tags) AND json_type(new.tags) = 'array'
               THEN (SELECT group_concat(value, ' ') FROM json_each(new.tags)) ELSE coalesce(new.tags, '') END);
      END;
      CREATE TRIGGER unified_ai_memory_fts_update AFTER UPDATE OF content, tags, search_text ON unified_ai_memory BEGIN
        DELETE FROM memory_fts WHERE rowid = (SELECT rid FROM memory_rowids WHERE id = old.id);
        INSERT INTO memory_fts (rowid, body, tags) VALUES ((SELECT rid FROM memory_rowids WHERE id = new.id),
          CASE WHEN json_valid(new.content) AND json_type(new.content) IN ('object', 'array')
               THEN (SELECT group_concat(value, ' ') FROM json_tree(new.content) WHERE type = 'text')
               ELSE new.content END || ' ' || coalesce(new.search_text, ''),
          CASE WHEN json_valid(new.tags) AND json_type(new.tags) = 'array'
               THEN (SELECT group_concat(value, ' ') FROM json_each(new.tags)) ELSE coalesce(new.tags, '') END);
      END;
      CREATE TRIGGER unified_ai_memory_fts_delete AFTER DELETE ON unified_ai_memory BEGIN
        DELETE FROM memory_fts WHERE rowid = (SELECT rid FROM memory_rowids WHERE id = old.id);
        DELETE FROM memory_rowids WHERE id = old.id;
      END;
      INSERT INTO memory_rowids (id) SELECT id FROM unified_ai_memory;
      INSERT INTO memory_fts (rowid, body, tags)
        SELECT r.rid, CASE WHEN json_valid(new.content) AND json_type(new.content) IN ('object', 'array')
               THEN (SELECT group_concat(value, ' ') FROM json_tree(new.content) WHERE type = 'text')
               ELSE new.content END || ' ' || coalesce(new.search_text, ''), CASE WHEN json_valid(new.tags) AND json_type(new.tags) = 'array'
               THEN (SELECT group_concat(value, ' ') FROM json_each(new.tags)) ELSE coalesce(new.tags, '') END FROM unified_ai_memory new JOIN memory_rowids r ON r.id = new.id;

      -- Reads counted locally, to be added on the master (never a rewrite of the synced row).
      CREATE TABLE access_deltas (id TEXT PRIMARY KEY, delta INTEGER NOT NULL, last_accessed TEXT NOT NULL);

      -- Embeddings made here for rows that arrived without one; kept apart from the synced
      -- columns so the replica stays an exact copy of the master.
      CREATE TABLE local_embeddings (id TEXT PRIMARY KEY, model TEXT NOT NULL, embedding BLOB NOT NULL);
      -- A local vector is stale once the text it was made from changes or the row goes.
      CREATE TRIGGER unified_ai_memory_local_embedding_stale AFTER UPDATE OF content, search_text ON unified_ai_memory BEGIN
        DELETE FROM local_embeddings WHERE id = old.id;
      END;
      CREATE TRIGGER unified_ai_memory_local_embedding_gone AFTER DELETE ON unified_ai_memory BEGIN
        DELETE FROM local_embeddings WHERE id = old.id;
      END;

      CREATE TABLE replica_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    version: 3,
    name: "outbox",
    sql: `
      -- Local writes waiting for the master, in write order. (replica_id, seq) is each
      -- entry's identity on the master (its upload receipt), so an entry is applied once.
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        memory_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'access')),
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        parked_at TEXT               -- refused by the master for good: kept, counted, skipped
      );
      CREATE INDEX outbox_pending ON outbox (memory_id) WHERE parked_at IS NULL;
    `,
  },
  {
    version: 4,
    name: "skip index work for unchanged rows; parked outbox index",
    sql: `
      -- A pull or refresh that re-applies a row with the same text leaves the FTS entry and
      -- any local vector alone (they were rewritten on every re-apply before).
      DROP TRIGGER unified_ai_memory_fts_update;
      CREATE TRIGGER unified_ai_memory_fts_update AFTER UPDATE OF content, tags, search_text ON unified_ai_memory
        WHEN old.content IS NOT new.content OR old.tags IS NOT new.tags OR old.search_text IS NOT new.search_text BEGIN
        DELETE FROM memory_fts WHERE rowid = (SELECT rid FROM memory_rowids WHERE id = old.id);
        INSERT INTO memory_fts (rowid, body, tags) VALUES ((SELECT rid FROM memory_rowids WHERE id = new.id),
          CASE WHEN json_valid(new.content) AND json_type(new.content) IN ('object', 'array')
               THEN (SELECT group_concat(value, ' ') FROM json_tree(new.content) WHERE type = 'text')
               ELSE new.content END || ' ' || coalesce(new.search_text, ''),
          CASE WHEN json_valid(new.tags) AND json_type(new.tags) = 'array'
               THEN (SELECT group_concat(value, ' ') FROM json_each(new.tags)) ELSE coalesce(new.tags, '') END);
      END;
      DROP TRIGGER unified_ai_memory_local_embedding_stale;
      CREATE TRIGGER unified_ai_memory_local_embedding_stale AFTER UPDATE OF content, search_text ON unified_ai_memory
        WHEN old.content IS NOT new.content OR old.search_text IS NOT new.search_text BEGIN
        DELETE FROM local_embeddings WHERE id = old.id;
      END;
      -- Stats count parked entries without scanning the outbox.
      CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: "stemmed full-text index that sqlite3 3.37+ can query and write through",
    // contentless_delete (SQLite 3.43+) made the index unreadable to Debian 12's sqlite3 3.40,
    // and every UPDATE or DELETE of text from that CLI failed in the triggers. A plain
    // contentless table (any FTS5) removes a row's tokens with the 'delete' command, given the
    // text it indexed: the triggers recompute it from old.* with the expression that indexed
    // it. Measured: the same write cost as before; a stored copy of the text cost +33 % CPU
    // per indexed row, and external content over a view cannot be used (FTS5 reads its content
    // table with virtual tables disabled, and the text comes from json_tree).
    sql: `
      DROP TRIGGER unified_ai_memory_fts_insert;
      DROP TRIGGER unified_ai_memory_fts_update;
      DROP TRIGGER unified_ai_memory_fts_delete;
      DROP TABLE memory_fts;
      DELETE FROM memory_rowids WHERE id NOT IN (SELECT id FROM unified_ai_memory);
      INSERT OR IGNORE INTO memory_rowids (id) SELECT id FROM unified_ai_memory;

      -- porter over unicode61: "roofs" finds "roof"; remove_diacritics 2: "café" finds "cafe".
      CREATE VIRTUAL TABLE memory_fts USING fts5(body, tags, content = '', tokenize = 'porter unicode61 remove_diacritics 2');

      CREATE TRIGGER unified_ai_memory_fts_insert AFTER INSERT ON unified_ai_memory BEGIN
        INSERT OR IGNORE INTO memory_rowids (id) VALUES (new.id);
        INSERT INTO memory_fts (rowid, body, tags) VALUES (${rid("new")}, ${ftsBody("new")}, ${ftsTags("new")});
      END;
      CREATE TRIGGER unified_ai_memory_fts_update AFTER UPDATE OF content, tags, search_text ON unified_ai_memory
        WHEN old.content IS NOT new.content OR old.tags IS NOT new.tags OR old.search_text IS NOT new.search_text BEGIN
        INSERT INTO memory_fts (memory_fts, rowid, body, tags) VALUES ('delete', ${rid("old")}, ${ftsBody("old")}, ${ftsTags("old")});
        INSERT INTO memory_fts (rowid, body, tags) VALUES (${rid("new")}, ${ftsBody("new")}, ${ftsTags("new")});
      END;
      CREATE TRIGGER unified_ai_memory_fts_delete AFTER DELETE ON unified_ai_memory BEGIN
        INSERT INTO memory_fts (memory_fts, rowid, body, tags) VALUES ('delete', ${rid("old")}, ${ftsBody("old")}, ${ftsTags("old")});
        DELETE FROM memory_rowids WHERE id = old.id;
      END;

      -- The index rebuilt in place, in this migration's transaction.
      INSERT INTO memory_fts (rowid, body, tags)
        SELECT r.rid, ${ftsBody("m")}, ${ftsTags("m")} FROM unified_ai_memory m JOIN memory_rowids r ON r.id = m.id;
    `,
  },
  {
    version: 6,
    name: "rows owed a refresh from the master",
    sql: `
      -- Keys whose master state must be read again (a pull skipped them because their upload
      -- settled while it ran; an upload settled them). Written before the step that owes the
      -- refresh commits, deleted by the refresh: a refresh that fails or never runs (a crash,
      -- a deadline) is retried by the next pull instead of being forgotten.
      CREATE TABLE refresh_due (key TEXT PRIMARY KEY) WITHOUT ROWID;
    `,
  },
];

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (const m of LOCAL_MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}

/**
 * Reads go through a memory map of the file up to this size (SQLite's mmap_size; the rest of a
 * larger file through its page cache, as before). A search reads scattered pages — the exact
 * re-rank's vectors, the rows that place, FTS doclists — and each read from SQLite's 2 MB page
 * cache missing is a pread(2); mapped, it is a memory access. Measured at 100k rows × 384-d,
 * the same file through two handles in one process, queries interleaved (bench/retrieval.ts's
 * corpus): p50 × 0.90–0.92 for vector queries, × 0.89–0.90 hybrid, × 0.91–0.92 multi-word text,
 * × 0.98–1.0 two common words. The mapping is the OS's file cache, shared and reclaimable, not
 * the process's heap; SQLite maps read-only (writes still go through the WAL).
 */
export const MMAP_BYTES = 1024 * 1024 * 1024;

/** Opens (creating if needed) the replica file: WAL, the memory map, and every migration not yet applied. */
export function openReplicaFile(file: string): Database.Database {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // WAL + NORMAL: a committed transaction survives a process crash (SIGKILL); only a power
  // loss can drop the last few, never corrupt the file.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma(`mmap_size = ${MMAP_BYTES}`);
  migrate(db);
  return db;
}
