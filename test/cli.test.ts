import path from "node:path";
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { runCli } from "./support/cli.ts";
import { PG_PASSWORD, freePort } from "./support/postgres.ts";
import { seedMemories } from "./support/seed.ts";

describe("CLI", () => {
  test.each([
    [{ SYNC_INTERVAL_MS: "soon" }, /^error: SYNC_INTERVAL_MS: expected a whole number, got "soon"$/],
    [{ DATABASE_URL: "not a url" }, /^error: DATABASE_URL: not a valid URL/],
    [{ DATABASE_URL: "mysql://u:p@h/db" }, /^error: DATABASE_URL: expected a postgres:\/\//],
    [{ EMBEDDING_PROVIDER: "magic" }, /^error: EMBEDDING_PROVIDER: expected one of none, hash, openai$/],
    [{ SYNC_TENANT_ID: "tenant-1" }, /^error: SYNC_TENANT_ID: expected a UUID/],
    [{ AUTO_MIGRATE: "maybe" }, /^error: AUTO_MIGRATE: expected true or false/],
    [{ PORT: "99999" }, /^error: PORT: expected a whole number from 0 to 65535, got 99999$/],
    [{}, /^error: DATABASE_URL: is not set/],
  ])("Bad configuration %j stops with one line naming the variable and exit code 2.", async (vars, message) => {
    const r = await runCli(["sync"], { DATABASE_URL: "postgres://u:p@127.0.0.1:1/db", ...vars, ...(Object.keys(vars).length ? {} : { DATABASE_URL: "" }) });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  test("A bad flag value is reported like the variable, and an unknown command or flag is a usage error (exit 2).", async () => {
    const bad = await runCli(["sync", "--sync-interval-ms", "x", "--database-url", "postgres://u:p@127.0.0.1:1/d"], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SYNC_INTERVAL_MS/);
    expect((await runCli(["frobnicate"], {})).code).toBe(2);
    expect((await runCli(["sync", "--fast"], {})).code).toBe(2);
    const help = await runCli(["verify", "--help"], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--repair/);
  });

  test("The database password never appears in output or logs, even at debug level when the master is unreachable.", async ({ tmp }) => {
    const port = await freePort();
    const r = await runCli(["sync"], { DATABASE_URL: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/postgres`, EMBEDDED_MEMORY_PATH: path.join(tmp, "r.db"), LOG_LEVEL: "debug" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/master not reachable/);
    expect(r.stderr + r.stdout).not.toContain(PG_PASSWORD);
  });

  test("migrate is idempotent, never alters an existing table, and --print shows the SQL without running it.", async ({ pg }) => {
    await pg.sql("CREATE TABLE unified_ai_memory (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), memory_type text NOT NULL, content text NOT NULL, tenant_id uuid, legacy_flag int)");
    const columns = async () => (await pg.sql<{ c: string }>("SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'unified_ai_memory' ORDER BY ordinal_position")).map((r) => r.c);
    const before = await columns();
    const objects = async () => (await pg.sql<{ n: number }>("SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'unified_ai_memory'::regclass AND NOT tgisinternal)::int + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'embedded_memory'::regnamespace)::int AS n"))[0]!.n;

    const printed = await runCli(["migrate", "--print"], { DATABASE_URL: pg.url });
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/CREATE TABLE IF NOT EXISTS embedded_memory\.changes/);
    expect(printed.stdout).toMatch(/pg_notify\('embedded_memory_changes'/);
    expect((await pg.sql("SELECT to_regclass('embedded_memory.changes') AS t"))[0]).toEqual({ t: null });

    expect((await runCli(["migrate"], { DATABASE_URL: pg.url })).code).toBe(0);
    const installed = await objects();
    const epoch = (await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'epoch'"))[0]!.value;
    expect((await runCli(["migrate"], { DATABASE_URL: pg.url })).code).toBe(0);
    expect(await objects()).toBe(installed);
    expect(installed).toBe(3 + 4); // three triggers; capture, notify, epoch and prune functions
    expect((await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'epoch'"))[0]!.value).toBe(epoch);
    expect(await columns()).toEqual(before);
    await pg.sql("DROP TABLE unified_ai_memory");
  });

  test("sync, stats and verify work end to end, and verify exits 1 when the replica differs and 0 after --repair.", async ({ pg, tmp }) => {
    const env = { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "cli.db") };
    expect((await runCli(["stats"], env)).code).toBe(1); // no file yet: a clear error, not a new empty file
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await seedMemories(pg, 120);
    const sync = await runCli(["sync", "--json"], env);
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout)).toMatchObject({ applied: 120, total_memories: 120 });
    expect(JSON.parse(sync.stdout).duration_ms).toBeGreaterThanOrEqual(0);

    const stats = JSON.parse((await runCli(["stats", "--json"], env)).stdout);
    expect(stats).toMatchObject({ enabled: true, state: "idle", pool_connected: false, total_memories: 120, snapshot: { complete: true }, outbox: { pending: 0, parked: 0 } });
    expect(stats.sync_metadata.total_records).toBe(120);
    expect(stats.cursor.snapshot).toMatch(/^\d+:\d+:/);

    expect((await runCli(["verify"], env)).code).toBe(0);
    // A change that bypasses the triggers makes the replica differ.
    const c = await pg.client();
    await c.query("SET session_replication_role = replica");
    await c.query("UPDATE unified_ai_memory SET content = '{\"text\":\"sneaky\"}' WHERE id = (SELECT id FROM unified_ai_memory ORDER BY id LIMIT 1)");
    await c.end();
    const differs = await runCli(["verify", "--json"], env);
    expect(differs.code).toBe(1);
    expect(JSON.parse(differs.stdout)).toMatchObject({ identical: false, different: [expect.any(String)] });
    const repaired = await runCli(["verify", "--repair", "--json"], env);
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ identical: true, repaired: 1 });
    await pg.sql("DELETE FROM unified_ai_memory");
  });
});
