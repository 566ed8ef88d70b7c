/**
 * API keys scoped to a tenant (`key:<tenant uuid>`), on every HTTP route and MCP tool: a scoped
 * key reads only its tenant's rows and the shared ones, stores into its tenant, and gets the same
 * 404 for another tenant's id as for a missing one.
 */
import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { test, expect } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { handleMcpRequest } from "../src/mcp/server.ts";
import { createLogger } from "../src/observability/logger.ts";
import { makeConfig, scopeToTenant } from "../src/index.ts";

const A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const ADMIN = "admin-key-0123456789";
const KEY_A = "tenant-a-key-0123456789";

describe("tenant-scoped keys", () => {
  test("The config refuses a key whose tenant is not a UUID, rather than making it a key for every tenant.", async () => {
    expect(() => makeConfig({ apiKeys: [`${KEY_A}:not-a-uuid`] })).toThrow(/apiKeys: a key's tenant after ':' is not a UUID/);
    expect(() => makeConfig({ apiKeys: [`${KEY_A}:not-a-uuid`] })).not.toThrow(new RegExp(KEY_A));
    expect(makeConfig({ apiKeys: [`${KEY_A}:${A}`, ADMIN] }).apiKeys).toHaveLength(2);
  });

  test("Over HTTP a scoped key sees its tenant and shared rows only, writes into its tenant, and gets 404 for another tenant's id on get, update and delete.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const ofA = await m.store({ content: "alpha secret about kayaks", tenant_id: A });
    const ofB = await m.store({ content: "beta secret about kayaks", tenant_id: B });
    const shared = await m.store({ content: "shared note about kayaks" });
    const app = createHttpApp(m, { apiKeys: [ADMIN, `${KEY_A}:${A}`], logger: createLogger({ level: "silent" }) });
    const call = async (key: string, method: string, p: string, body?: unknown) => {
      const res = await app.request(p, { method, headers: { "x-api-key": key, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const ids = (r: { body: Record<string, unknown> }) => (r.body.results as { id: string }[]).map((x) => x.id).sort();

    // The admin key sees everything; the scoped key its tenant and the shared row.
    expect(ids(await call(ADMIN, "GET", "/memory/search?q=kayaks&limit=10"))).toEqual([ofA.id, ofB.id, shared.id].sort());
    expect(ids(await call(KEY_A, "GET", "/memory/search?q=kayaks&limit=10"))).toEqual([ofA.id, shared.id].sort());
    expect(ids(await call(KEY_A, "POST", "/memory/search", { query: "kayaks" }))).toEqual([ofA.id, shared.id].sort());
    // Naming another tenant in the filters is refused, not answered.
    expect((await call(KEY_A, "POST", "/memory/search", { query: "kayaks", filters: { tenant_id: B } })).status).toBe(403);
    expect((await call(KEY_A, "GET", `/memory/search?q=kayaks&tenant_id=${B}`)).status).toBe(403);

    // A full re-copy copies every tenant's rows: an operator's decision, not a scoped key's.
    const full = await call(KEY_A, "POST", "/memory/force-sync?full=true");
    expect(full.status).toBe(403);
    expect(full.body.error).toMatch(/^full: a tenant-scoped key may not copy the whole table anew/);

    // Another tenant's id answers exactly like a missing one.
    const missing = randomUUID();
    const getOther = await call(KEY_A, "GET", `/memory/${ofB.id}`);
    const getMissing = await call(KEY_A, "GET", `/memory/${missing}`);
    expect(getOther.status).toBe(404);
    expect(getMissing.status).toBe(404);
    expect(getOther.body.error).toBe(String(getMissing.body.error).replace(missing, ofB.id));
    expect((await call(KEY_A, "DELETE", `/memory/${ofB.id}`)).status).toBe(404);
    const updateOther = await call(KEY_A, "POST", "/memory", { id: ofB.id, content: "overwritten" });
    const updateMissing = await call(KEY_A, "POST", "/memory", { id: missing, content: "new" });
    expect([updateOther.status, updateMissing.status]).toEqual([404, 404]);
    expect(updateOther.body.error).toBe(String(updateMissing.body.error).replace(missing, ofB.id));
    expect((await m.get(ofB.id))?.content).toEqual({ text: "beta secret about kayaks" });

    // Own rows: readable, writable, deletable; new rows land in the key's tenant.
    expect((await call(KEY_A, "GET", `/memory/${ofA.id}`)).status).toBe(200);
    expect((await call(KEY_A, "GET", `/memory/${shared.id}`)).status).toBe(200);
    const created = await call(KEY_A, "POST", "/memory", { content: "written by A" });
    expect(created.status).toBe(201);
    expect(created.body.tenant_id).toBe(A);
    expect((await call(KEY_A, "POST", "/memory", { content: "into B", tenant_id: B })).status).toBe(403);
    expect((await call(KEY_A, "POST", "/memory", { id: ofA.id, content: "alpha, updated" })).status).toBe(201);
    // A "__proto__" key in the JSON is a field like any other (refused as unknown), never a way
    // to slip an id past the scope check (found in review: it overwrote tenant B's row).
    const smuggled = await app.request("/memory", { method: "POST", headers: { "x-api-key": KEY_A, "content-type": "application/json" }, body: `{"content":"pwned","__proto__":{"id":"${ofB.id}"}}` });
    expect(smuggled.status).toBe(400);
    expect(((await smuggled.json()) as { error: string }).error).toMatch(/__proto__: unknown field/);
    expect((await m.get(ofB.id))?.tenant_id).toBe(B);
    const smuggledSearch = await app.request("/memory/search", { method: "POST", headers: { "x-api-key": KEY_A, "content-type": "application/json" }, body: `{"query":"kayaks","__proto__":{"filters":{"tenant_id":"${B}"}}}` });
    expect(smuggledSearch.status).toBe(400);
    // A scoped key's body is decoded exactly as the admin key's.
    for (const body of ["null", "[]", '{"filters":[]}', '{"filters":{"tenant_id":5}}']) {
      const res = await app.request("/memory/search", { method: "POST", headers: { "x-api-key": KEY_A, "content-type": "application/json" }, body });
      expect(res.status, body).toBe(400);
    }
    // Deeply nested input is a 400, not a stack overflow.
    const deep = `{"content":"x","metadata":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    expect((await app.request("/memory", { method: "POST", headers: { "x-api-key": ADMIN, "content-type": "application/json" }, body: deep })).status).toBe(400);

    // Shared rows are read-only for a scoped key.
    expect((await call(KEY_A, "DELETE", `/memory/${shared.id}`)).status).toBe(403);
    expect((await call(KEY_A, "DELETE", `/memory/${ofA.id}`)).status).toBe(200);
    expect(await m.get(ofA.id)).toBeUndefined();
  });

  test("Over MCP a scoped key gets the same view: its tenant and shared rows, tool errors for another tenant's id.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const ofA = await m.store({ content: "alpha memo on gliders", tenant_id: A });
    const ofB = await m.store({ content: "beta memo on gliders", tenant_id: B });
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [ADMIN, `${KEY_A}:${A}`], logger: createLogger({ level: "silent" }), mcp: handleMcpRequest }), "127.0.0.1", 0);
    const client = new Client({ name: "scoped-agent", version: "1.0.0" });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEY_A}` } } }));
      const found = (await client.callTool({ name: "memory_search", arguments: { query: "gliders" } })).structuredContent as { results: { id: string }[] };
      expect(found.results.map((r) => r.id)).toEqual([ofA.id]);
      const other = await client.callTool({ name: "memory_get", arguments: { id: ofB.id } });
      expect(other.isError).toBe(true);
      expect((await client.callTool({ name: "memory_delete", arguments: { id: ofB.id } })).isError).toBe(true);
      const update = await client.callTool({ name: "memory_store", arguments: { id: ofB.id, content: "overwritten by A" } });
      expect(update.isError).toBe(true);
      expect((update.content as { text: string }[])[0]!.text).toMatch(/^no memory /);
      expect((await client.callTool({ name: "memory_search", arguments: { query: "gliders", filters: { tenant_id: B } } })).isError).toBe(true);
      const stored = (await client.callTool({ name: "memory_store", arguments: { content: "from the agent" } })).structuredContent as { tenant_id: string };
      expect(stored.tenant_id).toBe(A);
      expect((await m.get(ofB.id))?.content).toEqual({ text: "beta memo on gliders" });
      // Stats and force-sync are not per tenant; a scoped key may use them.
      expect((await client.callTool({ name: "memory_stats", arguments: {} })).isError).toBeFalsy();
    } finally {
      await client.close();
      await server.close(1_000);
    }
  });

  test("A scoped update or delete checks the row's tenant in the same step as the write: a row moved to another tenant after any earlier read is not written.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const row = await m.store({ content: "moved between a read and a write", tenant_id: B });
    // The race, made certain: every read this view could do says the row is tenant A's (as it
    // was an instant before a pull moved it); only the write's own check sees it as it is.
    const stale = { ...row, tenant_id: A };
    const api = { search: m.search.bind(m), store: m.store.bind(m), get: async () => stale, remove: m.remove.bind(m), stats: m.stats.bind(m), forceSync: m.forceSync.bind(m), table: m.table.bind(m) };
    const scoped = scopeToTenant(api, A);
    expect(await scoped.remove(row.id)).toBe(false);
    await expect(scoped.store({ id: row.id, content: "overwritten" })).rejects.toThrow(/no memory/);
    expect(await m.get(row.id)).toMatchObject({ tenant_id: B, content: { text: "moved between a read and a write" } });
    // And the row of its own tenant is written as before.
    const own = await m.store({ content: "tenant A's own", tenant_id: A });
    expect(await scoped.remove(own.id)).toBe(true);
  });
});
