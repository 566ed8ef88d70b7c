/**
 * The replica file locked by someone else (another process's write transaction held past the
 * busy timeout) is a 503 with Retry-After and an error saying the file is locked, never a 500;
 * searches still answer; sync backs off with the lock in its error and recovers.
 */
import Database from "better-sqlite3";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { createHttpApp } from "../src/http/app.ts";
import { createLogger } from "../src/observability/logger.ts";

const KEY = "locked-key-0123456789";

describe("a locked replica file", () => {
  test("Writes answer 503 with Retry-After naming the lock, searches still answer, sync backs off and everything recovers once the lock is released.", async ({ pg, replica, tmp }) => {
    await installMaster(pg);
    await seedMemories(pg, 5);
    const localPath = path.join(tmp, "locked.db");
    const m = replica({ localPath });
    await m.start();
    await m.waitForFirstSync();
    const app = createHttpApp(m, { apiKeys: [KEY], logger: createLogger({ level: "silent" }) });
    const request = (method: string, p: string, body?: unknown) =>
      app.request(p, { method, headers: { "x-api-key": KEY, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

    // Another connection (as a sqlite3 shell would) takes the write lock and keeps it.
    const other = new Database(localPath);
    other.exec("BEGIN IMMEDIATE");
    try {
      const write = await request("POST", "/memory", { content: "written while locked" });
      expect(write.status).toBe(503);
      expect(write.headers.get("retry-after")).toBe("5");
      expect(((await write.json()) as { error: string }).error).toMatch(/locked by another process/);

      // Reads do not need the write lock: a search answers (its access counts are dropped).
      const search = await request("GET", "/memory/search?q=memory");
      expect(search.status).toBe(200);

      // A pull cannot apply: the sync machine backs off with the lock in its error.
      await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) VALUES ('semantic', '{\"text\":\"arrives after the lock\"}')");
      const forced = await request("POST", "/memory/force-sync");
      expect(forced.status).toBe(503);
      expect(((await forced.json()) as { error: string }).error).toMatch(/locked/);
      expect(m.state()).toBe("backoff");
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }

    // Released: writes work again and the sync catches up by itself.
    expect((await request("POST", "/memory", { content: "written after the lock" })).status).toBe(201);
    await eventually(() => expect(m.stats().total_memories).toBe(7));
    await eventually(() => expect(m.state()).toBe("idle"));
  });
});
