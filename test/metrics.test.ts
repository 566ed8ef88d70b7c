/**
 * GET /metrics as Prometheus's own linter sees it: `promtool check metrics` (Debian's
 * prometheus package) on a scrape of a running replica with every kind of series filled.
 */
import { spawn } from "node:child_process";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";

const KEY = "metrics-key-0123456789";
const silent = createLogger({ level: "silent" });
const hasPromtool = requireSystem("the promtool check of /metrics", SYSTEM.promtool);

/** Pipes `text` to `promtool check metrics`; resolves with its exit code and what it said. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM.promtool.path, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

describe.skipIf(!hasPromtool)("metrics lint", () => {
  test("promtool check metrics finds nothing to complain about in GET /metrics of a running replica.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 10);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent, metrics: m.metrics }), "127.0.0.1", 0);
    try {
      // Fill the labelled series too (search latency, HTTP requests by route and status).
      expect((await fetch(`${server.url}/memory/search?q=memory`, { headers: { "x-api-key": KEY } })).status).toBe(200);
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      // promtool accepts an empty input: make sure there is something to check.
      for (const name of ["embedded_memory_pulls_total", "embedded_memory_search_duration_seconds_bucket", "embedded_memory_http_requests_total", "embedded_memory_process_process_cpu_seconds_total", "embedded_memory_process_nodejs_active_handles"]) {
        expect(text, name).toContain(`\n${name}`);
      }
      const lint = await promtoolCheck(text);
      expect(lint.output).toBe("");
      expect(lint.code).toBe(0);
    } finally {
      await server.close();
    }
  });
});
