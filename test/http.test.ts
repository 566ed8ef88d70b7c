import path from "node:path";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { spawnCli } from "./support/cli.ts";
import { PG_PASSWORD, createTestPostgres, freePort } from "./support/postgres.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { postRaw } from "./support/http.ts";
import { randomUUID } from "node:crypto";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";

const KEY = "key-for-tests-0123456789";
const silent = createLogger({ level: "silent" });

describe("HTTP adapter", () => {
  test("health, ready, stats and force-sync answer as the contract says, with API-key auth on force-sync.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 30);
    const m = replica();
    await m.start();
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY, "second-key-abcdef"], logger: silent }), "127.0.0.1", 0);
    try {
      const get = (p: string, headers: Record<string, string> = {}) => fetch(`${server.url}${p}`, { headers });
      const post = (p: string, headers: Record<string, string> = {}) => fetch(`${server.url}${p}`, { method: "POST", headers });
      expect(await (await get("/health")).json()).toEqual({ status: "ok" });
      await eventually(async () => {
        expect((await get("/ready")).status).toBe(200);
        expect(m.state()).toBe("idle"); // the feed's first connect adds a catch-up pull after the copy
      });

      const stats = (await (await get("/memory/stats")).json()) as any;
      for (const field of ["enabled", "state", "pool_connected", "local_db_path", "total_memories", "last_sync", "sync_metadata", "cursor", "outbox", "last_error"]) {
        expect(stats).toHaveProperty(field);
      }
      expect(stats).toMatchObject({ enabled: true, state: "idle", pool_connected: true, total_memories: 30, outbox: { pending: 0, parked: 0, last_error: null }, last_error: null });
      expect(Object.keys(stats.sync_metadata)).toEqual(expect.arrayContaining(["last_sync_time", "last_sync_count", "total_records"]));
      expect(Object.keys(stats.cursor)).toEqual(["snapshot", "epoch"]);

      const missing = await post("/memory/force-sync");
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual({ error: expect.stringMatching(/missing API key/) });
      expect((await post("/memory/force-sync", { "x-api-key": "wrong" })).status).toBe(401);
      expect((await post("/memory/force-sync?full=maybe", { "x-api-key": KEY })).status).toBe(400);

      await seedMemories(pg, 5, { startAt: 100 });
      const ok = await post("/memory/force-sync", { authorization: `Bearer ${KEY}` });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as any;
      expect(body).toMatchObject({ success: true, pool_connected: true, after_count: 35 });
      expect(body.synced_count).toBe(body.after_count - body.before_count);
      expect(Date.parse(body.last_sync)).toBeGreaterThan(Date.now() - 60_000);

      const full = (await (await post("/memory/force-sync?full=true", { "x-api-key": "second-key-abcdef" })).json()) as any;
      expect(full).toMatchObject({ success: true, before_count: 35, after_count: 35 });
      expect(full.synced_count).toBeGreaterThanOrEqual(35);

      const notFound = await get("/nope");
      expect(notFound.status).toBe(404);
      expect(await notFound.json()).toEqual({ error: expect.stringMatching(/no route/) });
    } finally {
      await server.close();
    }
  });

  test("Protected endpoints answer 503 naming API_KEYS when no key is configured.", async ({ replica }) => {
    const m = replica();
    await m.start();
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [], logger: silent }), "127.0.0.1", 0);
    try {
      const r = await fetch(`${server.url}/memory/force-sync`, { method: "POST", headers: { "x-api-key": "anything" } });
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ error: expect.stringMatching(/^set API_KEYS to enable/) });
    } finally {
      await server.close();
    }
  });

  test("force-sync answers 503 with success false and the state while the master is unreachable, and /ready is 503.", async ({ pg, replica }) => {
    const port = await freePort();
    const m = replica({ databaseUrl: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/postgres`, connectTimeoutMs: 500 });
    void pg;
    await m.start();
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent }), "127.0.0.1", 0);
    try {
      const r = await fetch(`${server.url}/memory/force-sync`, { method: "POST", headers: { "x-api-key": KEY } });
      expect(r.status).toBe(503);
      const body = (await r.json()) as any;
      expect(body).toMatchObject({ success: false, pool_connected: false });
      expect(["awaitingPool", "backoff"]).toContain(body.state);
      expect(body.error).toMatch(/not reachable/);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ state: expect.stringMatching(/awaitingPool|backoff/) });
    } finally {
      await server.close();
    }
  });

  test("serve runs sync and HTTP until SIGTERM, exits 0, and its debug logs hold neither the password nor the API key.", async ({ pg, tmp }) => {
    const port = await freePort();
    const child = spawnCli(["serve"], { DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "serve.db"), PORT: String(port), API_KEYS: KEY, LOG_LEVEL: "debug" });
    let logs = "";
    child.stdout!.on("data", (d) => (logs += d));
    child.stderr!.on("data", (d) => (logs += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200), 30_000, 100);
      const r = await fetch(`http://127.0.0.1:${port}/memory/force-sync`, { method: "POST", headers: { "x-api-key": KEY } });
      expect(r.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(logs).toMatch(/serving on http:\/\/127\.0\.0\.1/);
    expect(logs).toMatch(/"to":"idle"/);
    expect(logs).not.toContain(PG_PASSWORD);
    expect(logs).not.toContain(KEY);
  });
});

describe("API-key auth", () => {
  test("A key is accepted as X-API-Key or Authorization: Bearer (also on /mcp); a bare Authorization key and empty headers are 401s naming the header and the expected forms.", async () => {
    // Every request stops at the auth or at input checks that run before the replica is asked: none is needed.
    const app = createHttpApp({} as never, { apiKeys: [KEY], logger: silent, mcp: async () => new Response("{}") });
    const server = await startHttpServer(app, "127.0.0.1", 0);
    try {
      // A request that gets past the auth answers 400 (the bad `full`) on force-sync and 405 on GET /mcp.
      const call = async (headers: Record<string, string>, route: "force-sync" | "mcp" = "force-sync") => {
        const r = route === "mcp" ? await fetch(`${server.url}/mcp`, { headers }) : await fetch(`${server.url}/memory/force-sync?full=maybe`, { method: "POST", headers });
        const body = (await r.json()) as { error: string };
        return { status: r.status, error: body.error };
      };
      const FORMS = /send X-API-Key: <key> or Authorization: Bearer <key>/;
      for (const route of ["force-sync", "mcp"] as const) {
        const through = route === "mcp" ? 405 : 400;
        expect((await call({ "x-api-key": KEY }, route)).status).toBe(through);
        expect((await call({ authorization: `Bearer ${KEY}` }, route)).status).toBe(through);
        expect((await call({ authorization: `bearer   ${KEY}` }, route)).status).toBe(through);
        // An empty X-API-Key (a template whose variable was unset) does not hide the Bearer key.
        expect((await call({ "x-api-key": "", authorization: `Bearer ${KEY}` }, route)).status).toBe(through);

        const bare = await call({ authorization: KEY }, route);
        expect(bare).toEqual({ status: 401, error: expect.stringMatching(/Authorization header does not use the Bearer scheme/) });
        expect(bare.error).toMatch(FORMS);
        expect(bare.error).not.toContain(KEY);
        expect(await call({ authorization: `Basic ${Buffer.from(`u:${KEY}`).toString("base64")}` }, route)).toMatchObject({ status: 401, error: expect.stringMatching(/does not use the Bearer scheme/) });
        expect(await call({ authorization: "Bearer " }, route)).toMatchObject({ status: 401, error: expect.stringMatching(FORMS) });
        expect(await call({ "x-api-key": "" }, route)).toEqual({ status: 401, error: expect.stringMatching(/the X-API-Key header is empty/) });
        expect(await call({}, route)).toEqual({ status: 401, error: expect.stringMatching(/missing API key/) });
        // A non-empty X-API-Key is the one checked, whatever Authorization says.
        expect(await call({ "x-api-key": "wrong-key", authorization: `Bearer ${KEY}` }, route)).toEqual({ status: 401, error: "invalid API key" });
        expect(await call({ authorization: "Bearer wrong-key" }, route)).toEqual({ status: 401, error: "invalid API key" });
      }
    } finally {
      await server.close();
    }
  });
});

describe("HTTP writes", () => {
  test("POST /memory answers 201 with the stored row, GET and DELETE find it, and bad input is a 400 naming the field.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    await m.start();
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent }), "127.0.0.1", 0);
    const h = { "x-api-key": KEY, "content-type": "application/json" };
    const post = (body: unknown) => fetch(`${server.url}/memory`, { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body) });
    try {
      const created = await post({ content: "remember the milk", memory_type: "working", importance_score: 0.3, tags: ["errand"] });
      expect(created.status).toBe(201);
      const row = (await created.json()) as { id: string; content: unknown; pending: boolean };
      expect(row).toMatchObject({ content: { text: "remember the milk" }, pending: true });
      expect(((await (await fetch(`${server.url}/memory/${row.id}`, { headers: h })).json()) as { id: string }).id).toBe(row.id);
      const bad: [unknown, string][] = [
        ["{oops", "body"],
        [{}, "content"],
        [{ content: "" }, "content"],
        [{ content: 5 }, "content"],
        [{ content: "x", importance_score: 2 }, "importance_score"],
        [{ content: "x", importance_score: "high" }, "importance_score"],
        [{ content: "x", id: "not-a-uuid" }, "id"],
        [{ content: "x", tenant_id: "t1" }, "tenant_id"],
        [{ content: "x", tags: "a,b" }, "tags"],
        [{ content: "x", tags: Array.from({ length: 100 }, (_, i) => `t${i}`) }, "tags"],
        [{ content: "x", metadata: [1] }, "metadata"],
        [{ content: "x", expires_at: "soon" }, "expires_at"],
        [{ content: "x", embedding: [1, "2"] }, "embedding"],
        [{ content: "x", colour: "red" }, "colour"],
        [{ content: "y".repeat(200_000) }, "content"],
        [[{ content: "x" }], "body"],
      ];
      for (const [body, field] of bad) {
        const r = await post(body);
        expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(400);
        expect(((await r.json()) as { error: string }).error).toContain(field);
      }
      expect((await fetch(`${server.url}/memory/not-a-uuid`, { headers: h })).status).toBe(400);
      expect((await fetch(`${server.url}/memory/${randomUUID()}`, { headers: h })).status).toBe(404);
      expect((await fetch(`${server.url}/memory/${randomUUID()}`, { method: "DELETE", headers: h })).status).toBe(404);
      expect((await fetch(`${server.url}/memory/${row.id}`, { method: "DELETE" })).status).toBe(401);
      const del = await fetch(`${server.url}/memory/${row.id}`, { method: "DELETE", headers: h });
      expect(await del.json()).toEqual({ id: row.id, deleted: true });
      expect((await fetch(`${server.url}/memory/${row.id}`, { headers: h })).status).toBe(404);
      expect(await postRaw(`${server.url}/memory`, h, "z".repeat(2 * 1024 * 1024))).toBe(413);
      await eventually(() => expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 0 }));
    } finally {
      await server.close();
    }
  });
});

