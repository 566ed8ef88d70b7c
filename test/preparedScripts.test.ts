/**
 * Pull scripts with prepared statements (Master.readScript): only once the sessions are proven
 * ours (LISTEN's NOTIFY came back over the pulls' own URL), PREPAREd once per connection and
 * EXECUTEd after, cleared when a script fails (prepared statements outlive failed transactions),
 * and turned off for good should a pooler still move a session.
 */
import { describe } from "vitest";
import * as Effect from "effect/Effect";
import { test, expect, eventually } from "./support/fixtures.ts";
import { PG_PASSWORD } from "./support/postgres.ts";
import { startPgBouncer } from "./support/pgbouncer.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { isOneTripPull, queriesDuring } from "./support/queries.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { Master, masterLayer, type MasterShape } from "../src/master/Master.ts";
import { createLogger } from "../src/observability/logger.ts";

const RR = "ISOLATION LEVEL REPEATABLE READ READ ONLY" as const;
const hasPgBouncer = requireSystem("the prepared-statement test through PgBouncer", SYSTEM.pgbouncer);

/** Runs `use` with a master on `url` (its pool closed after), and what it logged. */
async function withMaster<A>(url: string, maxConnections: number, use: (m: MasterShape) => Promise<A>): Promise<{ result: A; logs: { msg: string; code?: string }[] }> {
  const logs: { msg: string; code?: string }[] = [];
  const logger = createLogger({ level: "info", destination: { write: (line: string) => void logs.push(JSON.parse(line)) } });
  const layer = masterLayer({ databaseUrl: url, connectTimeoutMs: 5_000, statementTimeoutMs: 5_000, maxConnections, logger });
  const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const m = yield* Master;
    m.keepPlans(); // as the composition does once the feed proves the sessions ours
    return yield* Effect.promise(() => use(m));
  })).pipe(Effect.provide(layer)));
  return { result, logs };
}

const script = (m: MasterShape, n: number) =>
  Effect.runPromise(m.readScript<{ v: number; s: string }>(RR, [{ text: "SELECT $1::int + 1 AS v", values: [n] }, { text: "SELECT $1::text || '!' AS s", values: [`it's ${n}`] }]));

describe("pull scripts, prepared", () => {
  test("A connection prepares a script's statements once and then only executes them, with the same answers.", async ({ pg }) => {
    const { result } = await withMaster(pg.url, 1, async (m) => {
      const sent = await queriesDuring(async () => {
        for (let i = 0; i < 3; i++) {
          const [a, b] = await script(m, i);
          expect([a!.rows[0]!.v, b!.rows[0]!.s]).toEqual([i + 1, `it's ${i}!`]);
        }
      });
      const held = await Effect.runPromise(m.query<{ name: string }>("SELECT name FROM pg_prepared_statements ORDER BY name"));
      return { sent, held: held.rows.map((r) => r.name) };
    });
    expect(result.sent.map((q) => (q.match(/\nPREPARE /g) ?? []).length)).toEqual([2, 0, 0]);
    expect(result.sent.every((q) => (q.match(/\nEXECUTE em_[0-9a-f]+/g) ?? []).length === 2)).toBe(true);
    expect(result.held).toHaveLength(2);
  });

  test("A script that fails leaves nothing prepared it does not know of: the next one prepares again and answers.", async ({ pg }) => {
    const { result } = await withMaster(pg.url, 1, async (m) => {
      const divide = (d: number) => Effect.runPromise(Effect.result(m.readScript<{ q: number }>(RR, [{ text: "SELECT 10 / $1::int AS q", values: [d] }])));
      const failed = await divide(0);
      const sent = await queriesDuring(async () => void (await divide(5)));
      return { failed, sent, ok: await divide(2) };
    });
    expect(result.failed._tag).toBe("Failure");
    expect(String((result.failed as { failure: { message: string } }).failure.message)).toMatch(/division by zero/);
    expect(result.sent[0]).toMatch(/\nPREPARE em_/);
    expect(result.ok).toMatchObject({ _tag: "Success", success: [{ rows: [{ q: 5 }] }] });
  });

  test.skipIf(!hasPgBouncer)("Through a transaction pooler every script answers, and prepared statements are turned off once the pooler moves the session.", async ({ cluster, pg }) => {
    // One server connection behind two of our clients: the second client's first PREPARE meets
    // the statement the first client prepared there (42P05), as a moved session would.
    const bouncer = await startPgBouncer({ upstreamPort: cluster.port, user: "postgres", password: PG_PASSWORD, poolMode: "transaction", poolSize: 1 });
    try {
      const database = new URL(pg.url).pathname.slice(1);
      const { result, logs } = await withMaster(bouncer.url(database), 2, async (m) => {
        const answers: number[] = [];
        for (let round = 0; round < 15; round++) {
          const all = await Promise.all([0, 1].map((k) => script(m, round * 2 + k)));
          answers.push(...all.map(([a]) => a!.rows[0]!.v));
        }
        return answers;
      });
      expect(result).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(logs.filter((l) => /prepared statements off/.test(l.msg))).toHaveLength(1);
    } finally {
      await bouncer.stop();
    }
  });

  test("A replica on a direct connection prepares its pulls once its feed is listening; behind a transaction pooler (no LISTEN_DATABASE_URL) it never prepares.", async ({ cluster, pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 5);
    const loneCommit = async (url: string) => {
      const m = replica({ databaseUrl: url });
      await m.start();
      const writer = await pg.client();
      try {
        await eventually(() => expect(m.state()).toBe("idle"));
        const sent = await queriesDuring(async () => {
          for (let i = 0; i < 3; i++) {
            const before = m.stats().total_memories;
            await writer.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES (gen_random_uuid(), 'semantic', '{\"text\": \"lone\"}')");
            await eventually(() => expect([m.state(), m.stats().total_memories]).toEqual(["idle", before + 1]));
          }
        });
        return { sent, feed: m.stats().change_feed.state };
      } finally {
        await writer.end();
        await m.stop();
      }
    };
    const direct = await loneCommit(pg.url);
    expect(direct.feed).toBe("listening");
    expect(direct.sent.filter(isOneTripPull).some((q) => /\nEXECUTE em_/.test(q))).toBe(true);
    if (!hasPgBouncer) return;
    const bouncer = await startPgBouncer({ upstreamPort: cluster.port, user: "postgres", password: PG_PASSWORD, poolMode: "transaction" });
    try {
      const pooled = await loneCommit(bouncer.url(new URL(pg.url).pathname.slice(1)));
      expect(pooled.feed).not.toBe("listening");
      expect(pooled.sent.filter(isOneTripPull).length).toBeGreaterThan(0);
      expect(pooled.sent.filter((q) => /PREPARE |EXECUTE em_/.test(q))).toEqual([]);
    } finally {
      await bouncer.stop();
    }
  });
});
