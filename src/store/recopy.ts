/**
 * A re-copy made in a second file while the first one answers (a replica away longer than the
 * changelog retention), and the swap that puts it in place. The re-copy lives at
 * `<file>.recopy` and is written only by the copy, chunk by chunk with its own sync state, so an
 * interrupted one resumes. The swap carries over what only this replica knows (its outbox, access
 * deltas, identity, local embeddings and its rows with pending writes) inside one transaction
 * that holds both files' write locks, then renames the new file over the old one.
 */
import type Database from "better-sqlite3";
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { openReplicaFile } from "./migrations.ts";
import { PENDING_WRITES_SQL } from "./statements.ts";
import { CATALOG_KEY } from "./tables.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";

export const recopyPath = (file: string): string => `${file}.recopy`;

/** replica_meta: set while a re-copy is due or running (the current file answers, `stale`). */
export const recopyKey = (d: TableDescriptor): string => `recopy:${d.localName}`;

/** Removes a re-copy file and its WAL companions. */
export function removeRecopy(file: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(recopyPath(file) + suffix, { force: true });
}

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The columns both files' table has (the same migrations made both; named to be safe). */
const columnsOf = (db: Database.Database, table: string): string =>
  (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]).map(q).join(", ");

/**
 * Writes into the re-copy what the current file holds and the master does not (yet). Every step
 * replaces what a previous, interrupted attempt wrote, so it can run again.
 */
function carry(next: Database.Database, d: TableDescriptor): void {
  const t = q(d.localName);
  const key = q(d.key);
  const rowCols = columnsOf(next, d.localName);
  const outboxCols = columnsOf(next, "outbox");
  next.exec(`
    DELETE FROM main.outbox;
    INSERT INTO main.outbox (${outboxCols}) SELECT ${outboxCols} FROM old.outbox;
    -- (replica_id, seq) is an entry's identity on the master: seqs must never be handed out again.
    DELETE FROM main.sqlite_sequence WHERE name = 'outbox';
    INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM old.sqlite_sequence WHERE name = 'outbox';
    DELETE FROM main.access_deltas;
    INSERT INTO main.access_deltas (id, delta, last_accessed) SELECT id, delta, last_accessed FROM old.access_deltas;
    -- Rows with a write the master has not acknowledged keep their local state (or absence).
    DELETE FROM main.${t} WHERE ${key} IN (${PENDING_WRITES_SQL});
    INSERT INTO main.${t} (${rowCols}) SELECT ${rowCols} FROM old.${t} WHERE ${key} IN (${PENDING_WRITES_SQL});
    -- Local vectors still valid for the text the new copy holds.
    INSERT OR REPLACE INTO main.local_embeddings (id, model, embedding)
      SELECT l.id, l.model, l.embedding FROM old.local_embeddings l
      JOIN old.${t} o ON o.${key} = l.id JOIN main.${t} n ON n.${key} = l.id
      WHERE n.embedding IS NULL AND n.content IS o.content AND n.search_text IS o.search_text;
  `);
  // What describes the copy itself (the columns it read, the further tables it holds) is the new file's own.
  next
    .prepare(`INSERT OR REPLACE INTO main.replica_meta (key, value) SELECT key, value FROM old.replica_meta WHERE key <> ? AND key <> ? AND key NOT LIKE 'master!_columns:%' ESCAPE '!'`)
    .run(recopyKey(d), CATALOG_KEY);
  // The counters go on from the old file's (the copy counts as one pull of its rows).
  next
    .prepare(
      `UPDATE main.sync_state SET total_pulls = 1 + coalesce((SELECT total_pulls FROM old.sync_state WHERE table_name = ?), 0),
         total_applied = snapshot_rows + coalesce((SELECT total_applied FROM old.sync_state WHERE table_name = ?), 0)
       WHERE table_name = ?`,
    )
    .run(d.localName, d.localName, d.localName);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Carries the current file's own data into the complete re-copy, closes `current` and renames
 * the re-copy over `file`. Synchronous from start to end, so no write of this process falls
 * between the carry and the rename. A failure before the rename leaves the current file as it
 * was (closed or not: the caller reopens it) and the swap can be tried again.
 */
export function swapInRecopy(current: Database.Database, file: string, d: TableDescriptor): void {
  const nextFile = recopyPath(file);
  const next = openReplicaFile(nextFile);
  try {
    next.prepare("ATTACH DATABASE ? AS old").run(file);
    // IMMEDIATE takes the write lock of both files: no other connection writes the old one meanwhile.
    next.transaction(() => carry(next, d)).immediate();
    next.exec("DETACH DATABASE old");
    next.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    next.close();
  }
  // The new file's WAL must be empty: a WAL left behind would be lost by the rename.
  if (existsSync(`${nextFile}-wal`)) throw new Error(`the re-copy ${nextFile} is still open elsewhere: its WAL was not checkpointed`);
  current.close();
  // Closing the last connection checkpoints and removes the WAL; one left means another
  // process has the file open, and a new file under its WAL would be corrupted.
  if (existsSync(`${file}-wal`)) throw new Error(`the replica file ${file} is open in another process; the re-copy is swapped in once it is closed`);
  rmSync(`${file}-shm`, { force: true });
  rmSync(`${nextFile}-shm`, { force: true });
  renameSync(nextFile, file);
  fsyncDir(path.dirname(path.resolve(file)));
}