describe("logger", () => {
  test("Secrets are scrubbed from messages, errors and redacted fields.", () => {
    let out = "";
    const sink = new Writable({ write: (c, _e, done) => ((out += c), done()) });
    const log = createLogger({ level: "info", secrets: ["s3cr3t-pw", "api-key-xyz"], destination: sink });
    log.info("connecting with s3cr3t-pw");
    log.error({ err: new Error("auth failed for api-key-xyz") }, "failed");
    log.info({ databaseUrl: "postgres://u:whatever@h/db", headers: { "x-api-key": "k" } }, "config");
    expect(out).not.toMatch(/s3cr3t-pw|api-key-xyz|whatever/);
    expect(out).toMatch(/\[redacted\]/);
  });
});

describe("event stream", () => {
  test("GET /memory/events streams the current states, then transitions and events as the master goes down and comes back.", async ({ tmp }) => {
    const master = await createTestPostgres();
    const m = new EmbeddedMemory(makeConfig({ databaseUrl: master.url, localPath: path.join(tmp, "sse.db"), logLevel: "silent", backoffBaseMs: 50, backoffMaxMs: 500, connectTimeoutMs: 1_000 }), { logger: silent });
    const shutdown = new AbortController();
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent, shutdown: shutdown.signal }), "127.0.0.1", 0);
    try {
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));
      const defs = (await (await fetch(`${server.url}/memory/machines`)).json()) as { definitions: { sync: { states: { name: string }[] } }; current: { sync: { state: string } } };
      expect(defs.definitions.sync.states.map((s) => s.name)).toEqual(["awaitingPool", "empty", "syncing", "settling", "idle", "backoff", "stopped"]);
      expect(defs.current.sync.state).toBe("idle");

      const res = await fetch(`${server.url}/memory/events`);
      expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
      const reader = res.body!.getReader();
      let text = "";
      const readUntil = async (pattern: RegExp) =>
        eventually(async () => {
          if (!pattern.test(text)) {
            const { value } = await reader.read();
            text += new TextDecoder().decode(value);
          }
          expect(text).toMatch(pattern);
        }, 30_000, 0);
      await readUntil(/event: snapshot\ndata: \{"sync":\{"state":"idle"/);
      await master.stop();
      await readUntil(/event: transition\ndata: \{"machine":"sync","from":"\w+","to":"backoff"/);
      await master.start();
      await readUntil(/event: event\ndata: \{"machine":"sync","event":"FEED_CONNECTED"/);
      await readUntil(/"to":"backoff"[\s\S]*event: transition\ndata: \{"machine":"sync","from":"\w+","to":"idle"/);
      await reader.cancel();
    } finally {
      shutdown.abort();
      await server.close();
      await m.stop();
      await master.destroy();
    }
  });
});

