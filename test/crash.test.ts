import path from "node:path";
import Database from "better-sqlite3";
import { describe, onTestFinished } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { runCli, spawnCli } from "./support/cli.ts";
import { seedMemories, memoryCount } from "./support/seed.ts";

describe("crash safety", () => {
  test("A replica killed with SIGKILL in the middle of a large snapshot restarts and finishes with exactly the master's rows.", async ({ pg, tmp }) => {
    const file = path.join(tmp, "replica.db");
    const env = { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: file, SNAPSHOT_CHUNK_ROWS: "500" };
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await seedMemories(pg, 40_000, { embeddingDim: 64 });

    const child = spawnCli(["sync"], env);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
    onTestFinished(() => void child.kill("SIGKILL")); // also when the test fails before its own kill
    // Watch the copy's progress through a second, read-only connection and kill mid-way.
    let copied = 0;
    await eventually(() => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const s = db.prepare("SELECT snapshot_rows, snapshot_complete FROM sync_state").get() as { snapshot_rows: number; snapshot_complete: number } | undefined;
        expect(s?.snapshot_complete).toBe(0);
        expect(s?.snapshot_rows ?? 0).toBeGreaterThanOrEqual(3_000);
        copied = s!.snapshot_rows;
      } finally {
        db.close();
      }
    }, 60_000, 5);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const db = new Database(file, { readonly: true });
    const after = db.prepare("SELECT snapshot_rows, snapshot_complete, snapshot_after_key FROM sync_state").get() as { snapshot_rows: number; snapshot_complete: number; snapshot_after_key: string };
    db.close();
    expect(after.snapshot_complete).toBe(0);
    expect(after.snapshot_rows).toBeGreaterThanOrEqual(copied);
    expect(after.snapshot_rows).toBeLessThan(40_000);

    // While it is down the master moves on: rows already copied change or go, new ones come.
    await pg.sql("DELETE FROM unified_ai_memory WHERE id IN (SELECT id FROM unified_ai_memory WHERE id::text <= $1 ORDER BY id LIMIT 50)", [after.snapshot_after_key]);
    await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"after the crash\"}' WHERE id IN (SELECT id FROM unified_ai_memory WHERE id::text <= $1 ORDER BY id DESC LIMIT 50)", [after.snapshot_after_key]);
    await seedMemories(pg, 100, { startAt: 1_000_000 });

    const resumed = await runCli(["sync", "--json"], env);
    expect(resumed.stderr).toBe("");
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout) as { total_memories: number };
    expect(summary.total_memories).toBe(await memoryCount(pg));

    const verify = await runCli(["verify", "--json"], env);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ identical: true, master_count: 40_050, replica_count: 40_050 });
  });
});
