/**
 * POST /memory, GET /memory/:id, DELETE /memory/:id. The library decodes the input with the
 * shared schemas (a 400 naming the field when they refuse it); the writes are the library's
 * (durable locally before the answer, uploaded to the master later).
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { scopeToTenant, type MemoryApi, type MemoryWrite } from "../index.ts";
import { jsonBody } from "./jsonBody.ts";
import { tenantOf } from "./auth.ts";

export const WRITE_BODY_LIMIT_BYTES = 1024 * 1024;

/** Each request acts through its key's view: every tenant, or one tenant's (runtime/scoped.ts). */
export function memoryRoutes(app: Hono, memory: MemoryApi, auth: MiddlewareHandler): void {
  const api = (c: Context) => scopeToTenant(memory, tenantOf(c));
  // The body is untrusted JSON: store() decodes it with the MemoryWrite schema, which refuses
  // anything else (so the HTTP 400s and the library's errors are the same decode).
  app.post("/memory", auth, async (c) => c.json(await api(c).store((await jsonBody(c, WRITE_BODY_LIMIT_BYTES)) as MemoryWrite), 201));

  app.get("/memory/:id", auth, async (c) => {
    const id = c.req.param("id");
    const m = await api(c).get(id);
    return m ? c.json(m) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });

  app.delete("/memory/:id", auth, async (c) => {
    const id = c.req.param("id");
    return (await api(c).remove(id)) ? c.json({ id, deleted: true }) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });
}
