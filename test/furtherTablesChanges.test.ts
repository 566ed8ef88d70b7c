/**
 * Further tables (REPLICATE_TABLES) when things change: the replica away past the changelog
 * retention, columns added and dropped on the master, a TRUNCATE; and the file as `sqlite3`
 * users see it (the memories and the tasks joined).
 */
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { localRows, PENDING, setUp } from "./support/tasks.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { installStatements } from "../src/master/installSql.ts";

const hasSqlite3 = requireSystem("the sqlite3 CLI join of the memories and the tasks", SYSTEM.sqlite3);

describe("further tables when things change", () => {
  test("A replica away past the changelog retention copies the further tables anew with the memories, into the new file, and ends identical for both.", async ({ pg, replica, tmp }) => {
    await setUp(pg);
    const localPath = `${tmp}/away.db`;
    const first = replica({ localPath, replicatedTables: [PENDING] });
    await first.syncOnce();
    await first.stop();
    // While it is away: a task leaves the filter, one is deleted, one is added; the changelog is pruned.
    await pg.sql("UPDATE ai_autonomous_tasks SET status = 'done' WHERE id = (SELECT id FROM ai_autonomous_tasks WHERE status = 'pending' ORDER BY id LIMIT 1)");
    await pg.sql("DELETE FROM ai_autonomous_tasks WHERE id = (SELECT id FROM ai_autonomous_tasks WHERE status = 'in_progress' ORDER BY id LIMIT 1)");
    await pg.sql("INSERT INTO ai_autonomous_tasks (title, status) VALUES ('while away', 'pending')");
    await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '10 days'");
    const [pruned] = await pg.sql<{ removed: string }>("SELECT embedded_memory.prune_changes(interval '1 day') AS removed");
    expect(Number(pruned!.removed)).toBeGreaterThan(0);
    const inode = statSync(localPath).ino;
    const back = replica({ localPath, replicatedTables: [PENDING] });
    // The pull finds the cursor expired, and the re-copy goes into a new file, swapped in.
    await back.syncOnce();
    expect(statSync(localPath).ino).not.toBe(inode);
    expect(back.stats().stale).toBe(false);
    const report = await back.verify();
    expect(report).toMatchObject({ identical: true, tables: { ai_autonomous_tasks: { identical: true, master_count: 19 } } });
    expect(localRows(back, "ai_autonomous_tasks", "id").map((r) => r.title)).toContain("while away");
  });

  test("A further table whose columns change on the master is described anew: a dropped or added column reshapes the local table, and a configured column that disappears is an error naming it until it is back.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING], backoffBaseMs: 50, backoffMaxMs: 200 });
    await m.start();
    await m.waitForFirstSync();
    const columns = () => m._db().prepare("SELECT name FROM pragma_table_info('ai_autonomous_tasks')").pluck().all() as string[];
    expect(columns()).toContain("payload");
    await pg.sql("ALTER TABLE ai_autonomous_tasks DROP COLUMN payload, ADD COLUMN note text NOT NULL DEFAULT 'noted'");
    await pg.sql("UPDATE ai_autonomous_tasks SET title = title || '!' WHERE status = 'pending'"); // a change, so a pull runs
    await eventually(() => {
      expect(columns()).not.toContain("payload");
      expect(m._db().prepare("SELECT DISTINCT note FROM ai_autonomous_tasks").pluck().all()).toEqual(["noted"]);
    });
    expect((await m.verify()).tables?.ai_autonomous_tasks).toMatchObject({ identical: true, master_count: 20 });

    const strict = replica({ replicatedTables: [{ name: "ai_autonomous_tasks", columns: ["title", "status", "agent"] }], backoffBaseMs: 50, backoffMaxMs: 200 });
    await strict.start();
    await strict.waitForFirstSync();
    await pg.sql("ALTER TABLE ai_autonomous_tasks DROP COLUMN agent");
    await pg.sql("UPDATE ai_autonomous_tasks SET title = title || '?'");
    await eventually(() => {
      expect(strict.state()).toBe("backoff");
      expect(strict.stats().last_error).toMatch(/ai_autonomous_tasks: the master table has no column agent/);
    });
    await pg.sql("ALTER TABLE ai_autonomous_tasks ADD COLUMN agent text");
    await eventually(() => expect(strict.state()).toBe("idle"), 20_000);
    expect((await strict.verify()).tables?.ai_autonomous_tasks).toMatchObject({ identical: true, master_count: 40 });
  });

  test("A TRUNCATE of a further table copies that table anew and leaves the memories alone; a TRUNCATE of the memory table copies every table anew.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING] });
    await m.start();
    await m.waitForFirstSync();
    await eventually(() => expect(m.state()).toBe("idle"));
    const epoch = m.stats().cursor.epoch;
    const copiedAt = () => m._db().prepare("SELECT snapshot_started_at FROM sync_state WHERE table_name = ?").pluck().get("unified_ai_memory");
    const memoryCopy = copiedAt();
    expect(m.stats().tables.ai_autonomous_tasks!.rows).toBe(20);
    await pg.sql("TRUNCATE ai_autonomous_tasks");
    await eventually(() => {
      expect(m.stats().tables.ai_autonomous_tasks!.rows).toBe(0);
      expect(m.state()).toBe("idle");
    });
    // The memories were not copied again: same epoch, same copy.
    expect(m.stats().cursor.epoch).toBe(epoch);
    expect(copiedAt()).toBe(memoryCopy);
    await pg.sql("INSERT INTO ai_autonomous_tasks (title, status) VALUES ('after the truncate', 'pending')");
    await eventually(() => expect(m.stats().tables.ai_autonomous_tasks!.rows).toBe(1));
    expect((await m.verify()).identical).toBe(true);

    await pg.sql("TRUNCATE unified_ai_memory");
    await eventually(() => {
      expect(m.stats().cursor.epoch).not.toBe(epoch);
      expect(m.stats().total_memories).toBe(0);
      expect(m.state()).toBe("idle");
    });
    expect(m.stats().tables.ai_autonomous_tasks!.rows).toBe(1);
    expect(await m.verify()).toMatchObject({ identical: true, tables: { ai_autonomous_tasks: { identical: true, master_count: 1 } } });
  });

  test("A re-copy whose tasks table is locked on the master waits in backoff, then finishes every table, and the next connect does not copy them again.", async ({ pg, replica, tmp }) => {
    await setUp(pg);
    const localPath = `${tmp}/locked.db`;
    const first = replica({ localPath, replicatedTables: [PENDING] });
    await first.syncOnce();
    await first.stop();
    await pg.sql("INSERT INTO ai_autonomous_tasks (title, status) VALUES ('while away', 'pending')");
    await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '10 days'");
    await pg.sql("SELECT embedded_memory.prune_changes(interval '1 day')");
    const locker = await pg.client();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE ai_autonomous_tasks IN ACCESS EXCLUSIVE MODE");
    const back = replica({ localPath, replicatedTables: [PENDING], statementTimeoutMs: 300, backoffBaseMs: 50, backoffMaxMs: 200 });
    try {
      await back.start();
      await eventually(() => expect(back.stats().last_error).toMatch(/timeout|canceling statement/i));
    } finally {
      await locker.query("ROLLBACK");
      await locker.end();
    }
    await eventually(() => {
      expect(back.state()).toBe("idle");
      expect(back.stats().stale).toBe(false);
      expect(back.stats().tables.ai_autonomous_tasks!.rows).toBe(21);
    });
    expect((await back.verify()).identical).toBe(true);
    const started = back._db().prepare("SELECT table_name, snapshot_started_at FROM sync_state ORDER BY table_name").all();
    await back.stop();
    const again = replica({ localPath, replicatedTables: [PENDING] });
    await again.syncOnce();
    expect(again._db().prepare("SELECT table_name, snapshot_started_at FROM sync_state ORDER BY table_name").all()).toEqual(started);
  });
});

