/**
 * The replica behind a real PgBouncer (Debian's pgbouncer, started here on loopback), as
 * hosted Postgres is reached in the field. In transaction mode LISTEN succeeds and delivers
 * nothing: the change feed must find that out by itself (its NOTIFY self-test), say so in
 * stats and metrics, and pulls and uploads must still work through the pooler. With a direct
 * LISTEN_DATABASE_URL, or in session mode, the feed is verified and NOTIFY-fast.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { describe } from "vitest";
import { test as base, expect, eventually } from "./support/fixtures.ts";
import { PG_PASSWORD, type TestPostgres } from "./support/postgres.ts";
import { startPgBouncer, type PgBouncer, type PoolMode } from "./support/pgbouncer.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { startSilentProxy } from "./support/silentProxy.ts";
import { makeConfig, type Config } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { makeChangeFeed, type FeedHandlers } from "../src/master/ChangeFeed.ts";

const hasPgBouncer = requireSystem("the PgBouncer tests", SYSTEM.pgbouncer);

/** A PgBouncer for the whole file, always stopped at its end. */
async function withBouncer(cluster: TestPostgres, poolMode: PoolMode, use: (b: PgBouncer) => Promise<void>): Promise<void> {
  const b = await startPgBouncer({ upstreamPort: cluster.port, user: "postgres", password: PG_PASSWORD, poolMode });
  try {
    await use(b);
  } finally {
    await b.stop();
  }
}

interface Logged {
  readonly level: number;
  readonly msg: string;
}

const test = base.extend<{ transaction: PgBouncer; session: PgBouncer; replicaWithLog: (o: Partial<Config>) => { m: EmbeddedMemory; logs: Logged[] } }>({
  transaction: [async ({ cluster }, use) => withBouncer(cluster, "transaction", use), { scope: "file" }],
  session: [async ({ cluster }, use) => withBouncer(cluster, "session", use), { scope: "file" }],
  replicaWithLog: async ({ tmp }, use) => {
    const made: EmbeddedMemory[] = [];
    await use((overrides) => {
      const logs: Logged[] = [];
      const logger = createLogger({ level: "info", destination: { write: (line: string) => void logs.push(JSON.parse(line) as Logged) } });
      const config = makeConfig({ localPath: path.join(tmp, `replica-${made.length}.db`), syncIntervalMs: 3_600_000, logLevel: "info", ...overrides });
      const m = new EmbeddedMemory(config, { logger });
      made.push(m);
      return { m, logs };
    });
    await Promise.all(made.map((m) => m.stop()));
  },
});

const database = (pg: TestPostgres) => new URL(pg.url).pathname.slice(1);
const FAST = { listenHeartbeatMs: 500, notifyTimeoutMs: 500 } as const;
const notifyGauge = async (m: EmbeddedMemory) => (await m.metrics.registry.getSingleMetric("embedded_memory_notify_healthy")!.get()).values[0]?.value;

async function insertOnMaster(pg: TestPostgres, text: string): Promise<string> {
  const id = randomUUID();
  await pg.sql(`INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', jsonb_build_object('text', $2::text))`, [id, text]);
  return id;
}
const hasLocally = (m: EmbeddedMemory, id: string) => m._db().prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").get(id) !== undefined;

