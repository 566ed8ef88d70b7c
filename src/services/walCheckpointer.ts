/**
 * Moves WAL checkpoints off the main thread. SQLite checkpoints inside the commit that
 * crosses `wal_autocheckpoint` pages: that commit copies the WAL into the database file and
 * fsyncs both, on the thread that committed — the event loop. Those commits were most of the
 * local write p99 (6–12 ms, against a p50 of 0.4 ms). Here a worker thread with its own
 * connection runs PASSIVE checkpoints on a timer (they never block writers or readers), and
 * the main connection keeps automatic checkpoints only as a far-off fallback in case the
 * worker falls behind or dies.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** Checkpoint period: a write burst reaches the WAL for at most this long before it is copied. */
export const WAL_CHECKPOINT_INTERVAL_MS = 50;
/** The main connection's own fallback threshold (pages; SQLite's default is 1,000). */
export const WAL_FALLBACK_AUTOCHECKPOINT_PAGES = 4_000;
/** How long close() waits for the worker to close its connection. */
const CLOSE_WAIT_MS = 2_000;

export interface WalCheckpointerStats {
  /** Checkpoints the worker ran. */
  readonly runs: number;
  /** Frames in the WAL at the last checkpoint, and how many of them are in the database file. */
  readonly lastWalFrames: number;
  readonly lastCheckpointedFrames: number;
  readonly lastError: string | null;
}

export interface WalCheckpointer {
  readonly stats: () => WalCheckpointerStats;
  /** Stops the worker after it closed its connection (waits up to 2 s, synchronously). */
  readonly close: () => void;
}

// CommonJS, evaluated in the worker: no TypeScript loader is needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const done = new Int32Array(workerData.done);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 0");
const timer = setInterval(() => {
  try {
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: String(e && e.message || e) });
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  db.close();
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
  parentPort.close();
});
`;

export function startWalCheckpointer(db: Database.Database, file: string, intervalMs = WAL_CHECKPOINT_INTERVAL_MS): WalCheckpointer | undefined {
  if (file === ":memory:" || db.memory) return undefined;
  db.pragma(`wal_autocheckpoint = ${WAL_FALLBACK_AUTOCHECKPOINT_PAGES}`);
  const done = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver: createRequire(import.meta.url).resolve("better-sqlite3"), file: db.name, intervalMs, done } });
  // Never what keeps a process alive: the store's close() stops it.
  worker.unref();
  let runs = 0;
  let last = { log: 0, checkpointed: 0 };
  let lastError: string | null = null;
  let exited = false;
  worker.on("message", (m: { ok: boolean; log?: number; checkpointed?: number; error?: string }) => {
    runs++;
    if (m.ok) last = { log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 };
    else lastError = m.error ?? "unknown";
  });
  // A worker that failed (say, could not open the file) leaves the fallback to do the work.
  worker.on("error", (e) => (lastError = e.message));
  worker.on("exit", () => (exited = true));
  let closed = false;
  return {
    stats: () => ({ runs, lastWalFrames: last.log, lastCheckpointedFrames: last.checkpointed, lastError }),
    close: () => {
      if (closed) return;
      closed = true;
      if (exited) return;
      worker.postMessage("stop");
      // Synchronous on purpose: the main connection must close last (the last connection to
      // close checkpoints and removes the WAL), and store.close() is synchronous.
      Atomics.wait(new Int32Array(done), 0, 0, CLOSE_WAIT_MS);
      void worker.terminate();
    },
  };
}
