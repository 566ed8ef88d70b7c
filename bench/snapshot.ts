/**
 * Snapshot throughput: the replica's initial copy (`syncOnce` on a fresh file) against a
 * "bare pipeline" that reads the same rows with the same SELECT (keyset pages, `real[]`
 * parsed by the same `rowTypes`) and writes them with one prepared INSERT per row, one
 * transaction per page, into a plain SQLite table.
 */
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { rowTypes } from "../src/master/rowTypes.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { introspectColumnsSql, type MasterColumn } from "../src/master/columnsSql.ts";
import { qualified } from "../src/master/masterSql.ts";
import { TableQueries } from "../src/master/tableQueries.ts";
import { memoryTableDescriptor, type ColumnKind, type Row } from "../src/schema/tableDescriptor.ts";
import pg from "pg";
import type { TestPostgres } from "../test/support/postgres.ts";
import { seedMemories } from "../test/support/seed.ts";
import { fullGc, round, sampleMemory, type RssReport, fileMB } from "./util.ts";

export type SnapshotKind = "bare" | "replica";
/** `replica-nofts`: the replica on a file whose FTS triggers were dropped before the copy (search benchmark). */
export type SnapshotVariant = SnapshotKind | "replica-nofts";

export interface SnapshotRun {
  readonly kind: SnapshotVariant;
  readonly iteration: number;
  readonly rows: number;
  readonly ms: number;
  readonly rowsPerSec: number;
  /** CPU this process spent (user + system) during the run. */
  readonly cpuMs: number;
  readonly fileMB: number;
  readonly memory: RssReport;
  /** The run had a process of its own (then `process.resourceUsage().maxRSS` is the run's true peak). */
  readonly isolated: boolean;
  readonly processMaxRssMB: number | null;
}

const TABLE = "unified_ai_memory";

/** Seeds `rows` memories with `dim`-dimensional embeddings in chunks (generate_series on the server). */
export async function seed(pg: TestPostgres, rows: number, dim: number, say: (s: string) => void): Promise<number> {
  const started = performance.now();
  const chunk = 10_000;
  for (let start = 1; start <= rows; start += chunk) {
    await seedMemories(pg, Math.min(chunk, rows - start + 1), { embeddingDim: dim, startAt: start });
    say(`  seeded ${Math.min(rows, start + chunk - 1)}/${rows}`);
  }
  // Hint bits, visibility map and statistics set once, so no run pays for them.
  await pg.sql(`VACUUM (ANALYZE) ${TABLE}`);
  return performance.now() - started;
}

const SQLITE_TYPE: Record<ColumnKind, string> = {
  uuid: "TEXT",
  text: "TEXT",
  json: "TEXT",
  textArray: "TEXT",
  real: "REAL",
  int: "INTEGER",
  bigint: "INTEGER",
  timestamp: "TEXT",
  bool: "INTEGER",
  vector: "BLOB",
};

export const masterColumns = (pg: TestPostgres): Promise<MasterColumn[]> => pg.sql<MasterColumn>(introspectColumnsSql, [qualified(TABLE)]);

export const tableQueries = (cols: readonly MasterColumn[]): TableQueries => new TableQueries(memoryTableDescriptor(TABLE), cols, undefined);

const removeDb = (file: string) => {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
};


/** The baseline: sequential keyset pages → one prepared INSERT, one transaction per page. */
async function barePipeline(url: string, tq: TableQueries, file: string, chunkRows: number, onProgress: (rows: number) => void): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  const db = new Database(file);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL"); // what the replica file uses
    const cols = tq.present;
    const key = tq.descriptor.key;
    db.exec(`CREATE TABLE ${TABLE} (${cols.map((c) => `"${c.name}" ${SQLITE_TYPE[c.kind]}${c.name === key ? " PRIMARY KEY" : ""}`).join(", ")})`);
    const insert = db.prepare(`INSERT INTO ${TABLE} (${cols.map((c) => `"${c.name}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`);
    const values = new Array<unknown>(cols.length);
    const writePage = db.transaction((rows: readonly Row[]) => {
      for (const row of rows) {
        for (let i = 0; i < cols.length; i++) values[i] = row[cols[i]!.name] ?? null;
        insert.run(values);
      }
    });
    let after: string | null = null;
    let copied = 0;
    for (;;) {
      const { text, values: params } = tq.snapshotChunk(after, chunkRows);
      const { rows } = await client.query<Row>({ text, values: params, types: rowTypes });
      writePage(rows);
      copied += rows.length;
      onProgress(copied);
      if (rows.length < chunkRows) break;
      after = String(rows[rows.length - 1]![key]);
    }
    return copied;
  } finally {
    db.close();
    await client.end().catch(() => undefined);
  }
}