describe.skipIf(!hasPgBouncer)("behind PgBouncer", () => {
  test("In transaction mode with only the pooled URL the feed is unavailable with a reason, the gauge is 0, one warning names the fix, and pulls and uploads still work.", async ({ pg, transaction, replicaWithLog }) => {
    // The fault is real: this PgBouncer pools by transaction.
    const config = await transaction.admin<{ key: string; value: string }>("SHOW CONFIG");
    expect(config.find((r) => r.key === "pool_mode")?.value).toBe("transaction");

    const pooled = transaction.url(database(pg));
    const { m, logs } = replicaWithLog({ databaseUrl: pooled, pollIntervalMs: 300, ...FAST });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await eventually(() => expect(m.stats().change_feed).toMatchObject({ state: "unavailable", verified_at: null }));
    expect(m.stats().change_feed.reason).toMatch(/no NOTIFY round trip within 500 ms.*transaction-mode pooler.*LISTEN_DATABASE_URL/);
    expect(await notifyGauge(m)).toBe(0);

    // A local write reaches the master through PgBouncer.
    const stored = await m.store({ content: "written behind the pooler" });
    await eventually(async () => expect(await pg.sql("SELECT 1 FROM unified_ai_memory WHERE id = $1", [stored.id])).toHaveLength(1));

    // A master commit reaches the replica through a pull over PgBouncer.
    const id = await insertOnMaster(pg, "committed on the master");
    const forced = await m.forceSync();
    expect(forced.success).toBe(true);
    expect(hasLocally(m, id)).toBe(true);

    // Without NOTIFY and with the timer at an hour, the poll (every 300 ms) brings a commit soon.
    const committed = Date.now();
    const polled = await insertOnMaster(pg, "found by the poll");
    await eventually(() => expect(hasLocally(m, polled)).toBe(true), 3_000);
    expect(Date.now() - committed).toBeLessThan(2_000);

    // Several heartbeats later (each a failed re-test), still one warning, and still unavailable.
    const warnings = () => logs.filter((l) => l.level === 40 && /transaction pooling/.test(l.msg));
    // Each re-test moves checked_at (the probe NOTIFY goes through the pulls' pool: no new login).
    const checks = new Set<string>();
    await eventually(() => {
      checks.add(String(m.stats().change_feed.checked_at));
      expect(checks.size).toBeGreaterThanOrEqual(4);
    }, 10_000);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toMatch(/LISTEN_DATABASE_URL/);
    expect(m.stats().change_feed.state).toBe("unavailable");
  });

  test("In transaction mode for DATABASE_URL with a direct LISTEN_DATABASE_URL the feed is listening and a master commit arrives by NOTIFY.", async ({ pg, transaction, replicaWithLog }) => {
    // No timer and no poll in play: only NOTIFY can bring the row.
    const { m } = replicaWithLog({ databaseUrl: transaction.url(database(pg)), listenDatabaseUrl: pg.url, pollIntervalMs: 3_600_000, ...FAST });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await eventually(() => expect(m.stats().change_feed).toMatchObject({ state: "listening", reason: null }));
    expect(Date.parse(m.stats().change_feed.verified_at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(await notifyGauge(m)).toBe(1);
    const id = await insertOnMaster(pg, "notified");
    await eventually(() => expect(hasLocally(m, id)).toBe(true), 5_000);
    const stored = await m.store({ content: "uploaded through transaction pooling" });
    await eventually(async () => expect(await pg.sql("SELECT 1 FROM unified_ai_memory WHERE id = $1", [stored.id])).toHaveLength(1));
  });

  test("In session mode with only the pooled URL the feed is listening and a master commit arrives by NOTIFY.", async ({ pg, session, replicaWithLog }) => {
    const { m } = replicaWithLog({ databaseUrl: session.url(database(pg)), pollIntervalMs: 3_600_000, ...FAST });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await eventually(() => expect(m.stats().change_feed).toMatchObject({ state: "listening", reason: null }));
    expect(await notifyGauge(m)).toBe(1);
    const id = await insertOnMaster(pg, "notified through session pooling");
    await eventually(() => expect(hasLocally(m, id)).toBe(true), 5_000);
  });

  test("A feed behind transaction pooling stays connected and unavailable, and calls unhealthy once; a direct feed calls healthy once across heartbeats.", async ({ pg, transaction }) => {
    const logger = createLogger({ level: "silent" });
    const options = { connectTimeoutMs: 2_000, statementTimeoutMs: 5_000, heartbeatMs: 200, notifyTimeoutMs: 300, logger };
    const record = () => {
      const events: string[] = [];
      const handlers: FeedHandlers = {
        connected: () => events.push("connected"),
        disconnected: () => events.push("disconnected"),
        change: () => undefined,
        healthy: () => events.push("healthy"),
        unhealthy: () => events.push("unhealthy"),
      };
      return { events, handlers };
    };
    const pooled = makeChangeFeed({ ...options, databaseUrl: transaction.url(database(pg)) });
    const direct = makeChangeFeed({ ...options, databaseUrl: pg.url, notifyUrl: transaction.url(database(pg)) });
    expect(pooled.status()).toMatchObject({ state: "connecting", reason: "change feed not started" });
    const p = record();
    const d = record();
    pooled.subscribe(p.handlers);
    direct.subscribe(d.handlers);
    try {
      await eventually(() => expect(pooled.status().state).toBe("unavailable"));
      await eventually(() => expect(direct.status().state).toBe("listening"));
      // Five heartbeats (each verifies again) move verified_at and call nothing more.
      const first = direct.status().verified_at!;
      await eventually(() => expect(Date.parse(direct.status().verified_at!) - Date.parse(first)).toBeGreaterThanOrEqual(1_000), 10_000);
      expect(d.events).toEqual(["connected", "healthy"]);
      expect(p.events).toEqual(["connected", "unhealthy"]);
      expect(pooled.status().state).toBe("unavailable");
    } finally {
      await Promise.all([pooled.closeAll(), direct.closeAll()]);
    }
  });
});

describe("change feed heartbeat", () => {
  test("A listening feed whose socket goes silent misses a heartbeat, lets go of that socket, reconnects after the heal and is verified again.", async ({ pg }) => {
    const proxy = await startSilentProxy(pg.port);
    const events: string[] = [];
    const feed = makeChangeFeed({
      databaseUrl: proxy.urlFor(pg.url),
      notifyUrl: pg.url, // the probe goes direct: only the listener's path is silenced
      connectTimeoutMs: 1_000,
      statementTimeoutMs: 5_000,
      heartbeatMs: 200,
      notifyTimeoutMs: 300,
      logger: createLogger({ level: "silent" }),
    });
    feed.subscribe({
      connected: () => events.push("connected"),
      disconnected: () => events.push("disconnected"),
      change: () => undefined,
      healthy: () => events.push("healthy"),
      unhealthy: () => events.push("unhealthy"),
    });
    try {
      await eventually(() => expect(feed.status().state).toBe("listening"));
      proxy.goSilent();
      await eventually(() => expect(feed.status()).toMatchObject({ state: "connecting", reason: "heartbeat NOTIFY did not arrive within 300 ms" }), 10_000);
      await eventually(() => expect(proxy.stats().byApplication["embedded-memory-feed"]?.releasedWhileSilent).toBeGreaterThanOrEqual(1), 10_000);
      await eventually(() => expect(events.slice(0, 4)).toEqual(["connected", "healthy", "unhealthy", "disconnected"]));
      proxy.heal();
      await eventually(() => expect(feed.status().state).toBe("listening"), 15_000);
      expect(events.filter((e) => e === "healthy")).toHaveLength(2);
    } finally {
      await feed.closeAll();
      await proxy.close();
    }
  });
});
