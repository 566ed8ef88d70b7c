/**
 * GET /tables/:name and GET /tables/:name/:key: local reads of a replicated table (the memory
 * table's raw rows, or a further table's). The query string becomes the library's list query
 * (its own schema: `order_by`, `limit`, `cursor`, every other parameter a column filter); the
 * reads, their checks and a scoped key's tenant filter are the library's.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { tableListFromQuery, type EmbeddedMemory } from "../index.ts";
import { tenantOf } from "./auth.ts";

export type TablesApi = Pick<EmbeddedMemory, "table">;

/** A key or name from the URL, shortened for an error message. */
const shown = (s: string): string => (s.length > 100 ? `${s.slice(0, 100)}…` : s);

export function tableRoutes(app: Hono, memory: TablesApi, auth: MiddlewareHandler): void {
  app.get("/tables/:name", auth, async (c) => c.json(await memory.table(c.req.param("name"), { tenant: tenantOf(c) }).list(tableListFromQuery(c.req.queries()))));

  app.get("/tables/:name/:key", auth, async (c) => {
    const name = c.req.param("name");
    const key = c.req.param("key");
    const row = await memory.table(name, { tenant: tenantOf(c) }).get(key);
    return row ? c.json(row) : c.json({ error: `no row ${shown(key)} in table ${shown(name)}` }, 404);
  });
}
