/**
 * POST /memory, GET /memory/:id, DELETE /memory/:id: decoding only; the writes are the
 * library's (durable locally before the answer, uploaded to the master later).
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { StoredMemory } from "../outbox/LocalWrites.ts";
import { decode, MemoryBody, Uuid } from "./schemas.ts";
import { jsonBody } from "./jsonBody.ts";

export interface MemoryWriteApi {
  readonly store: (memory: unknown) => Promise<StoredMemory>;
  readonly get: (id: unknown) => Promise<StoredMemory | undefined>;
  readonly remove: (id: unknown) => Promise<boolean>;
}

export const WRITE_BODY_LIMIT_BYTES = 1024 * 1024;

export function memoryRoutes(app: Hono, api: MemoryWriteApi, auth: MiddlewareHandler): void {
  app.post("/memory", auth, async (c) =>
    c.json(await api.store(decode(MemoryBody, await jsonBody(c, WRITE_BODY_LIMIT_BYTES))), 201),
  );

  app.get("/memory/:id", auth, async (c) => {
    const id = decode(Uuid, c.req.param("id"), "id");
    const m = await api.get(id);
    return m ? c.json(m) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });

  app.delete("/memory/:id", auth, async (c) => {
    const id = decode(Uuid, c.req.param("id"), "id");
    return (await api.remove(id)) ? c.json({ id, deleted: true }) : c.json({ error: `no memory ${id} in the replica` }, 404);
  });
}
