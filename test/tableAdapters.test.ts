/**
 * The adapters of the replicated tables' reads, on a real replica file
 * (test/support/tableReplica.ts): GET /tables/:name and /tables/:name/:key (API key, a scoped
 * key's tenant, 400/404), and the CLI's `tables` and `get`, which need no master.
 */
import { describe } from "vitest";
import { expect } from "./support/fixtures.ts";
import { runCli } from "./support/cli.ts";
import { EVENTS, markCopied, MEMORY, test, TENANT_A, TENANT_B, uuid } from "./support/tableReplica.ts";
import { makeTableReader, tableHandle, type TableRow } from "../src/runtime/tables.ts";
import { createHttpApp, type MemoryApi } from "../src/http/app.ts";
import { openApiDocument } from "../src/http/openapi.ts";
import { createLogger } from "../src/observability/logger.ts";

describe("HTTP and CLI reads of the replicated tables", () => {
  test("GET /tables/:name and /tables/:name/:key need a key, read through its tenant, and answer 400/404 as the contract says.", async ({ replica }) => {
    // The configuration also names a table the file does not hold yet.
    const reader = makeTableReader(replica.store, MEMORY, [{ name: "ops.agent_runs" }]);
    const api = { table: (name: string, options = {}) => tableHandle(name, options, replica.file, async () => reader) } as unknown as MemoryApi;
    const app = createHttpApp(api, { apiKeys: ["all-key", `scoped-key:${TENANT_A}`], logger: createLogger({ level: "silent" }) });
    const get = async (p: string, key = "all-key") => {
      const res = await app.request(p, { headers: { "x-api-key": key } });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await app.request("/tables/ai_autonomous_tasks")).status).toBe(401);
    const page = await get("/tables/ai_autonomous_tasks?status=pending&order_by=-priority&limit=5");
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ table: "ai_autonomous_tasks", complete: true });
    expect(page.body.rows).toEqual(replica.reader.table("ai_autonomous_tasks").list({ filters: { status: "pending" }, order_by: "-priority", limit: 5 }).rows);
    const next = await get(`/tables/ai_autonomous_tasks?status=pending&order_by=-priority&limit=5&cursor=${page.body.next_cursor}`);
    expect(next.body.rows[0].id).not.toBe(page.body.rows[0].id);
    expect((await get("/tables/ai_autonomous_tasks?order_by=&limit=&cursor=")).body.rows).toHaveLength(40); // empty: absent

    expect(await get("/tables/nope")).toEqual({ status: 400, body: { field: "table", error: expect.stringMatching(/unknown table nope; the replicated tables are: unified_ai_memory, ai_autonomous_tasks, event_log, agent_settings, agent_runs/) } });
    expect(await get("/tables/agent_runs?state=open&order_by=-started_at")).toEqual({ status: 200, body: { table: "agent_runs", rows: [], next_cursor: null, complete: false } });
    expect(await get("/tables/agent_runs/42")).toEqual({ status: 404, body: { error: "no row 42 in table agent_runs" } });
    // Copied anew: the rows read so far, and complete false.
    replica.store.resetSync(EVENTS, "another source", "epoch");
    expect((await get("/tables/event_log?limit=3")).body).toMatchObject({ rows: expect.arrayContaining([expect.anything()]), complete: false });
    markCopied(replica.store, EVENTS);
    expect((await get("/tables/ai_autonomous_tasks?colour=red")).body).toMatchObject({ field: "filters.colour", error: expect.stringMatching(/no column colour/) });
    expect((await get("/tables/ai_autonomous_tasks?order_by=title")).body.error).toMatch(/not indexed.*id, status, priority, due_at/);
    expect((await get("/tables/ai_autonomous_tasks?limit=0")).status).toBe(400);
    expect((await get("/tables/ai_autonomous_tasks?limit=ten")).body.field).toBe("limit");
    expect((await get("/tables/ai_autonomous_tasks?cursor=garbage")).body.field).toBe("cursor");
    expect((await get("/tables/ai_autonomous_tasks?status=a&status=b")).body).toMatchObject({ field: "status", error: expect.stringMatching(/given 2 times/) });

    expect(await get(`/tables/ai_autonomous_tasks/${uuid(3)}`)).toMatchObject({ status: 200, body: { id: uuid(3), tenant_id: TENANT_A, memory_ids: [uuid(103)] } });
    expect(await get(`/tables/ai_autonomous_tasks/${uuid(999)}`)).toEqual({ status: 404, body: { error: `no row ${uuid(999)} in table ai_autonomous_tasks` } });
    expect((await get("/tables/event_log/abc")).body).toMatchObject({ field: "key", error: expect.stringMatching(/whole number/) });
    expect((await get("/tables/event_log/9007199254740993")).body.bytes).toBe("9223372036854775807");
    expect((await get(`/tables/agent_settings/${encodeURIComponent("a b/c")}`)).body).toEqual({ name: "a b/c", value: { x: 1 } });

    // A scoped key: another tenant's row is a 404, absent from lists; tables without tenants read whole.
    expect((await get(`/tables/ai_autonomous_tasks/${uuid(1)}`, "scoped-key")).status).toBe(404);
    expect((await get(`/tables/ai_autonomous_tasks/${uuid(3)}`, "scoped-key")).status).toBe(200);
    const scoped = (await get("/tables/ai_autonomous_tasks?limit=1000", "scoped-key")).body.rows as TableRow[];
    expect(scoped.every((r) => r.tenant_id !== TENANT_B)).toBe(true);
    expect(scoped).toHaveLength(27);
    expect((await get("/tables/event_log?limit=1000", "scoped-key")).body.rows).toHaveLength(15);

    const paths = (openApiDocument() as { paths: Record<string, unknown> }).paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(["/tables/{name}", "/tables/{name}/{key}"]));
  });

  test("CLI tables and get read the file without a master: counts, rows, and exit 1 not found, 2 bad input.", async ({ replica }) => {
    replica.store.close(); // the CLI opens the file itself
    // REPLICATE_TABLES names a held table and one whose first copy has not begun.
    const env = { EMBEDDED_MEMORY_PATH: replica.file, REPLICATE_TABLES: "ai_autonomous_tasks:status IN ('pending','in_progress'),ops.agent_runs:state = 'open'" };
    // Independent runs, side by side: each is a process start.
    const [tables, human, row, negative, missing, unknown, badKey, noKey, notYet] = await Promise.all([
      runCli(["tables", "--json"], env),
      runCli(["tables"], env),
      runCli(["get", "event_log", "9007199254740993", "--json"], env),
      runCli(["get", "event_log", "--", "-10"], env),
      runCli(["get", "ai_autonomous_tasks", uuid(999)], env),
      runCli(["get", "nope", "1"], env),
      runCli(["get", "event_log", "abc"], env),
      runCli(["get", "event_log"], env),
      runCli(["get", "agent_runs", "1"], env),
    ]);
    expect(tables.code).toBe(0);
    const summary = JSON.parse(tables.stdout);
    expect(Object.keys(summary)).toEqual(["unified_ai_memory", "ai_autonomous_tasks", "event_log", "agent_settings", "agent_runs"]);
    expect(summary.ai_autonomous_tasks).toMatchObject({ master_table: "public.ai_autonomous_tasks", key: "id", rows: 40, filter: "status IN ('pending','in_progress')", snapshot_complete: true });
    expect(summary.agent_runs).toEqual({ master_table: "ops.agent_runs", key: null, rows: 0, last_sync: null, cursor: null, filter: "state = 'open'", snapshot_complete: false });
    expect(summary.unified_ai_memory).toMatchObject({ rows: 2, filter: null });

    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^table\s+rows\s+complete\s+last sync\s+filter\n/);
    expect(human.stdout).toMatch(/ai_autonomous_tasks\s+40\s+yes\s+never\s+status IN \('pending','in_progress'\)/);
    expect(human.stdout).toMatch(/agent_runs\s+0\s+no\s+never\s+state = 'open'/);

    expect(row.code).toBe(0);
    expect(row.stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(row.stdout)).toEqual({ seq: "9007199254740993", kind: "big", bytes: "9223372036854775807" });
    expect(JSON.parse(negative.stdout)).toEqual({ seq: -10, kind: "read", bytes: 0 });

    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no row .* in table ai_autonomous_tasks/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown table nope/);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/key: expected a 64-bit whole number/);
    expect(noKey.code).toBe(2);
    expect(notYet.code).toBe(1);
    expect(notYet.stderr).toMatch(/no row 1 in table agent_runs/);
  });
});

