import { randomUUID } from "node:crypto";
import type pg from "pg";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { prng } from "../src/dev/prng.ts";


const SEED = Number(process.env.CONVERGENCE_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe("convergence", () => {
  test(`Random inserts, updates and deletes in overlapping transactions that commit in random order leave master and replica identical (seed ${SEED}).`, async ({ pg: master, replica }) => {
    console.info(`convergence seed: ${SEED} (replay with CONVERGENCE_SEED=${SEED})`);
    const random = prng(SEED);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const tenants = [randomUUID(), randomUUID(), null];
    const ids: string[] = [];
    const m = replica({ syncIntervalMs: 3_600_000 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));

    const workers: pg.Client[] = await Promise.all(Array.from({ length: 5 }, () => master.client()));
    const stats = { committed: 0, rolledBack: 0, statements: 0 };
    const deadline = Date.now() + 4_000;
    const step = async (c: pg.Client) => {
      const op = random();
      if (op < 0.45 || ids.length < 20) {
        const id = randomUUID();
        ids.push(id);
        await c.query(
          "INSERT INTO unified_ai_memory (id, memory_type, content, importance_score, tenant_id, tags, embedding) VALUES ($1, $2, jsonb_build_object('text', $3::text), $4, $5, $6, $7::real[])",
          [id, pick(["episodic", "semantic", "working"]), `note ${random()}`, Math.round(random() * 100) / 100, pick(tenants), [pick(["a", "b", "c"])], [random(), random(), random()]],
        );
      } else if (op < 0.8) {
        await c.query("UPDATE unified_ai_memory SET content = jsonb_build_object('text', $2::text), tenant_id = $3, expires_at = $4, updated_at = now() WHERE id = $1", [
          pick(ids),
          `edit ${random()}`,
          pick(tenants),
          random() < 0.1 ? new Date(Date.now() - 1000).toISOString() : null,
        ]);
      } else if (op < 0.9) {
        await c.query("UPDATE unified_ai_memory SET archived = $2 WHERE id = $1", [pick(ids), random() < 0.5]);
      } else {
        await c.query("DELETE FROM unified_ai_memory WHERE id = $1", [pick(ids)]);
      }
      stats.statements++;
    };
    // Each worker keeps a transaction open across several statements while the others run,
    // so transactions overlap and commit in an order the PRNG decides.
    await Promise.all(
      workers.map(async (c) => {
        while (Date.now() < deadline) {
          await c.query("BEGIN");
          try {
            const n = 1 + Math.floor(random() * 6);
            for (let i = 0; i < n; i++) {
              await step(c);
              await new Promise((r) => setTimeout(r, Math.floor(random() * 15)));
            }
            if (random() < 0.1) {
              await c.query("ROLLBACK");
              stats.rolledBack++;
            } else {
              await c.query("COMMIT");
              stats.committed++;
            }
          } catch {
            await c.query("ROLLBACK").catch(() => undefined); // deadlocks between workers are part of the game
            stats.rolledBack++;
          }
        }
      }),
    );
    await Promise.all(workers.map((c) => c.end()));
    expect(stats.committed, `seed ${SEED}`).toBeGreaterThan(50);

    await eventually(async () => {
      const report = await m.verify();
      expect(report, `seed ${SEED}`).toMatchObject({ identical: true });
    }, 30_000, 200);
    const report = await m.verify();
    expect(report.master_count, `seed ${SEED}`).toBe(report.replica_count);
    expect(report.master_count, `seed ${SEED}`).toBeGreaterThan(0);
  });
});
