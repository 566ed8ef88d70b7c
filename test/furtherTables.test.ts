/**
 * Further tables (REPLICATE_TABLES) replicated beside the memories: each with its own trigger,
 * cursor and copy, pulled in the memory table's snapshot; a row filter the replica follows in
 * and out; keys of any single column type; and a filter the master cannot plan as a clear error.
 */
import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";

import { localKeys, localRows, PENDING, setUp } from "./support/tasks.ts";
import { pullStatements, queriesDuring } from "./support/queries.ts";

const OTHER_DDL = `CREATE SCHEMA ops;
  CREATE TABLE ops.counters (n bigint PRIMARY KEY, label text, amount numeric);
  CREATE TABLE ops.settings (name text PRIMARY KEY, value text)`;

describe("further tables", () => {
  test("A filtered tasks table is copied beside the memories, follows inserts, updates and deletes, and a task leaves the replica when it stops matching the filter and returns when it matches again.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING] });
    await m.start();
    await m.waitForFirstSync();
    await eventually(() => expect(m.state()).toBe("idle"));
    const pending = async () => (await pg.sql<{ id: string }>("SELECT id::text FROM ai_autonomous_tasks WHERE status IN ('pending','in_progress') ORDER BY id")).map((r) => r.id);
    expect(localKeys(m, "ai_autonomous_tasks", "id")).toEqual(await pending());
    expect((await pending()).length).toBe(20);

    // Typed as the memory table's columns are: uuid[] and jsonb as JSON text, booleans 0/1, timestamps ISO UTC.
    const [row] = localRows(m, "ai_autonomous_tasks", "id");
    expect(JSON.parse(row!.memory_ids as string)).toEqual(expect.arrayContaining([expect.stringMatching(/^[0-9a-f-]{36}$/)]));
    expect(row).toMatchObject({ done: 0, priority: expect.any(Number), created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/) });
    expect(JSON.parse(row!.payload as string)).toHaveProperty("step");

    const [moving] = await pg.sql<{ id: string }>("SELECT id::text FROM ai_autonomous_tasks WHERE status = 'pending' ORDER BY id LIMIT 1");
    await pg.sql("UPDATE ai_autonomous_tasks SET status = 'done' WHERE id = $1", [moving!.id]);
    await eventually(() => expect(localKeys(m, "ai_autonomous_tasks", "id")).not.toContain(moving!.id));
    await pg.sql("UPDATE ai_autonomous_tasks SET status = 'in_progress', title = 'back again' WHERE id = $1", [moving!.id]);
    await eventually(() => expect(localRows(m, "ai_autonomous_tasks", "id").find((r) => r.id === moving!.id)).toMatchObject({ title: "back again", status: "in_progress" }));

    const fresh = randomUUID();
    await pg.sql("INSERT INTO ai_autonomous_tasks (id, title, status) VALUES ($1, 'new one', 'pending'), (gen_random_uuid(), 'never here', 'done')", [fresh]);
    const [gone] = await pg.sql<{ id: string }>("DELETE FROM ai_autonomous_tasks WHERE status = 'in_progress' AND id <> $1 RETURNING id::text", [moving!.id]);
    await eventually(async () => expect(localKeys(m, "ai_autonomous_tasks", "id")).toEqual(await pending()));
    expect(localKeys(m, "ai_autonomous_tasks", "id")).toContain(fresh);
    expect(localKeys(m, "ai_autonomous_tasks", "id")).not.toContain(gone!.id);

    const report = await m.verify();
    expect(report).toMatchObject({ identical: true, tables: { ai_autonomous_tasks: { identical: true, master_count: (await pending()).length } } });
    const stats = m.stats();
    expect(stats.total_memories).toBe(30);
    expect(stats.tables.ai_autonomous_tasks).toMatchObject({ rows: (await pending()).length, filter: PENDING.filter, last_sync: expect.any(String), cursor: expect.stringMatching(/^\d+:\d+:/) });
    expect(stats.tables.unified_ai_memory).toMatchObject({ rows: 30, filter: null });
    await eventually(() => expect(m.state()).toBe("idle")); // the last pull counted
    const metrics = await m.metrics.registry.metrics();
    expect(metrics).toMatch(new RegExp(`embedded_memory_table_rows\\{table="ai_autonomous_tasks"\\} ${(await pending()).length}`));
    expect(metrics).toMatch(/embedded_memory_table_rows_applied_total\{table="ai_autonomous_tasks"\} [1-9]/);
  });

  test("A transaction that writes a memory and a task referring to it reaches the replica in one pull: the task is never there without its memory.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING] });
    await m.start();
    await m.waitForFirstSync();
    await eventually(() => expect(m.state()).toBe("idle"));
    // Each pull applies the memories first, then the tasks, at the same snapshot: sample the file
    // on every change it announces and check that no task is ever ahead of its memory.
    const db = m._db();
    const orphans: string[] = [];
    const check = db.prepare(`SELECT t.id FROM ai_autonomous_tasks t, json_each(t.memory_ids) j WHERE j.value LIKE 'f0000000-%' AND NOT EXISTS (SELECT 1 FROM unified_ai_memory u WHERE u.id = j.value)`).pluck();
    const timer = setInterval(() => orphans.push(...(check.all() as string[])), 1);
    try {
      for (let i = 0; i < 20; i++) {
        const id = `f0000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
        const c = await pg.client();
        try {
          await c.query("BEGIN");
          await c.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', '{\"text\":\"linked\"}')", [id]);
          await c.query("INSERT INTO ai_autonomous_tasks (title, status, memory_ids) VALUES ('linked', 'pending', ARRAY[$1::uuid])", [id]);
          await c.query("COMMIT");
        } finally {
          await c.end();
        }
      }
      await eventually(() => expect((db.prepare("SELECT count(*) FROM ai_autonomous_tasks WHERE title = 'linked'").pluck().get() as number)).toBe(20));
    } finally {
      clearInterval(timer);
    }
    expect(orphans).toEqual([]);
    // Proof that the check sees what it looks for: a task whose memory is missing is found.
    db.prepare("DELETE FROM unified_ai_memory WHERE id = 'f0000000-0000-4000-8000-000000000000'").run();
    expect(check.all()).toHaveLength(1);
  });

  test("A lone task commit reaches the replica in the memory pull's one round trip; more task changes than a batch take the streamed pull.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING], pullBatchRows: 4 });
    await m.start();
    await m.waitForFirstSync();
    await eventually(() => expect(m.state()).toBe("idle"));
    const tasks = () => localKeys(m, "ai_autonomous_tasks", "id").length;
    const before = tasks();
    const idle = () => eventually(() => expect(m.state()).toBe("idle"));
    const lone = await queriesDuring(async () => {
      await pg.sql("INSERT INTO ai_autonomous_tasks (id, title, status) VALUES (gen_random_uuid(), 'lone', 'pending')");
      await eventually(() => expect(tasks()).toBe(before + 1));
      await idle();
    });
    expect(pullStatements(lone)).toHaveLength(1);
    const burst = await queriesDuring(async () => {
      await pg.sql("INSERT INTO ai_autonomous_tasks (id, title, status) SELECT gen_random_uuid(), 'burst ' || i, 'pending' FROM generate_series(1, 6) i");
      await eventually(() => expect(tasks()).toBe(before + 7));
      await idle();
    });
    expect(burst.filter((q) => q.startsWith("FETCH 4 FROM embedded_memory_pull_further_0"))).toHaveLength(2);
    expect((await m.verify()).identical).toBe(true);
  });

  test("Tables keyed by a bigint past 2^53 and by text, in another schema, replicate exactly and verify identical.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql(OTHER_DDL);
    await pg.sql("INSERT INTO ops.counters SELECT 9007199254740993 + i, 'c' || i, i * 1.5 FROM generate_series(0, 9) AS i");
    await pg.sql("INSERT INTO ops.settings VALUES ('Zeta', '1'), ('alpha', '2'), ('Émile', '3'), ('_x', '4')");
    const m = replica({ replicatedTables: [{ name: "ops.counters" }, { name: "ops.settings" }], snapshotChunkRows: 3 });
    await m.start();
    await m.waitForFirstSync();
    expect(localKeys(m, "counters", "n")).toEqual(Array.from({ length: 10 }, (_, i) => String(9007199254740993n + BigInt(i))));
    expect(localKeys(m, "settings", "name")).toEqual(["Zeta", "_x", "alpha", "Émile"]); // BINARY order, as COLLATE "C"
    await pg.sql("UPDATE ops.counters SET label = 'changed' WHERE n = 9007199254740995");
    await pg.sql("DELETE FROM ops.settings WHERE name = 'alpha'");
    await eventually(() => expect(localKeys(m, "settings", "name")).not.toContain("alpha"));
    await eventually(() => expect(m._db().prepare("SELECT label FROM counters WHERE n = CAST('9007199254740995' AS INTEGER)").pluck().get()).toBe("changed"));
    expect(await m.verify()).toMatchObject({ identical: true, tables: { counters: { identical: true, master_count: 10 }, settings: { identical: true, master_count: 3 } } });
  });

  test("A filter the master cannot plan is a clear error naming the table, and the replica waits in backoff instead of syncing without it.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [{ name: "ai_autonomous_tasks", filter: "stauts = 'pending'" }], backoffBaseMs: 50, backoffMaxMs: 200 });
    await m.start();
    await eventually(() => {
      expect(m.state()).toBe("backoff");
      expect(m.stats().last_error).toMatch(/ai_autonomous_tasks.*cannot plan its row filter.*stauts/);
    });
    const missing = replica({ replicatedTables: [{ name: "no_such_table" }] });
    await expect(missing.syncOnce()).rejects.toThrow(/no_such_table.*the master has no table no_such_table/);
  });

  test("A table added to an existing replica is copied without copying the memories again, and a table dropped from the configuration leaves the file.", async ({ pg, replica, tmp }) => {
    await setUp(pg);
    const localPath = `${tmp}/grow.db`;
    const before = replica({ localPath });
    await before.syncOnce();
    const pullsBefore = before.stats().sync_metadata.total_pulls;
    await before.stop();
    const grown = replica({ localPath, replicatedTables: [PENDING] });
    await grown.syncOnce();
    // The memory table's state went on (one more pull), it was not copied anew.
    expect(grown.stats().sync_metadata.total_pulls).toBe(pullsBefore + 1);
    expect(grown.stats().tables.ai_autonomous_tasks!.rows).toBe(20);
    await grown.stop();
    const shrunk = replica({ localPath });
    await shrunk.syncOnce();
    expect(shrunk.stats().tables.ai_autonomous_tasks).toBeUndefined();
    expect(shrunk._db().prepare("SELECT count(*) FROM sqlite_master WHERE name = 'ai_autonomous_tasks'").pluck().get()).toBe(0);
  });

});
