/**
 * The bounds on master connections: the pool's size (MASTER_POOL_MAX), the client-side
 * deadline that closes a connection, the server-side statement_timeout set per transaction
 * (no session state), and the connection budget of a running replica (N pooled + 1 listener).
 */
import { randomUUID } from "node:crypto";
import * as Effect from "effect/Effect";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { Master, masterLayer, type MasterShape } from "../src/master/Master.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { TestPostgres } from "./support/postgres.ts";

const logger = createLogger({ level: "silent" });

function withMaster<A>(url: string, o: { max: number; statementTimeoutMs?: number }, use: (m: MasterShape) => Effect.Effect<A, unknown>): Promise<A> {
  const layer = masterLayer({ databaseUrl: url, connectTimeoutMs: 5_000, statementTimeoutMs: o.statementTimeoutMs ?? 5_000, maxConnections: o.max, logger });
  const program = Effect.gen(function* () {
    return yield* use(yield* Master);
  });
  return Effect.runPromise(program.pipe(Effect.provide(layer)) as Effect.Effect<A>);
}

const pid = (m: MasterShape) => m.query<{ pid: number }>("SELECT pg_backend_pid() AS pid").pipe(Effect.map((r) => r.rows[0]!.pid));

/** Counts this project's backends on the master every few milliseconds until stopped; returns the peak and who made it. */
function sampleBackends(pg: TestPostgres): { stop: () => Promise<{ peak: number; at: string[] }> } {
  let peak = 0;
  let at: string[] = [];
  let running = true;
  const loop = (async () => {
    const c = await pg.client();
    try {
      while (running) {
        const { rows } = await c.query<{ app: string }>("SELECT application_name AS app FROM pg_stat_activity WHERE application_name LIKE 'embedded-memory%' AND pid <> pg_backend_pid()");
        if (rows.length > peak) [peak, at] = [rows.length, rows.map((r) => r.app).sort()];
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  // A failed test may drop the database under the sampler: stop() still reports.
  const settled = loop.catch(() => undefined);
  return {
    stop: async () => {
      running = false;
      await settled;
      return { peak, at };
    },
  };
}

describe("the master pool", () => {
  test("The pool never opens more connections than maxConnections, however many queries wait.", async ({ pg }) => {
    const sampler = sampleBackends(pg);
    const peakOpen = await withMaster(pg.url, { max: 2 }, (m) =>
      Effect.gen(function* () {
        let peak = 0;
        yield* Effect.all(
          Array.from({ length: 12 }, () => m.query("SELECT pg_sleep(0.02)").pipe(Effect.tap(() => Effect.sync(() => (peak = Math.max(peak, m.pool().open)))))),
          { concurrency: "unbounded" },
        );
        return peak;
      }),
    );
    expect(peakOpen).toBe(2);
    expect((await sampler.stop()).peak).toBeLessThanOrEqual(2);
  });

  test("A query past the client-side deadline fails as unreachable and its connection is closed, not pooled again.", async ({ pg }) => {
    const r = await withMaster(pg.url, { max: 1, statementTimeoutMs: 100 }, (m) =>
      Effect.gen(function* () {
        const before = yield* pid(m);
        const failed = yield* Effect.flip(m.query("SELECT pg_sleep(3)"));
        const after = yield* pid(m);
        return { before, after, failed, open: m.pool().open };
      }),
    );
    expect(r.failed._tag).toBe("MasterUnavailable");
    expect(r.failed.message).toMatch(/no answer within 1100 ms/);
    expect(r.after).not.toBe(r.before);
    expect(r.open).toBe(1);
  });

  test("A transaction sets statement_timeout for itself only: the server cancels a slow statement and the session keeps no setting.", async ({ pg }) => {
    const r = await withMaster(pg.url, { max: 1, statementTimeoutMs: 150 }, (m) =>
      Effect.gen(function* () {
        const inside = yield* m.transaction("READ WRITE", (c) => c.query<{ statement_timeout: string }>("SHOW statement_timeout"));
        const before = yield* pid(m);
        const started = Date.now();
        const failed = yield* Effect.flip(m.transaction("READ WRITE", (c) => c.query("SELECT pg_sleep(3)")));
        const tookMs = Date.now() - started;
        const outside = yield* m.query<{ statement_timeout: string }>("SHOW statement_timeout");
        return { inside: inside.rows[0]!.statement_timeout, outside: outside.rows[0]!.statement_timeout, failed, tookMs, before, after: yield* pid(m) };
      }),
    );
    expect(r.inside).toBe("150ms");
    expect(r.outside).toBe("0");
    expect(r.failed).toMatchObject({ _tag: "MasterQueryError", code: "57014" });
    expect(r.tookMs).toBeLessThan(1_000);
    // The master refused a statement: the connection is rolled back and kept.
    expect(r.after).toBe(r.before);
  });

  test("A transaction interrupted while its statement runs closes that connection.", async ({ pg }) => {
    const r = await withMaster(pg.url, { max: 1 }, (m) =>
      Effect.gen(function* () {
        const before = yield* pid(m);
        const timedOut = yield* Effect.result(m.transaction("READ WRITE", (c) => c.query("SELECT pg_sleep(3)")).pipe(Effect.timeout("100 millis")));
        return { before, after: yield* pid(m), timedOut: timedOut._tag };
      }),
    );
    expect(r.timedOut).toBe("Failure");
    expect(r.after).not.toBe(r.before);
  });
});

describe("the connection budget of a replica", () => {
  test("With a pool of one connection, pulls and uploads at the same time still complete.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 300);
    const m = replica({ masterPoolMax: 1 });
    await m.start();
    await eventually(() => expect(m.stats().total_memories).toBe(300));
    const writes = Array.from({ length: 20 }, (_, i) => m.store({ id: randomUUID(), content: `pool of one ${i}`, memory_type: "semantic" }));
    for (let i = 0; i < 5; i++) await seedMemories(pg, 20, { startAt: 1000 + i * 20 });
    await Promise.all(writes);
    await eventually(() => expect(m.stats().total_memories).toBe(420));
    await eventually(() => expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 0 }));
    expect(await m.verify()).toMatchObject({ identical: true, master_count: 420 });
  });

  test("A replica with masterPoolMax 2 pulling and uploading at once never holds more than 3 master connections (N+1).", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 500);
    const sampler = sampleBackends(pg);
    const m = replica({ masterPoolMax: 2 });
    await m.start();
    await eventually(() => expect(m.stats().total_memories).toBe(500));
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      writes.push(...Array.from({ length: 10 }, (_, j) => m.store({ content: `budget ${i}-${j}`, memory_type: "semantic" })));
      await seedMemories(pg, 10, { startAt: 1000 + i * 10 });
    }
    await Promise.all(writes);
    await eventually(() => expect(m.stats().total_memories).toBe(700));
    await eventually(() => expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 0 }));
    const { peak, at } = await sampler.stop();
    expect(peak, at.join(", ")).toBeGreaterThanOrEqual(2);
    expect(peak, at.join(", ")).toBeLessThanOrEqual(3);
  });
});
