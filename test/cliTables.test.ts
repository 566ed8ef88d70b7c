/**
 * The CLI with further tables (REPLICATE_TABLES, REPLICATE_CONFIG), as an operator runs it:
 * migrate installs their triggers, sync copies them, stats/tables/get read them from the file,
 * verify compares them, and a filter the master cannot plan fails naming the table.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { runCli } from "./support/cli.ts";
import { seedMemories } from "./support/seed.ts";
import { TASKS_DDL } from "./support/tasks.ts";

describe("CLI with further tables", () => {
  test("migrate, sync, stats, tables, get and verify handle a filtered tasks table end to end.", async ({ pg, tmp }) => {
    const env = { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "cli.db"), REPLICATE_TABLES: "ai_autonomous_tasks:status IN ('pending','in_progress')" };
    await pg.sql(TASKS_DDL);
    const printed = await runCli(["migrate", "--print"], env);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/CREATE TRIGGER embedded_memory_capture AFTER INSERT OR UPDATE OR DELETE ON "ai_autonomous_tasks"/);
    const migrated = await runCli(["migrate"], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/change capture installed for ai_autonomous_tasks \(key id, filter status IN/);
    await seedMemories(pg, 12);
    await pg.sql("INSERT INTO ai_autonomous_tasks (title, status, priority) SELECT 'task ' || i, (ARRAY['pending','done'])[1 + i % 2], i FROM generate_series(1, 10) AS i");

    const sync = await runCli(["sync"], env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/12 memories, 5 ai_autonomous_tasks in the replica/);
    expect((await runCli(["stats"], env)).stdout).toMatch(/table ai_autonomous_tasks: 5 rows, last sync \S+, filter status IN \('pending','in_progress'\)/);
    const tables = JSON.parse((await runCli(["tables", "--json"], env)).stdout);
    expect(Object.keys(tables)).toEqual(["unified_ai_memory", "ai_autonomous_tasks"]);
    expect(tables.ai_autonomous_tasks).toMatchObject({ rows: 5, filter: "status IN ('pending','in_progress')" });

    const [task] = await pg.sql<{ id: string }>("SELECT id::text FROM ai_autonomous_tasks WHERE status = 'pending' ORDER BY id LIMIT 1");
    const got = await runCli(["get", "ai_autonomous_tasks", task!.id, "--json"], env);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: task!.id, status: "pending" });
    const [done] = await pg.sql<{ id: string }>("SELECT id::text FROM ai_autonomous_tasks WHERE status = 'done' LIMIT 1");
    expect((await runCli(["get", "ai_autonomous_tasks", done!.id], env)).code).toBe(1); // filtered out: not in the replica
    const unknown = await runCli(["get", "tasks", task!.id], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/tasks/);

    const verified = await runCli(["verify", "--json"], env);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ identical: true, tables: { ai_autonomous_tasks: { identical: true, master_count: 5 } } });
  });

  test("REPLICATE_CONFIG names a table with its columns; a filter the master cannot plan makes sync fail with one message naming the table.", async ({ pg, tmp }) => {
    await pg.sql(TASKS_DDL);
    await pg.sql("INSERT INTO ai_autonomous_tasks (title, status) VALUES ('a', 'pending'), ('b', 'done')");
    const file = path.join(tmp, "tables.json");
    writeFileSync(file, JSON.stringify({ tables: [{ name: "ai_autonomous_tasks", columns: ["title", "status"], indexes: ["status"] }] }));
    const env = { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "config.db"), REPLICATE_CONFIG: file };
    const sync = await runCli(["sync", "--json"], env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ tables: { ai_autonomous_tasks: 2 } });
    const rows = JSON.parse((await runCli(["tables", "--json"], env)).stdout);
    expect(rows.ai_autonomous_tasks).toMatchObject({ rows: 2, filter: null });

    const bad = await runCli(["sync"], { ...env, REPLICATE_CONFIG: "", REPLICATE_TABLES: "ai_autonomous_tasks:stauts = 'pending'", EMBEDDED_MEMORY_PATH: path.join(tmp, "bad.db") });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ai_autonomous_tasks.*cannot plan its row filter "stauts = 'pending'"/);
    expect(bad.stderr).not.toContain(new URL(pg.url).password);
  });
});
