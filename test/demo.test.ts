import { spawn, execFileSync } from "node:child_process";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { freePort } from "./support/postgres.ts";
import { cliEnv } from "./support/cli.ts";
import { DEMO_TASKS_TABLE, REPLICATED_TASK_STATUSES, sampleTasks } from "../src/dev/sampleTasks.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
// Statuses and titles do not depend on the memory ids the tasks get on the master.
const TASKS = sampleTasks(Array.from({ length: 1000 }, (_, i) => `memory-${i}`));
const REPLICATED = TASKS.filter((t) => (REPLICATED_TASK_STATUSES as readonly string[]).includes(t.status));
const PENDING_TITLES = TASKS.filter((t) => t.status === "pending").map((t) => t.title).sort();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface TablePage {
  readonly table: string;
  readonly rows: Record<string, unknown>[];
  readonly next_cursor: string | null;
}

const postgresProcesses = (dir: string) => execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(dir) && /postgres/.test(l));

describe("demo", () => {
  test("npm start in a fresh folder reaches a ready replica with the sample memories and the pending tasks, and SIGINT stops everything, Postgres included.", { timeout: 150_000 }, async ({ tmp }) => {
    // Longer than the waits below, so that a failing wait still reaches the clean-up (SIGINT).
    const port = await freePort();
    const data = path.join(tmp, "data");
    // Like a terminal: its own process group, and Ctrl-C is SIGINT to the whole group.
    const child = spawn("npm", ["start", "--silent"], {
      cwd: ROOT,
      detached: true,
      env: cliEnv({ PORT: String(port), EMBEDDED_MEMORY_DEMO_DIR: data, EMBEDDED_MEMORY_PATH: path.join(data, "ai-memory.db"), API_KEYS: "" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
    try {
      await eventually(async () => {
        const stats = (await (await fetch(`http://127.0.0.1:${port}/memory/stats`)).json()) as { state: string; total_memories: number; pool_connected: boolean };
        expect(stats).toMatchObject({ state: "idle", pool_connected: true, total_memories: 1000 });
        expect(stats).toMatchObject({ tables: { [DEMO_TASKS_TABLE]: { rows: REPLICATED.length, last_sync: expect.any(String) } } });
        expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
      }, 90_000, 250);
      // The banner comes once the first sync has brought both tables.
      await eventually(() => expect(out).toContain(`Synced 1000 memories, ${REPLICATED.length} tasks from master`), 15_000, 100);
      expect(out).toMatch(/API key\s+demo-[0-9a-f]{32}/);
      expect(out).toMatch(/curl -s .*\/memory\/search\?q=/);
      expect(out).toMatch(/curl -s .*\/tables\/ai_autonomous_tasks\?status=pending&order_by=priority&limit=5/);
      expect(out).toMatch(/npx embedded-memory demo write/);
      const key = /API key\s+(\S+)/.exec(out)![1]!;
      const get = async <T,>(pathAndQuery: string): Promise<T> => {
        const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { headers: { "x-api-key": key } });
        expect(res.status, pathAndQuery).toBe(200);
        return (await res.json()) as T;
      };
      const search = await get<{ results: unknown[]; search_method: string }>("/memory/search?q=postgres");
      expect(search.results.length).toBeGreaterThan(0);
      expect(search.search_method).toBe("hybrid");

      // Every pending task, page by page: only pending rows, with the master's columns.
      const pending: Record<string, unknown>[] = [];
      for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
        expect(pages, "pages of pending tasks").toBeLessThan(50);
        const page: TablePage = await get<TablePage>(`/tables/${DEMO_TASKS_TABLE}?status=pending${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        expect(page.table).toBe(DEMO_TASKS_TABLE);
        pending.push(...page.rows);
        cursor = page.next_cursor;
      }
      expect(pending.map((r) => r.status)).toEqual(PENDING_TITLES.map(() => "pending"));
      expect(pending.map((r) => r.title).sort()).toEqual(PENDING_TITLES);
      for (const row of pending) {
        expect(row).toMatchObject({ id: expect.stringMatching(UUID), priority: expect.any(Number), created_at: expect.any(String), updated_at: expect.any(String) });
        expect((row.memory_ids as string[]).length).toBeGreaterThan(0);
        for (const id of row.memory_ids as string[]) expect(id).toMatch(UUID);
      }
      // The banner's curl: the five most urgent pending tasks.
      const urgent = await get<TablePage>(`/tables/${DEMO_TASKS_TABLE}?status=pending&order_by=priority&limit=5`);
      const priorities = urgent.rows.map((r) => r.priority as number);
      expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
      expect(priorities).toEqual(TASKS.filter((t) => t.status === "pending").map((t) => t.priority).sort((a, b) => a - b).slice(0, 5));
      expect(postgresProcesses(data).length).toBeGreaterThan(0);
    } finally {
      process.kill(-child.pid!, "SIGINT");
    }
    // npm ends by the signal (as in a terminal); the demo below it shuts down and exits.
    expect([0, "SIGINT"]).toContain(await exited);
    await eventually(() => {
      expect(postgresProcesses(data)).toEqual([]);
      expect(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes("embedded-memory.js demo"))).toEqual([]);
    }, 15_000);
    expect(out).toMatch(/stopping/);
  });
});
