/**
 * A master that stops answering without closing anything (a partition, a NAT or pooler that
 * lost the socket), through a proxy on loopback that keeps every socket open and forwards
 * nothing (test/support/silentProxy.ts). The replica runs with short timeouts and is driven
 * through the real HTTP app: it must notice within its deadlines, answer every request in
 * bounded time, keep serving local reads and writes, and converge once the proxy heals.
 */
import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { startSilentProxy, type SilentProxy } from "./support/silentProxy.ts";
import { installMaster, memoryCount, seedMemories } from "./support/seed.ts";
import type { TestPostgres } from "./support/postgres.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer, type HttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";
import { connectDeadlineMs, ioDeadlineMs } from "../src/machines/deadlines.ts";
import type { Config } from "../src/schema/config.ts";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";

const KEY = "key-for-silent-master-tests";
const TIMEOUTS = { connectTimeoutMs: 500, statementTimeoutMs: 1_000 };
const CONNECT_DEADLINE = connectDeadlineMs(TIMEOUTS); // 1 s
const IO_DEADLINE = ioDeadlineMs(TIMEOUTS); // 2 s
/** Scheduling slack on a shared 2-core machine. */
const SLACK_MS = 1_500;
const SHORT: Partial<Config> = {
  ...TIMEOUTS,
  listenHeartbeatMs: 500,
  notifyTimeoutMs: 300,
  pollIntervalMs: 200,
  backoffBaseMs: 100,
  backoffMaxMs: 1_000,
  uploadIntervalMs: 500,
};
const silent = createLogger({ level: "silent" });

interface Answer {
  readonly status: number;
  readonly body: any;
  readonly ms: number;
}

/** The HTTP app on a real server, with every request timed and never allowed to hang the test. */
function client(server: HttpServer) {
  const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
    const started = performance.now();
    const r = await fetch(`${server.url}${path}`, { ...init, headers: { "x-api-key": KEY, "content-type": "application/json", ...init.headers }, signal: AbortSignal.timeout(20_000) });
    const body = await r.json();
    return { status: r.status, body, ms: performance.now() - started };
  };
  return {
    get: (path: string) => call(path),
    post: (path: string, body?: unknown) => call(path, { method: "POST", ...(body === undefined ? {} : { body: JSON.stringify(body) }) }),
  };
}

async function setUp(pg: TestPostgres, replica: (o?: Partial<Config>) => EmbeddedMemory, overrides: Partial<Config>, beforeStart?: (p: SilentProxy) => void) {
  const proxy = await startSilentProxy(pg.port);
  beforeStart?.(proxy);
  const m = replica({ ...SHORT, ...overrides, databaseUrl: proxy.urlFor(pg.url) });
  await m.start();
  const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent }), "127.0.0.1", 0);
  return { proxy, m, server, http: client(server), close: async () => (await server.close(), await proxy.close()) };
}

const insertOnMaster = async (pg: TestPostgres, text: string): Promise<string> => {
  const id = randomUUID();
  await pg.sql("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'episodic', $2)", [id, JSON.stringify({ text })]);
  return id;
};

/** While the master is silent: local writes, reads and searches answer at once. */
async function localStillAnswers(http: ReturnType<typeof client>): Promise<string> {
  const written = await http.post("/memory", { content: "written while the master was silent", memory_type: "working" });
  expect(written.status).toBe(201);
  const read = await http.get(`/memory/${written.body.id}`);
  const found = await http.get("/memory/search?q=silent");
  expect([read.status, found.status]).toEqual([200, 200]);
  expect(found.body.results.map((r: { id: string }) => r.id)).toContain(written.body.id);
  for (const a of [written, read, found]) expect(a.ms).toBeLessThan(500);
  return written.body.id as string;
}

/** After the heal: idle and ready, the master's row arrived and the local write reached the master. */
async function converges(pg: TestPostgres, http: ReturnType<typeof client>, fromMaster: string, fromReplica: string): Promise<void> {
  await eventually(async () => {
    expect((await http.get("/ready")).status).toBe(200);
    expect((await http.get(`/memory/${fromMaster}`)).status).toBe(200);
    expect(await memoryCount(pg, `id = '${fromReplica}'`)).toBe(1);
    const stats = (await http.get("/memory/stats")).body;
    expect(stats).toMatchObject({ state: "idle", pool_connected: true, last_error: null, outbox: { pending: 0 } });
  }, 30_000);
}

