/**
 * The HTTP adapter: routes only. Each route calls the library API (EmbeddedMemory) and
 * shapes its answer; no sync or storage logic lives here. Every error is JSON.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  decodeInput,
  EmbeddedMemory as Memory,
  ForceSyncQuery,
  InvalidInputError,
  MemoryNotFoundError,
  ReplicaLockedError,
  scopeToTenant,
  TenantScopeError,
  type Logger,
  type MemoryApi as TenantApi,
  type Metrics,
} from "../index.ts";
import { requireApiKey, tenantOf } from "./auth.ts";
import { jsonBody } from "./jsonBody.ts";
import { openApiDocument } from "./openapi.ts";
import { searchRoutes } from "./searchRoutes.ts";
import { memoryRoutes } from "./memoryRoutes.ts";
import { eventRoutes } from "./eventRoutes.ts";
import { inspectorRoutes } from "./inspectorRoutes.ts";
import { tableRoutes } from "./tableRoutes.ts";

/** MCP messages are small JSON-RPC objects; a search with a 1536-d vector is ~30 kB. */
const MCP_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

/** Retry-After for a locked replica file: about one busy timeout. */
const LOCKED_RETRY_AFTER_S = 5;

export interface HttpAppOptions {
  readonly apiKeys: readonly string[];
  readonly logger: Logger;
  /** Aborted when the server shuts down: long-lived streams end so the close can finish. */
  readonly shutdown?: AbortSignal;
  /** When given: request metrics are recorded and served at GET /metrics. */
  readonly metrics?: Metrics;
  /**
   * When given: MCP over Streamable HTTP at /mcp, behind the API key, acting through the key's
   * tenant view. Handed in by the composer (src/mcp's handleMcpRequest), so http/ imports only
   * the package root.
   */
  readonly mcp?: (api: TenantApi, request: Request, parsedBody?: unknown) => Promise<Response>;
}

/** The parts of the library the routes use (an interface, so the adapter stays thin). */
export type MemoryApi = Pick<Memory, "stats" | "ready" | "state" | "forceSync" | "search" | "store" | "get" | "remove" | "events" | "machines" | "table">;

export function createHttpApp(memory: MemoryApi, options: HttpAppOptions): Hono {
  const log = options.logger.child({ module: "http" });
  const app = new Hono();
  const auth = requireApiKey(options.apiKeys);
  const metrics = options.metrics;

  if (metrics) {
    app.use("*", async (c, next) => {
      const started = performance.now();
      await next();
      const seconds = (performance.now() - started) / 1000;
      // The matched route pattern (not the raw path: ids would explode the label set).
      const route = c.res.status === 404 && (c.req.routePath === "*" || c.req.routePath === "/*") ? "unmatched" : c.req.routePath;
      const method = c.req.method;
      const status = String(c.res.status);
      // Recorded after the answer is on its way: prom-client's label hashing and bucket search
      // cost ~0.1 ms a request, measured, that the client need not wait for.
      setImmediate(() => {
        // Off the request's path, so a failure here would be uncaught: logged, never a crash.
        try {
          metrics.httpRequests.inc({ method, route, status });
          metrics.httpDuration.observe({ method, route }, seconds);
        } catch (err) {
          log.warn({ err, route }, "recording request metrics failed");
        }
      });
    });
    app.get("/metrics", async (c) => c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType }));
  }

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", (c) =>
    memory.ready() ? c.json({ status: "ready", state: memory.state() }) : c.json({ status: "not ready", state: memory.state() }, 503),
  );

  app.get("/memory/stats", (c) => c.json(memory.stats()));

  const openapi = openApiDocument();
  app.get("/openapi.json", (c) => c.json(openapi));

  app.post("/memory/force-sync", auth, async (c) => {
    const { full } = decodeInput(ForceSyncQuery, c.req.query(), "query");
    // Through the key's view: a tenant-scoped key may sync, not copy every tenant's rows anew.
    const result = await scopeToTenant(memory, tenantOf(c)).forceSync({ full: full === "true" });
    return c.json(result, result.success ? 200 : 503);
  });

  const mcp = options.mcp;
  if (mcp) {
    app.post("/mcp", auth, async (c) => {
      // The body is read (and its size bounded) here; the transport gets it parsed.
      const body = await jsonBody(c, MCP_BODY_LIMIT_BYTES);
      return mcp(scopeToTenant(memory, tenantOf(c)), new Request(c.req.url, { method: "POST", headers: c.req.raw.headers }), body);
    });
    // Stateless JSON mode: no server-initiated stream, no session to end.
    app.on(["GET", "DELETE"], "/mcp", auth, (c) => c.json({ error: "POST JSON-RPC messages to /mcp (stateless Streamable HTTP: no stream, no session)" }, 405, { allow: "POST" }));
  }

  // Fixed paths before /memory/:id, which would otherwise capture them.
  searchRoutes(app, memory, auth);
  eventRoutes(app, memory, () => Memory.machineDescriptions(), options.shutdown ?? new AbortController().signal);
  inspectorRoutes(app);
  memoryRoutes(app, memory, auth);
  tableRoutes(app, memory, auth);

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    // Bad input, whichever layer saw it first: a 400 naming the field.
    if (err instanceof TenantScopeError) return c.json({ error: err.message, field: err.field }, 403);
    if (err instanceof MemoryNotFoundError) return c.json({ error: err.message }, 404);
    if (err instanceof InvalidInputError) {
      return c.json({ error: err.message, field: err.field }, 400);
    }
    // Another process holds the replica file's write lock: it passes, so the client retries.
    if (err instanceof ReplicaLockedError) return c.json({ error: err.message }, 503, { "retry-after": String(LOCKED_RETRY_AFTER_S) });
    if (err instanceof HTTPException && err.status < 500) return c.json({ error: err.message }, err.status);
    log.error({ err, path: c.req.path }, "request failed");
    return c.json({ error: "internal error" }, 500);
  });
  return app;
}
