/**
 * WAL checkpoints off the event loop. SQLite's own auto-checkpoint runs inside the commit that
 * crosses 1,000 WAL pages, on the thread that committed: it copies the pages into the file and
 * fsyncs twice, and better-sqlite3 is synchronous, so the whole process waits: 1 pull
 * transaction in ~80 paid 3–5 ms for it here. Measured on 4,000 one-row apply transactions:
 * p99 0.44–0.49 ms with the worker against 3.5–3.7 ms without (BENCHMARKS.md, session 8).
 *
 * Here the replica's connection checkpoints only as a backstop (BACKSTOP_PAGES), and a worker
 * thread with a connection of its own runs `wal_checkpoint(PASSIVE)` when asked: after
 * CHECKPOINT_EVERY_COMMITS commits, or once the WAL file grew CHECKPOINT_WAL_GROWTH_BYTES since
 * the last one (a first copy's large chunks). PASSIVE never blocks the writer or readers; the
 * next write after a complete one starts the WAL over, as SQLite's own does. The worker starts
 * with the first commit (a read-only open of the file never starts it) and is closed, its
 * connection first, before the file's own connection closes: the last connection to close
 * removes the WAL, which a re-copy's swap relies on (recopy.ts). If the worker cannot run, the
 * connection checkpoints itself again as SQLite does by default.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

export const CHECKPOINT_EVERY_COMMITS = 64;
export const CHECKPOINT_WAL_GROWTH_BYTES = 4 * 1024 * 1024;
/** The connection's own auto-checkpoint while the worker runs: only if the worker falls far behind. */
export const BACKSTOP_PAGES = 10_000;
/** SQLite's default, put back when the worker cannot run. */
const SQLITE_DEFAULT_PAGES = 1_000;
/** How long closing waits for the worker to close its connection (it may be inside an fsync). */
const CLOSE_WAIT_MS = 5_000;

export interface CheckpointStats {
  readonly worker: "not started" | "running" | "failed";
  readonly checkpoints: number;
  readonly lastMs: number | null;
  /** The thread the last checkpoint ran on (never the event loop's while the worker runs). */
  readonly lastThreadId: number | null;
  readonly error: string | null;
}

export interface Checkpointer {
  /** After each committed write transaction. */
  readonly committed: () => void;
  /** Closes the worker's connection (synchronously) and the worker; the next commit starts it again. */
  readonly close: () => void;
  readonly stats: () => CheckpointStats;
}

/**
 * The worker, as plain JavaScript (eval'd: no file to resolve, whether this runs from the
 * TypeScript sources or the built package). `flags[0]` turns 1 once its connection is closed.
 */
const WORKER_SOURCE = `
const { parentPort, workerData, threadId } = require("node:worker_threads");
const { performance } = require("node:perf_hooks");
const Database = require(workerData.driver);
const flags = new Int32Array(workerData.flags);
const db = new Database(workerData.file, { fileMustExist: true });
parentPort.postMessage({ type: "ready" });
parentPort.on("message", (m) => {
  if (m === "checkpoint") {
    const t0 = performance.now();
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
      parentPort.postMessage({ type: "done", ms: performance.now() - t0, threadId });
    } catch (e) {
      parentPort.postMessage({ type: "done", ms: performance.now() - t0, threadId, error: String(e && e.message) });
    }
  } else if (m === "close") {
    db.close();
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    parentPort.close();
  }
});
`;

type WorkerMessage = { type: "ready" } | { type: "done"; ms: number; threadId: number; error?: string };

/** `driver`: the better-sqlite3 module the worker loads (tests pass a broken one). */
export function makeCheckpointer(file: string, db: () => Database.Database, driver = createRequire(import.meta.url).resolve("better-sqlite3")): Checkpointer {
  const wal = `${file}-wal`;
  const walBytes = () => statSync(wal, { throwIfNoEntry: false })?.size ?? 0;
  let worker: Worker | undefined;
  let flags: Int32Array | undefined;
  let ready = false;
  let failed = false;
  let inFlight = false;
  let commits = 0;
  let walAtLast = 0;
  let checkpoints = 0;
  let lastMs: number | null = null;
  let lastThreadId: number | null = null;
  let error: string | null = null;

  const fallBack = (why: string) => {
    failed = true;
    ready = false;
    error = why;
    worker = undefined;
  };

  // The connection's own auto-checkpoint is set only here, right after one of its commits: from
  // a worker's message the connection may be in the middle of an iterator (a copy's rows), and
  // better-sqlite3 refuses any other statement then. A new handle starts at SQLite's default.
  let pages = SQLITE_DEFAULT_PAGES;
  const setPages = (n: number) => {
    if (pages === n || !db().open) return;
    db().pragma(`wal_autocheckpoint = ${n}`);
    pages = n;
  };

  const start = () => {
    const shared = new SharedArrayBuffer(4);
    flags = new Int32Array(shared);
    const w = (worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, flags: shared } }));
    // A replica that is otherwise idle must be free to exit.
    w.unref();
    w.on("message", (m: WorkerMessage) => {
      if (worker !== w) return;
      if (m.type === "ready") {
        ready = true;
        return;
      }
      inFlight = false;
      lastMs = m.ms;
      lastThreadId = m.threadId;
      if (m.error) error = m.error;
      else checkpoints++;
      // Commits that came while it ran may be due one already.
      maybeRequest();
    });
    w.on("error", (e) => worker === w && fallBack(e.message));
    w.on("exit", (code) => worker === w && fallBack(`the checkpoint worker exited (code ${code})`));
  };

  const committed = () => {
    setPages(ready ? BACKSTOP_PAGES : SQLITE_DEFAULT_PAGES);
    if (failed) return;
    if (!worker) return start();
    commits++;
    maybeRequest();
  };

  const maybeRequest = () => {
    if (!worker || !ready || inFlight || commits === 0) return;
    const bytes = commits >= CHECKPOINT_EVERY_COMMITS ? undefined : walBytes();
    if (bytes !== undefined && bytes - walAtLast < CHECKPOINT_WAL_GROWTH_BYTES) return;
    inFlight = true;
    commits = 0;
    walAtLast = bytes ?? walBytes();
    worker.postMessage("checkpoint");
  };

  const close = () => {
    const w = worker;
    if (!w) return;
    worker = undefined;
    // Also while it is still starting: the message waits on its port until it listens.
    w.postMessage("close");
    Atomics.wait(flags!, 0, 0, CLOSE_WAIT_MS);
    void w.terminate();
    ready = inFlight = false;
    commits = 0;
    walAtLast = 0;
    // Closing comes before the handle is closed (the store's close, a re-copy's swap): the next
    // handle starts at SQLite's default, which the next commit after a new worker is ready moves.
    pages = SQLITE_DEFAULT_PAGES;
  };

  return {
    committed,
    close,
    stats: () => ({ worker: failed ? "failed" : ready ? "running" : "not started", checkpoints, lastMs, lastThreadId, error }),
  };
}