describe("a silent master", () => {
  test("Silent while idle: noticed within the sync interval plus a pull's deadline, force-sync answers 503 within the connect deadline, local work goes on, and the heal converges.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 50);
    const syncIntervalMs = 1_000;
    const { proxy, http, close } = await setUp(pg, replica, { syncIntervalMs });
    try {
      await eventually(async () => expect((await http.get("/ready")).status).toBe(200));
      const before = proxy.stats();
      const started = performance.now();
      proxy.goSilent();

      const stats = await eventually(async () => {
        const s = (await http.get("/memory/stats")).body;
        expect(s).toMatchObject({ state: "backoff", pool_connected: false });
        return s;
      }, 15_000);
      const noticedMs = performance.now() - started;
      expect(noticedMs).toBeLessThan(syncIntervalMs + IO_DEADLINE + SLACK_MS);
      expect(stats.last_error).toMatch(/timed out|no answer|not reachable|timeout/);
      const ready = await http.get("/ready");
      expect(ready.status).toBe(503);

      const forced = await http.post("/memory/force-sync");
      expect(forced.status).toBe(503);
      expect(forced.body).toMatchObject({ success: false, pool_connected: false });
      expect(forced.ms).toBeLessThan(CONNECT_DEADLINE + SLACK_MS);

      const local = await localStillAnswers(http);
      const remote = await insertOnMaster(pg, "committed on the master while it was silent to the replica");

      // The fault happened: nothing got through, and what the replica sent was dropped.
      const during = proxy.stats();
      expect(during.forwarded).toEqual(before.forwarded);
      expect(during.dropped.toMaster).toBeGreaterThan(0);
      expect(during.acceptedWhileSilent).toBeGreaterThan(0);
      // Every pool connection open when the silence began is given up (destroyed after a
      // deadline, or closed by the pool's idle timeout): none stays checked out.
      await eventually(() => expect(proxy.stats().byApplication["embedded-memory"]?.heldSinceSilence).toBe(0), 15_000);

      proxy.heal();
      expect(proxy.stats().resetByHeal).toBeGreaterThan(0);
      await converges(pg, http, remote, local);
    } finally {
      await close();
    }
  });

  test("Silent during a pull: the force-sync waiting on it answers 503 within the pull's deadline, and the heal converges.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 50);
    const { proxy, http, close } = await setUp(pg, replica, { syncIntervalMs: 3_600_000 });
    try {
      await eventually(async () => expect((await http.get("/ready")).status).toBe(200));
      proxy.goSilent();
      // The replica has not noticed yet: this request starts (or waits for) a pull into the silence.
      const forced = await http.post("/memory/force-sync");
      expect(forced.status).toBe(503);
      expect(forced.body).toMatchObject({ success: false, pool_connected: false, state: "backoff" });
      expect(forced.body.error).toMatch(/timed out|no answer|timeout/);
      expect(forced.ms).toBeLessThan(IO_DEADLINE + SLACK_MS);
      // The silence swallowed the pull: its query (sent into it) or the answer to a query sent
      // just before it (a pull is one round trip; the feed's catch-up pull may be under way).
      const { dropped } = proxy.stats();
      expect(dropped.toMaster + dropped.toReplica).toBeGreaterThan(0);
      expect((await http.get("/ready")).status).toBe(503);

      const local = await localStillAnswers(http);
      const remote = await insertOnMaster(pg, "committed during the silent pull");
      proxy.heal();
      await converges(pg, http, remote, local);
    } finally {
      await close();
    }
  });

  test("Silent during the first copy: the copy stalls into backoff within a chunk's deadline, searches answer from the partial copy, and the copy resumes after the heal.", async ({ pg, replica }) => {
    const rows = 20_000;
    await installMaster(pg);
    await seedMemories(pg, rows);
    // A few chunks in, mid-transfer.
    const { proxy, http, m, close } = await setUp(pg, replica, { syncIntervalMs: 3_600_000, snapshotChunkRows: 500 }, (p) => p.silenceAfter(600_000));
    try {
      const stats = await eventually(async () => {
        const s = (await http.get("/memory/stats")).body;
        expect(s).toMatchObject({ state: "backoff", pool_connected: false, snapshot: { complete: false } });
        return s;
      }, 15_000);
      expect(proxy.silent()).toBe(true);
      expect(stats.snapshot.rows_copied).toBeGreaterThan(0);
      expect(stats.snapshot.rows_copied).toBeLessThan(rows);
      expect(stats.last_error).toMatch(/timed out|no answer|no progress|timeout/);
      expect((await http.get("/ready")).status).toBe(503);
      const forced = await http.post("/memory/force-sync");
      expect(forced.status).toBe(503);
      expect(forced.ms).toBeLessThan(IO_DEADLINE + SLACK_MS);

      const local = await localStillAnswers(http);
      const remote = await insertOnMaster(pg, "committed while the copy was stalled");
      proxy.heal();
      await converges(pg, http, remote, local);
      expect(m.stats().total_memories).toBe(rows + 2);
    } finally {
      await close();
    }
  });
});
