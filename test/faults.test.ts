import { randomUUID } from "node:crypto";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { createTestPostgres, freePort } from "./support/postgres.ts";
import { installMaster, seedMemories, memoryCount } from "./support/seed.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";

const silent = createLogger({ level: "silent" });

describe("faults", () => {
  test("The replica starts while the master is down, waits in awaitingPool/backoff, and reaches idle with all 5,351 rows once the master comes up.", async ({ tmp }) => {
    const master = await createTestPostgres();
    try {
      // The master's data exists, but its server is not running when the replica starts.
      const seeder = new EmbeddedMemory(makeConfig({ databaseUrl: master.url, localPath: path.join(tmp, "seed.db"), logLevel: "silent" }), { logger: silent });
      await seeder.syncOnce(); // installs the master objects
      await seeder.stop();
      await seedMemories(master, 5_351);
      await master.stop();

      const m = new EmbeddedMemory(makeConfig({ databaseUrl: master.url, localPath: path.join(tmp, "replica.db"), syncIntervalMs: 3_600_000, logLevel: "silent" }), { logger: silent });
      await m.start();
      await eventually(() => expect(m.state()).toBe("backoff"));
      const down = m.stats();
      expect(down.pool_connected).toBe(false);
      expect(down.total_memories).toBe(0);
      expect(down.last_error).toMatch(/not reachable/);
      expect(["awaitingPool", "backoff"]).toContain(m.state());
      expect(m.ready()).toBe(false);

      await master.start();
      await eventually(() => {
        expect(m.state()).toBe("idle");
        expect(m.stats().total_memories).toBe(5_351);
      }, 45_000);
      expect(m.stats().pool_connected).toBe(true);
      expect(m.ready()).toBe(true);
      // The first copy's commits started the checkpoint worker (its ~3 MB of WAL is below a checkpoint's thresholds yet).
      await eventually(() => expect(m.stats().wal_checkpoints).toMatchObject({ worker: "running", error: null, checkpoints: 0 }));
      await m.stop();
    } finally {
      await master.destroy();
    }
  });

  test("A transaction that stays open does not hold back others, and its row arrives when it commits (timer out of play).", async ({ pg, replica }) => {
    const m = replica({ syncIntervalMs: 3_600_000 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const [x, y] = [randomUUID(), randomUUID()];
    const a = await pg.client();
    const b = await pg.client();
    try {
      await a.query("BEGIN");
      await a.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'episodic', '{\"text\":\"X\"}')", [x]);
      await b.query("BEGIN");
      await b.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'episodic', '{\"text\":\"Y\"}')", [y]);
      await b.query("COMMIT");
      const has = (id: string) => m._db().prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").get(id) !== undefined;
      await eventually(() => expect(has(y)).toBe(true));
      expect(has(x)).toBe(false);
      await a.query("COMMIT");
      await eventually(() => expect(has(x)).toBe(true));
    } finally {
      await a.end();
      await b.end();
    }
  });

  test("When the listener connection is killed while rows are written, every row still arrives (timer out of play).", async ({ pg, replica }) => {
    const m = replica({ syncIntervalMs: 3_600_000 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await eventually(() => expect(m.stats().feed_connected).toBe(true));
    const writer = await pg.client();
    const ids: string[] = [];
    try {
      for (let i = 0; i < 120; i++) {
        const id = randomUUID();
        ids.push(id);
        await writer.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'working', '{\"text\":\"w\"}')", [id]);
        if (i === 40 || i === 80) {
          // The listener must be back from the previous kill before it can be killed again.
          const killed = await eventually(async () => {
            const r = await writer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'embedded-memory-feed'");
            expect(r.rowCount).toBeGreaterThan(0);
            return r.rowCount;
          });
          expect(killed).toBeGreaterThan(0);
        }
      }
    } finally {
      await writer.end();
    }
    const has = (id: string) => m._db().prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").get(id) !== undefined;
    await eventually(() => expect(ids.filter((id) => !has(id))).toEqual([]), 30_000);
    expect(m.stats().feed_connected).toBe(true);
  });

  test("Killing the replica's master connections in the middle of large pulls loses nothing: it backs off, retries and converges.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica({ syncIntervalMs: 3_600_000, pullBatchRows: 200, backoffBaseMs: 20, backoffMaxMs: 200 });
    await seedMemories(pg, 3_000, { embeddingDim: 32 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"), 30_000);
    const killer = await pg.client();
    try {
      let kills = 0;
      for (let round = 0; round < 5; round++) {
        await killer.query("UPDATE unified_ai_memory SET importance_score = random()::real, updated_at = now()");
        const until = Date.now() + 150;
        while (Date.now() < until) {
          const r = await killer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'embedded-memory' AND state <> 'idle'");
          kills += r.rowCount ?? 0;
        }
      }
      expect(kills).toBeGreaterThan(0);
    } finally {
      await killer.end();
    }
    await eventually(async () => {
      expect(m.state()).toBe("idle");
      expect((await m.verify()).identical).toBe(true);
    }, 30_000);
    expect(m.stats().total_memories).toBe(await memoryCount(pg, "NOT archived AND (expires_at IS NULL OR expires_at > now())"));
  });

  test("Stopping a replica whose master never came up releases everything promptly.", async ({ tmp }) => {
    const port = await freePort(); // nothing listens here
    const m = new EmbeddedMemory(makeConfig({ databaseUrl: `postgres://postgres:pw@127.0.0.1:${port}/postgres`, localPath: path.join(tmp, "r.db"), logLevel: "silent" }), { logger: silent });
    await m.start();
    await eventually(() => expect(m.state()).toBe("backoff"));
    const started = Date.now();
    await m.stop();
    await m.stop(); // twice is fine
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(m.state()).toBe("stopped");
  });
});
