import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { threadId as mainThreadId } from "node:worker_threads";
import { test as base, expect } from "vitest";
import { memoryRow, writeRows } from "./support/corpus.ts";
import { eventually } from "./support/fixtures.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { BACKSTOP_PAGES, CHECKPOINT_EVERY_COMMITS, CHECKPOINT_WAL_GROWTH_BYTES, makeCheckpointer } from "../src/store/checkpointer.ts";
import { openReplicaFile } from "../src/store/migrations.ts";

const test = base.extend<{ file: string }>({
  // eslint-disable-next-line no-empty-pattern
  file: async ({}, use) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "checkpointer-"));
    await use(path.join(dir, "replica.db"));
    rmSync(dir, { recursive: true, force: true });
  },
});

const rows = (n: number, tag: string, padding = 60) => Array.from({ length: n }, (_, i) => memoryRow({ content: JSON.stringify({ text: `${tag} row ${i} ${"padding ".repeat(padding)}` }) }));

test("Checkpoints run on a worker thread while the file's own connection only keeps a backstop, and closing removes the WAL.", async ({ file }) => {
  const store = makeLocalStore(file);
  try {
    expect(store.checkpoints().worker).toBe("not started");
    writeRows(store, rows(1, "first")); // the first commit starts the worker
    await eventually(() => expect(store.checkpoints().worker).toBe("running"), 10_000);
    expect(store.pluck("PRAGMA wal_autocheckpoint").get()).toBe(1_000);
    // Set right after the connection's next commit, never from the worker's message.
    writeRows(store, rows(1, "second"));
    expect(store.pluck("PRAGMA wal_autocheckpoint").get()).toBe(BACKSTOP_PAGES);
    for (let i = 0; i < CHECKPOINT_EVERY_COMMITS * 3; i++) writeRows(store, rows(1, `c${i}`));
    await eventually(() => expect(store.checkpoints().checkpoints).toBeGreaterThanOrEqual(2), 10_000);
    const s = store.checkpoints();
    expect(s.lastThreadId).not.toBeNull();
    expect(s.lastThreadId).not.toBe(mainThreadId);
    expect(s.error).toBeNull();
    expect(store.count({ localName: "unified_ai_memory" } as never)).toBe(2 + CHECKPOINT_EVERY_COMMITS * 3);
  } finally {
    store.close();
  }
  // The worker's connection closed before the store's: the last one out removed the WAL.
  expect(existsSync(`${file}-wal`)).toBe(false);
});

test("The worker may become ready while the connection is inside an iterator (a copy's rows): nothing runs on the connection then.", async ({ file }) => {
  const store = makeLocalStore(file);
  try {
    writeRows(store, rows(5, "iterated"));
    // Found in the suite: the worker's "ready" set a pragma on a busy connection, an uncaught TypeError.
    const it = store.rowsInKeyOrder({ localName: "unified_ai_memory", key: "id" } as never, [{ name: "id", kind: "text" }] as never);
    expect(it.next().done).toBe(false);
    await eventually(() => expect(store.checkpoints().worker).toBe("running"), 10_000);
    expect([...it]).toHaveLength(4);
    writeRows(store, rows(1, "after"));
    expect(store.pluck("PRAGMA wal_autocheckpoint").get()).toBe(BACKSTOP_PAGES);
  } finally {
    store.close();
  }
});

test("A large commit (a first copy's chunk) is checkpointed by the worker without waiting for more commits.", async ({ file }) => {
  const store = makeLocalStore(file);
  try {
    writeRows(store, rows(1, "start"));
    await eventually(() => expect(store.checkpoints().worker).toBe("running"), 10_000);
    const before = store.checkpoints().checkpoints;
    writeRows(store, rows(3_000, "chunk", 300)); // > 8 MB of WAL in one commit
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(2 * CHECKPOINT_WAL_GROWTH_BYTES);
    await eventually(() => expect(store.checkpoints().checkpoints).toBeGreaterThan(before), 10_000);
    expect(store.checkpoints().lastThreadId).not.toBe(mainThreadId);
  } finally {
    store.close();
  }
});

test("When the worker cannot run, the connection checkpoints itself as SQLite does by default and no write is lost.", async ({ file }) => {
  const db = openReplicaFile(file);
  const checkpointer = makeCheckpointer(file, () => db, path.join(os.tmpdir(), "no-such-driver.js"));
  try {
    db.exec("CREATE TABLE t (v TEXT)");
    checkpointer.committed();
    await eventually(() => expect(checkpointer.stats().worker).toBe("failed"), 10_000);
    expect(checkpointer.stats().error).toMatch(/no-such-driver/);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(1_000);
    const insert = db.prepare("INSERT INTO t VALUES (?)");
    for (let i = 0; i < 500; i++) {
      insert.run("x".repeat(4_000));
      checkpointer.committed();
    }
    expect(db.prepare("SELECT count(*) FROM t").pluck().get()).toBe(500);
  } finally {
    checkpointer.close();
    db.close();
  }
});
