import { spawn, execFileSync } from "node:child_process";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { freePort } from "./support/postgres.ts";
import { cliEnv } from "./support/cli.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const postgresProcesses = (dir: string) => execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(dir) && /postgres/.test(l));

describe("demo", () => {
  test("npm start in a fresh folder reaches a ready replica with the sample rows, and SIGINT stops everything, Postgres included.", async ({ tmp }) => {
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
        expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
      }, 90_000, 250);
      expect(out).toMatch(/API key\s+demo-[0-9a-f]{32}/);
      expect(out).toMatch(/curl -s .*\/memory\/search\?q=/);
      expect(out).toMatch(/npx embedded-memory demo write/);
      const key = /API key\s+(\S+)/.exec(out)![1]!;
      const search = (await (await fetch(`http://127.0.0.1:${port}/memory/search?q=postgres`, { headers: { "x-api-key": key } })).json()) as { results: unknown[]; search_method: string };
      expect(search.results.length).toBeGreaterThan(0);
      expect(search.search_method).toBe("hybrid");
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
