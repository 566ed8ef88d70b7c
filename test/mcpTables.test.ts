/**
 * The MCP tools over the replicated tables (table_list, table_get), as an agent's client calls
 * them: the SDK's Client on an in-memory transport to the server a replica serves, with a real
 * master and a tasks table replicated beside the memories.
 */
import { describe } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { test, expect } from "./support/fixtures.ts";
import { PENDING, setUp } from "./support/tasks.ts";
import { createMcpServer } from "../src/mcp/server.ts";
import { scopeToTenant } from "../src/runtime/scoped.ts";
import type { MemoryApi } from "../src/index.ts";

type Result = Awaited<ReturnType<Client["callTool"]>>;
const structured = (r: Result) => r.structuredContent as Record<string, unknown>;
const text = (r: Result) => (r.content as { text: string }[])[0]!.text;

async function connect(api: MemoryApi): Promise<{ client: Client; close: () => Promise<void> }> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const server = createMcpServer(api);
  await server.connect(serverSide);
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  await client.connect(clientSide);
  return { client, close: async () => (await client.close(), await server.close()) };
}

describe("MCP table tools", () => {
  test("An agent lists its pending tasks page by page with table_list, reads one with table_get, and bad arguments are tool errors naming the field.", async ({ pg, replica }) => {
    await setUp(pg);
    const m = replica({ replicatedTables: [PENDING] });
    const { client, close } = await connect(m);
    try {
      // Configured, but the file does not hold it before the first connect: empty, and says so.
      const before = await client.callTool({ name: "table_list", arguments: { table: "ai_autonomous_tasks" } });
      expect(before.isError).toBeFalsy();
      expect(structured(before)).toEqual({ table: "ai_autonomous_tasks", rows: [], next_cursor: null, complete: false });
      await m.syncOnce();
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = structured(await client.callTool({ name: "table_list", arguments: { table: "ai_autonomous_tasks", filters: { status: "pending" }, order_by: "priority", limit: 4, ...(cursor ? { cursor } : {}) } }));
        expect(page.complete).toBe(true);
        const rows = page.rows as { id: string; status: string; priority: number }[];
        expect(rows.every((r) => r.status === "pending")).toBe(true);
        expect(rows.map((r) => r.priority)).toEqual([...rows.map((r) => r.priority)].sort((a, b) => a - b));
        seen.push(...rows.map((r) => r.id));
        cursor = page.next_cursor as string | null;
      } while (cursor);
      const pending = await pg.sql<{ id: string }>("SELECT id::text FROM ai_autonomous_tasks WHERE status = 'pending' ORDER BY id");
      expect([...seen].sort()).toEqual(pending.map((r) => r.id));

      const one = structured(await client.callTool({ name: "table_get", arguments: { table: "ai_autonomous_tasks", key: seen[0] } }));
      expect(one).toMatchObject({ id: seen[0], status: "pending", memory_ids: expect.any(Array) });

      const unknown = await client.callTool({ name: "table_list", arguments: { table: "no_such_table" } });
      expect(unknown.isError).toBe(true);
      expect(text(unknown)).toMatch(/no_such_table/);
      const badColumn = await client.callTool({ name: "table_list", arguments: { table: "ai_autonomous_tasks", filters: { stauts: "pending" } } });
      expect(badColumn.isError).toBe(true);
      expect(text(badColumn)).toMatch(/stauts/);
      const missing = await client.callTool({ name: "table_get", arguments: { table: "ai_autonomous_tasks", key: "00000000-0000-4000-8000-000000000000" } });
      expect(missing.isError).toBe(true);
      expect(text(missing)).toMatch(/no row 00000000-0000-4000-8000-000000000000 in table ai_autonomous_tasks/);
    } finally {
      await close();
    }
  });

  test("Through a tenant-scoped view, table_list reads the memory table's rows of that tenant and the shared ones only.", async ({ pg, replica }) => {
    await setUp(pg);
    const tenant = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    await pg.sql("UPDATE unified_ai_memory SET tenant_id = $1 WHERE id IN (SELECT id FROM unified_ai_memory ORDER BY id LIMIT 5)", [tenant]);
    await pg.sql("UPDATE unified_ai_memory SET tenant_id = gen_random_uuid() WHERE id IN (SELECT id FROM unified_ai_memory ORDER BY id DESC LIMIT 5)");
    const m = replica({ replicatedTables: [PENDING] });
    await m.syncOnce();
    const { client, close } = await connect(scopeToTenant(m, tenant));
    try {
      const page = structured(await client.callTool({ name: "table_list", arguments: { table: "unified_ai_memory", limit: 100 } }));
      const rows = page.rows as { tenant_id: string | null }[];
      expect(rows).toHaveLength(25);
      expect(rows.every((r) => r.tenant_id === null || r.tenant_id === tenant)).toBe(true);
    } finally {
      await close();
    }
  });
});