describe("metrics", () => {
  test("GET /metrics parses as Prometheus text and its counters move when rows sync, searches run and requests come in.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent, metrics: m.metrics }), "127.0.0.1", 0);
    try {
      const scrape = async () => {
        const res = await fetch(`${server.url}/metrics`);
        expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
        return parsePrometheus(await res.text());
      };
      const before = await scrape();
      expect(before.get('embedded_memory_sync_state{state="idle"}')).toBe(1);
      expect(before.get('embedded_memory_sync_state{state="backoff"}')).toBe(0);
      await seedMemories(pg, 25, { startAt: 5_000 });
      await eventually(async () => expect((await scrape()).get("embedded_memory_memories")).toBe(before.get("embedded_memory_memories")! + 25));
      // The rows are visible before the pull that applied them ends and is counted.
      await eventually(() => expect(m.state()).toBe("idle"));
      await fetch(`${server.url}/memory/search?q=memory`, { headers: { "x-api-key": KEY } });
      await fetch(`${server.url}/nope`);
      const after = await scrape();
      // After many transitions the state gauge still holds exactly one 1: the current state's.
      const states = [...after].filter(([k]) => k.startsWith("embedded_memory_sync_state{"));
      expect(states.filter(([, v]) => v === 1).map(([k]) => k)).toEqual(['embedded_memory_sync_state{state="idle"}']);
      expect(states.length).toBeGreaterThanOrEqual(6);
      expect(after.get("embedded_memory_rows_applied_total")).toBeGreaterThanOrEqual((before.get("embedded_memory_rows_applied_total") ?? 0) + 25);
      expect(after.get('embedded_memory_pulls_total{result="ok"}')).toBeGreaterThan(before.get('embedded_memory_pulls_total{result="ok"}') ?? 0);
      expect(after.get("embedded_memory_bytes_pulled_total")).toBeGreaterThan(before.get("embedded_memory_bytes_pulled_total") ?? 0);
      expect(after.get("embedded_memory_pull_duration_seconds_count")).toBeGreaterThan(0);
      expect(after.get("embedded_memory_replication_lag_seconds")).toBeGreaterThanOrEqual(0);
      expect(after.get('embedded_memory_search_duration_seconds_count{method="fts"}')).toBe(1);
      expect(after.get('embedded_memory_http_requests_total{method="GET",route="/memory/search",status="200"}')).toBe(1);
      expect(after.get('embedded_memory_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
      expect(after.get("embedded_memory_outbox_pending")).toBe(m.stats().outbox.pending); // the search counted accesses: pending deltas
      // Every metric the shipped alert rules use exists.
      const rules = readFileSync(path.resolve(import.meta.dirname, "../deploy/prometheus/alerts.yml"), "utf8");
      const used = new Set([...rules.matchAll(/embedded_memory_[a-z_]+/g)].map((x) => x[0]));
      expect(used.size).toBeGreaterThan(0); // else the check below passes on nothing
      const exposed = new Set([...after.keys()].map((k) => k.replace(/\{.*$/, "").replace(/_(bucket|sum|count)$/, "")));
      expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

/** A strict reader of the Prometheus text format: every sample line must parse. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.eE+-]+|[Nn][Aa][Nn]|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    samples.set(m[1]!.replace(",}", "}"), Number(m[2]));
  }
  return samples;
}

describe("graceful shutdown", () => {
  test("Closing the server lets an in-flight request finish, refuses new connections, and does not wait on idle keep-alive sockets.", async () => {
    const { Hono } = await import("hono");
    const app = new Hono();
    // The slow request is inside its handler until the test releases it.
    let arrived!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    app.get("/slow", async (c) => {
      arrived();
      await released;
      return c.json({ done: true });
    });
    app.get("/fast", (c) => c.json({ ok: true }));
    const server = await startHttpServer(app, "127.0.0.1", 0);
    await fetch(`${server.url}/fast`); // leaves an idle keep-alive socket behind
    const inFlight = fetch(`${server.url}/slow`).then((r) => r.json());
    await inside;
    const started = Date.now();
    let closed = false;
    const closing = server.close(5_000).then(() => (closed = true));
    await expect(fetch(`${server.url}/fast`)).rejects.toThrow();
    expect(closed).toBe(false); // still waiting on the request in flight
    release();
    await closing;
    expect(await inFlight).toEqual({ done: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