describe("further table triggers from an earlier build", () => {
  test("A further table's TRUNCATE trigger that calls the master-wide new_epoch is made again with the table's own epoch by the install.", async ({ pg }) => {
    await setUp(pg);
    const d = { masterTable: "ai_autonomous_tasks", localName: "ai_autonomous_tasks", key: "id", columns: [] };
    const install = () => pg.sql(["BEGIN", ...installStatements(d, undefined), "COMMIT"].join(";\n"));
    const truncateFunction = async () =>
      (await pg.sql<{ f: string }>("SELECT tgfoid::regproc::text AS f FROM pg_trigger WHERE tgrelid = 'ai_autonomous_tasks'::regclass AND tgname = 'embedded_memory_truncate'"))[0]?.f;
    await install();
    expect(await truncateFunction()).toBe("embedded_memory.new_table_epoch");
    // As an earlier build left it.
    await pg.sql("DROP TRIGGER embedded_memory_truncate ON ai_autonomous_tasks; CREATE TRIGGER embedded_memory_truncate AFTER TRUNCATE ON ai_autonomous_tasks FOR EACH STATEMENT EXECUTE FUNCTION embedded_memory.new_epoch()");
    expect(await truncateFunction()).toBe("embedded_memory.new_epoch");
    await install();
    expect(await truncateFunction()).toBe("embedded_memory.new_table_epoch");
  });
});

describe.skipIf(!hasSqlite3)("further tables in sqlite3", () => {
  test("Debian's sqlite3 joins a replicated task with the memories it refers to, in the replica file.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING] });
    await m.syncOnce();
    const [task] = await pg.sql<{ title: string; n: number }>("SELECT title, cardinality(memory_ids) AS n FROM ai_autonomous_tasks WHERE status = 'pending' ORDER BY id LIMIT 1");
    await m.stop();
    const out = execFileSync(
      SYSTEM.sqlite3.path,
      [m.config.localPath, `SELECT count(*) FROM ai_autonomous_tasks t, json_each(t.memory_ids) j JOIN unified_ai_memory u ON u.id = j.value WHERE t.title = '${task!.title}'`],
      { encoding: "utf8" },
    ).trim();
    expect(Number(out)).toBe(task!.n);
    expect(Number(out)).toBeGreaterThan(0);
  });
});
