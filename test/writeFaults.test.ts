import path from "node:path";
import Database from "better-sqlite3";
import { describe, onTestFinished } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { spawnCli } from "./support/cli.ts";
import { createTestPostgres, freePort } from "./support/postgres.ts";
import { installMaster } from "./support/seed.ts";

const KEY = "write-fault-key-123456";

async function startServe(env: Record<string, string>, port: number) {
  const child = spawnCli(["serve"], { ...env, PORT: String(port), API_KEYS: KEY });
  let logs = "";
  child.stdout!.on("data", (d) => (logs += d));
  child.stderr!.on("data", (d) => (logs += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  onTestFinished(() => void child.kill("SIGKILL")); // a failing test must not leave a server behind
  await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200), 30_000, 50);
  return { child, exited, logs: () => logs };
}

describe("write path faults", () => {
  test("200 writes made while the master is down survive SIGKILL and a restart with the master still down, then reach the master exactly once.", async ({ tmp }) => {
    const master = await createTestPostgres();
    try {
      await installMaster(master);
      await master.stop();
      const file = path.join(tmp, "offline.db");
      const env = { DATABASE_URL: master.url, EMBEDDED_MEMORY_PATH: file, UPLOAD_INTERVAL_MS: "200" };
      const port = await freePort();
      const first = await startServe(env, port);
      try {
        for (let i = 0; i < 200; i++) {
          const r = await fetch(`http://127.0.0.1:${port}/memory`, { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify({ content: `write ${i}`, tags: [`n${i}`] }) });
          expect(r.status).toBe(201);
        }
      } finally {
        first.child.kill("SIGKILL");
      }
      expect(await first.exited).toBe("SIGKILL");
      const db = new Database(file, { readonly: true });
      expect(db.prepare("SELECT count(*) FROM outbox WHERE parked_at IS NULL").pluck().get()).toBe(200);
      db.close();

      const second = await startServe(env, port); // the master is still down
      try {
        const stats = (await (await fetch(`http://127.0.0.1:${port}/memory/stats`)).json()) as { outbox: { pending: number }; pool_connected: boolean };
        expect(stats).toMatchObject({ pool_connected: false, outbox: { pending: 200 } });
        await master.start();
        await eventually(async () => {
          const s = (await (await fetch(`http://127.0.0.1:${port}/memory/stats`)).json()) as { outbox: { pending: number; parked: number } };
          expect(s.outbox).toMatchObject({ pending: 0, parked: 0 });
        }, 45_000, 100);
      } finally {
        second.child.kill("SIGTERM");
      }
      expect(await second.exited).toBe(0);
      const rows = await master.sql<{ text: string; n: string; tags: string[] }>("SELECT content->>'text' AS text, count(*) OVER (PARTITION BY content->>'text') AS n, tags FROM unified_ai_memory");
      expect(rows).toHaveLength(200);
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      expect(new Set(rows.map((r) => r.text))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `write ${i}`)));
      expect(rows.every((r) => r.tags[0] === `n${r.text.slice(6)}`)).toBe(true);
    } finally {
      await master.destroy();
    }
  });

  test("Master connections killed in the middle of upload batches lose and duplicate nothing, access counts included.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica({ backoffBaseMs: 20, backoffMaxMs: 200 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const blocker = await pg.client();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE");
    const ids: string[] = [];
    for (let i = 0; i < 1_500; i++) ids.push((await m.store({ content: `batch ${i}` })).id);
    for (let i = 0; i < 1_500; i += 3) await m.recordAccess([ids[i]!, ids[i]!]);
    await blocker.query("COMMIT");
    await blocker.end();
    const killer = await pg.client();
    let kills = 0;
    try {
      // Kill upload connections while batches run, a few times, as long as there is work left.
      const until = Date.now() + 20_000;
      while (Date.now() < until && kills < 3 && m.stats().outbox.pending > 0) {
        // An upload batch is the replica's only write transaction (pulls are read only): kill
        // its connection while the transaction is open, between or inside its statements.
        const r = await killer.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'embedded-memory' AND backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction')",
        );
        kills += r.rowCount ?? 0;
      }
    } finally {
      await killer.end();
    }
    console.info(`killed ${kills} upload connections mid-batch`);
    expect(kills).toBeGreaterThan(0);
    await eventually(() => expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 0 }), 45_000, 100);
    const rows = await pg.sql<{ text: string; n: string; access_count: number }>(
      "SELECT content->>'text' AS text, count(*) OVER (PARTITION BY content->>'text') AS n, access_count FROM unified_ai_memory WHERE content->>'text' LIKE 'batch %'",
    );
    expect(rows).toHaveLength(1_500);
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    const expectedAccess = (text: string) => (Number(text.slice(6)) % 3 === 0 ? 2 : 0);
    expect(rows.filter((r) => r.access_count !== expectedAccess(r.text))).toEqual([]);
  });
});
