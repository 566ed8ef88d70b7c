/**
 * POST /memory, GET /memory/:id, DELETE /memory/:id. The library decodes the input with the
 * shared schemas (a 400 naming the field when they refuse it); the writes are the library's
 * (durable locally before the answer, uploaded to the master later).
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { EmbeddedMemory, MemoryWrite } from "../index.ts";
import { jsonBody } from "./jsonBody.ts";

export type MemoryWriteApi = Pick<EmbeddedMemory, "store" | "get" | "remove">;

export const WRITE_BODY_LIMIT_BYTES = 1024 * 1024;

export function memoryRoutes(app: Hono, api: MemoryWriteApi, auth: MiddlewareHandler): void {
  // The body is untrusted JSON: store() decodes it with the MemoryWrite schema, which refuses
  // anything else (so the HTTP 400s and the library's errors are the same decode).
  app.post("/memory", auth, async (c) => c.json(await api.store((await jsonBody(c, WRITE_BODY_LIMIT_BYTES)) as MemoryWrite), 201));

  app.get("/memory/:id", auth, async (c) => {
    const id = c.req.param("id");
    const m = await api.get(id);
    return m ? c.json(m) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });

  app.delete("/memory/:id", auth, async (c) => {
    const id = c.req.param("id");
    return (await api.remove(id)) ? c.json({ id, deleted: true }) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });
}
