import { existsSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { makeLocalStore } from "../src/services/LocalStore.ts";
import { WAL_FALLBACK_AUTOCHECKPOINT_PAGES } from "../src/services/walCheckpointer.ts";

describe("WAL checkpoints off the main thread", () => {
  test("A worker copies the WAL into the database file while the main connection keeps writing, and closes before it so no WAL is left behind.", async ({ tmp }) => {
    const file = path.join(tmp, "replica.db");
    const store = makeLocalStore(file);
    try {
      expect(store.checkpointer).toBeDefined();
      // The main connection's own checkpoints are only a far-off fallback.
      expect(store.db.pragma("wal_autocheckpoint", { simple: true })).toBe(WAL_FALLBACK_AUTOCHECKPOINT_PAGES);
      store.db.exec("CREATE TABLE filler (x BLOB)");
      const insert = store.db.prepare("INSERT INTO filler VALUES (?)");
      for (let i = 0; i < 500; i++) insert.run(Buffer.alloc(4_000, i & 255));
      await eventually(() => {
        const s = store.checkpointer!.stats();
        expect(s.lastError).toBeNull();
        expect(s.lastWalFrames).toBeGreaterThanOrEqual(500);
        expect(s.lastCheckpointedFrames).toBe(s.lastWalFrames);
      });
    } finally {
      store.close();
      store.close(); // twice is safe
    }
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = makeLocalStore(file);
    try {
      expect((again.db.prepare("SELECT count(*) AS n FROM filler").get() as { n: number }).n).toBe(500);
    } finally {
      again.close();
    }
  });

  test("An in-memory store has no checkpoint worker.", () => {
    const store = makeLocalStore(":memory:");
    expect(store.checkpointer).toBeUndefined();
    store.close();
  });
});