async function replicaSnapshot(url: string, file: string, chunkRows: number, onProgress: (rows: number) => void): Promise<number> {
  const config = makeConfig({ databaseUrl: url, localPath: file, syncIntervalMs: 3_600_000, logLevel: "silent", snapshotChunkRows: chunkRows });
  const m = new EmbeddedMemory(config, { logger: createLogger({ level: "silent" }) });
  try {
    const r = await m.syncOnce({ onProgress });
    return r.total_memories;
  } finally {
    await m.close();
  }
}

/**
 * The replica without FTS maintenance: the file gets the replica's own schema (its
 * migrations), then the FTS triggers (which also fill memory_rowids) are dropped on this
 * benchmark file only, so the copy that follows writes rows (and sync state) but no index.
 */
async function replicaNoFtsSnapshot(url: string, file: string, chunkRows: number, onProgress: (rows: number) => void): Promise<number> {
  makeLocalStore(file).close();
  const db = new Database(file);
  try {
    db.exec("DROP TRIGGER unified_ai_memory_fts_insert; DROP TRIGGER unified_ai_memory_fts_update; DROP TRIGGER unified_ai_memory_fts_delete;");
  } finally {
    db.close();
  }
  return replicaSnapshot(url, file, chunkRows, onProgress);
}

export interface SnapshotJob {
  readonly kind: SnapshotVariant;
  readonly iteration: number;
  readonly url: string;
  readonly columns: readonly MasterColumn[];
  readonly dir: string;
  readonly rows: number;
  readonly chunkRows: number;
}

/** One timed run, in this process. */
export async function runSnapshot(job: SnapshotJob): Promise<SnapshotRun> {
  const { kind, iteration, url, dir } = job;
  const o = job;
  const tq = tableQueries(job.columns);
  const file = path.join(dir, `${kind}-${iteration}.db`);
  removeDb(file);
  fullGc();
  const mem = sampleMemory(50);
  let halfMarked = false;
  const onProgress = (n: number) => {
    if (!halfMarked && n >= o.rows / 2) {
      halfMarked = true;
      mem.half();
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rows: number;
  let ms: number;
  let cpuMs: number;
  let memory: RssReport;
  try {
    rows =
      kind === "bare"
        ? await barePipeline(url, tq, file, o.chunkRows, onProgress)
        : kind === "replica-nofts"
          ? await replicaNoFtsSnapshot(url, file, o.chunkRows, onProgress)
          : await replicaSnapshot(url, file, o.chunkRows, onProgress);
  } finally {
    ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    cpuMs = (cpu.user + cpu.system) / 1000;
    memory = mem.stop();
  }
  // Both timings include opening the file, connecting, and closing everything again.
  const sizeMB = fileMB(file);
  if (rows !== o.rows) throw new Error(`${kind} run ${iteration} copied ${rows} rows, expected ${o.rows}`);
  const check = new Database(file, { readonly: true });
  const local = (check.prepare(`SELECT count(*) FROM ${TABLE} WHERE embedding IS NOT NULL AND length(embedding) > 0`).pluck().get() as number) ?? 0;
  check.close();
  if (local !== o.rows) throw new Error(`${kind} run ${iteration}: the file holds ${local} rows with embeddings, expected ${o.rows}`);
  removeDb(file);
  return {
    kind,
    iteration,
    rows,
    ms: round(ms, 1),
    rowsPerSec: Math.round(rows / (ms / 1000)),
    cpuMs: round(cpuMs, 0),
    fileMB: sizeMB,
    memory,
    isolated: false,
    processMaxRssMB: null,
  };
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * One timed run in a fresh child process (bin/run-ts.js + snapshotWorker.ts), so its
 * memory figures are not inflated by earlier runs and its maxRSS is the run's own peak.
 */
export function runSnapshotInChild(job: SnapshotJob): Promise<SnapshotRun> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, "..", "bin", "run-ts.js"), [path.join(here, "snapshotWorker.ts")], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let result: { ok: true; run: SnapshotRun } | { ok: false; error: string } | undefined;
    child.on("message", (m) => (result = m as typeof result));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (result?.ok) resolve(result.run);
      else reject(new Error(result ? `snapshot worker failed: ${result.error}` : `snapshot worker exited (code ${code}, signal ${signal}) without a result`));
    });
    child.send(job);
  });
}
