/**
 * POST /memory, GET /memory/:id, DELETE /memory/:id: shaping only; the writes are the
 * library's (durable locally before the answer, uploaded to the master later).
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { WriteInputError, type StoredMemory } from "../services/LocalWrites.ts";

export interface MemoryWriteApi {
  readonly store: (memory: unknown) => Promise<StoredMemory>;
  readonly get: (id: unknown) => Promise<StoredMemory | undefined>;
  readonly remove: (id: unknown) => Promise<boolean>;
}

const WRITE_BODY_LIMIT_BYTES = 1024 * 1024;

async function guarded(c: Context, f: () => Promise<Response>): Promise<Response> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof WriteInputError) return c.json({ error: e.message, field: e.field }, 400);
    throw e;
  }
}

export function memoryRoutes(app: Hono, api: MemoryWriteApi, auth: MiddlewareHandler): void {
  app.post(
    "/memory",
    auth,
    bodyLimit({ maxSize: WRITE_BODY_LIMIT_BYTES, onError: (c) => c.json({ error: `request body larger than ${WRITE_BODY_LIMIT_BYTES} bytes` }, 413) }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: "body: expected JSON" }, 400);
      }
      return guarded(c, async () => c.json(await api.store(body), 201));
    },
  );

  app.get("/memory/:id", auth, (c) =>
    guarded(c, async () => {
      const m = await api.get(c.req.param("id"));
      return m ? c.json(m) : c.json({ error: `no memory ${c.req.param("id")} in the replica` }, 404);
    }),
  );

  app.delete("/memory/:id", auth, (c) =>
    guarded(c, async () => {
      const id = c.req.param("id");
      return (await api.remove(id)) ? c.json({ id, deleted: true }) : c.json({ error: `no memory ${id} in the replica` }, 404);
    }),
  );
}
