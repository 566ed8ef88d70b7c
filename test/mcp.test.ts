/**
 * MCP, as an agent's client uses it: the SDK's Client over stdio (spawning the CLI) and over
 * Streamable HTTP (POST /mcp on the HTTP app serve runs); every tool, checked against the
 * replica and the master; bad arguments; stdout that carries protocol only.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { CLI_ENTRY, cliEnv, spawnCli } from "./support/cli.ts";
import { freePort } from "./support/postgres.ts";
import { createHttpApp } from "../src/http/app.ts";
import { handleMcpRequest } from "../src/mcp/server.ts";
import { createLogger } from "../src/observability/logger.ts";

const KEY = "mcp-key-0123456789abcdef";
const TOOLS = ["memory_delete", "memory_get", "memory_search", "memory_stats", "memory_store", "memory_sync", "table_get", "table_list"];

type Structured = Record<string, unknown>;
const structured = (r: unknown) => (r as { structuredContent: Structured }).structuredContent;
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]!.text;

/** Lists the tools and calls each one, checking the replica and the master as it goes. */
async function exerciseTools(client: Client, masterRows: (content: string) => Promise<number>): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
  const byName = new Map(tools.map((t) => [t.name, t]));
  expect(byName.get("memory_search")!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
  expect(byName.get("memory_delete")!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
  // Input schemas come from the shared request schemas: the search one has the filters and the floor.
  expect(Object.keys((byName.get("memory_search")!.inputSchema as { properties: object }).properties)).toEqual(expect.arrayContaining(["query", "embedding", "limit", "filters", "min_score"]));
  expect(byName.get("memory_store")!.outputSchema).toBeDefined();

  const stored = structured(await client.callTool({ name: "memory_store", arguments: { content: "the quokka prefers green tea", importance_score: 0.8, tags: ["pets"] } }));
  const id = String(stored.id);
  expect(stored).toMatchObject({ memory_type: "semantic", importance_score: 0.8, pending: true });
  await eventually(async () => expect(await masterRows("quokka")).toBe(1));

  const found = structured(await client.callTool({ name: "memory_search", arguments: { query: "quokka tea", limit: 5 } }));
  expect((found.results as { id: string }[]).map((r) => r.id)).toContain(id);
  expect(found).toMatchObject({ complete: true });
  expect(structured(await client.callTool({ name: "memory_get", arguments: { id } }))).toMatchObject({ id, tags: ["pets"] });
  expect(structured(await client.callTool({ name: "memory_stats", arguments: {} }))).toMatchObject({ pool_connected: true });
  expect(structured(await client.callTool({ name: "memory_sync", arguments: { full: false } }))).toMatchObject({ success: true });

  // Bad arguments are a tool error naming the field, never a protocol error.
  const bad = await client.callTool({ name: "memory_search", arguments: { query: "x", limit: "ten" } });
  expect(bad.isError).toBe(true);
  expect(text(bad)).toMatch(/^limit: /);
  const badStore = await client.callTool({ name: "memory_store", arguments: { content: "x", importance_score: 7 } });
  expect(badStore.isError).toBe(true);
  expect(text(badStore)).toMatch(/^importance_score: /);
  const missing = await client.callTool({ name: "memory_get", arguments: { id: "00000000-0000-4000-8000-000000000000" } });
  expect(missing.isError).toBe(true);
  expect(text(missing)).toMatch(/no memory/);

  expect(structured(await client.callTool({ name: "memory_delete", arguments: { id } }))).toEqual({ id, deleted: true });
  await eventually(async () => expect(await masterRows("quokka")).toBe(0));
  expect((await client.callTool({ name: "memory_get", arguments: { id } })).isError).toBe(true);
}

describe("MCP", () => {
  test("Over stdio, a client that spawns `embedded-memory mcp` lists the tools, calls each one, and its writes and deletes reach the master.", async ({ pg, tmp }) => {
    await installMaster(pg);
    await seedMemories(pg, 20);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI_ENTRY, "mcp"],
      env: cliEnv({ DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "mcp.db"), LOG_LEVEL: "debug", UPLOAD_INTERVAL_MS: "200" }) as Record<string, string>,
      stderr: "pipe",
    });
    const client = new Client({ name: "test-agent", version: "1.0.0" });
    await client.connect(transport);
    try {
      await eventually(async () => expect(structured(await client.callTool({ name: "memory_stats", arguments: {} }))).toMatchObject({ total_memories: 20 }));
      await exerciseTools(client, async (word) => Number((await pg.sql<{ n: string }>(`SELECT count(*) AS n FROM unified_ai_memory WHERE content->>'text' LIKE '%${word}%'`))[0]!.n));
    } finally {
      await client.close();
    }
  });

  test("With LOG_LEVEL=debug the stdio server's stdout holds JSON-RPC messages only, and closing stdin stops it with exit code 0.", async ({ pg, tmp }) => {
    await installMaster(pg);
    const child = spawn(process.execPath, [CLI_ENTRY, "mcp"], { env: cliEnv({ DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "raw.db"), LOG_LEVEL: "debug" }), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const send = (m: object) => child.stdin.write(`${JSON.stringify(m)}\n`);
      send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
      await eventually(() => expect(stdout).toContain('"id":1'));
      send({ jsonrpc: "2.0", method: "notifications/initialized" });
      send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
      send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "memory_stats", arguments: {} } });
      await eventually(() => expect(stdout).toContain('"id":3'));
      // Debug logs were written — to stderr.
      expect(stderr).toMatch(/MCP server on stdio/);
      const lines = stdout.split("\n").filter((l) => l.trim() !== "");
      expect(lines.length).toBeGreaterThanOrEqual(3);
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
      child.stdin.end();
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("Over Streamable HTTP at POST /mcp of a running `serve`, behind the API key, the same tools work statelessly with JSON responses.", async ({ pg, tmp }) => {
    await installMaster(pg);
    await seedMemories(pg, 5);
    const port = await freePort();
    const child = spawnCli(["serve"], { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "serve.db"), PORT: String(port), API_KEYS: KEY, UPLOAD_INTERVAL_MS: "200" });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => expect((await fetch(`${url}/ready`)).status).toBe(200), 30_000, 100);
      const unauthorized = await fetch(`${url}/mcp`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
      expect(unauthorized.status).toBe(401);
      expect((await fetch(`${url}/mcp`, { headers: { "x-api-key": KEY } })).status).toBe(405);
      const client = new Client({ name: "http-agent", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { "x-api-key": KEY } } }));
      try {
        await exerciseTools(client, async (word) => Number((await pg.sql<{ n: string }>(`SELECT count(*) AS n FROM unified_ai_memory WHERE content->>'text' LIKE '%${word}%'`))[0]!.n));
      } finally {
        await client.close();
      }
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  test("The in-process HTTP app serves /mcp only when given the MCP handler.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const silent = createLogger({ level: "silent" });
    const without = createHttpApp(m, { apiKeys: [KEY], logger: silent });
    expect((await without.request("/mcp", { method: "POST", headers: { "x-api-key": KEY } })).status).toBe(404);
    const withMcp = createHttpApp(m, { apiKeys: [KEY], logger: silent, mcp: handleMcpRequest });
    const res = await withMcp.request("/mcp", {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ jsonrpc: "2.0", id: 1, result: { serverInfo: { name: "embedded-memory" } } });
  });
});
