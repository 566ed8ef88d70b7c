import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import type { TestPostgres } from "./support/postgres.ts";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { installStatements, MASTER_SCHEMA_VERSION } from "../src/master/installSql.ts";
import { memoryTableDescriptor } from "../src/schema/tableDescriptor.ts";

/** The capture function as versions before counters-only changes installed it (schema version 1). */
const LEGACY_CAPTURE = `CREATE OR REPLACE FUNCTION embedded_memory."capture_public__unified_ai_memory"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO embedded_memory.changes (table_name, row_id, op, tenant_id)
      VALUES ('public.unified_ai_memory', OLD."id"::text, left(TG_OP, 1), OLD."tenant_id"::text);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW."id" IS DISTINCT FROM OLD."id"
      OR NEW."tenant_id"::text IS DISTINCT FROM OLD."tenant_id"::text)) THEN
    INSERT INTO embedded_memory.changes (table_name, row_id, op, tenant_id)
      VALUES ('public.unified_ai_memory', NEW."id"::text, left(TG_OP, 1), NEW."tenant_id"::text);
  END IF;
  RETURN NULL;
END $fn$`;

/** A master as an earlier version left it: the old trigger function and schema version 1. */
async function installLegacyMaster(pg: TestPostgres): Promise<void> {
  await installMaster(pg);
  await pg.sql(LEGACY_CAPTURE);
  await pg.sql("UPDATE embedded_memory.meta SET value = '1' WHERE key = 'schema_version'");
}

const captureVersion = async (pg: TestPostgres) =>
  (await pg.sql<{ v: string | null }>(`SELECT substring(prosrc from 'embedded-memory capture v([0-9]+)') AS v FROM pg_proc WHERE proname = 'capture_public__unified_ai_memory'`))[0]!.v;
const schemaVersion = async (pg: TestPostgres) => (await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'schema_version'"))[0]!.value;

const bytesPulled = async (m: EmbeddedMemory) => (await m.metrics.bytesPulled.get()).values[0]?.value ?? 0;

/**
 * Counts, on this replica's own connection, every local write of a row's content or
 * embedding: a counters-only change must not make any.
 */
function watchRowRewrites(m: EmbeddedMemory): () => number {
  const db = m._db();
  db.exec(`CREATE TEMP TABLE rewrites (id TEXT);
    CREATE TEMP TRIGGER count_rewrites AFTER UPDATE OF content, embedding ON main.unified_ai_memory BEGIN INSERT INTO rewrites VALUES (new.id); END;`);
  return () => db.prepare("SELECT count(*) FROM temp.rewrites").pluck().get() as number;
}

type Counts = Map<string, { n: number; at: number | null }>;
const masterCounts = async (pg: TestPostgres): Promise<Counts> =>
  new Map(
    (await pg.sql<{ id: string; n: number; at: Date | null }>("SELECT id::text, access_count AS n, last_accessed AS at FROM unified_ai_memory")).map((r) => [r.id, { n: r.n, at: r.at ? r.at.getTime() : null }]),
  );
const localCounts = (m: EmbeddedMemory): Counts =>
  new Map(
    (m._db().prepare("SELECT id, access_count AS n, last_accessed AS at FROM unified_ai_memory").all() as { id: string; n: number; at: string | null }[]).map((r) => [
      r.id,
      { n: r.n, at: r.at ? Math.floor(Date.parse(r.at)) : null },
    ]),
  );
const masterTotal = async (pg: TestPostgres) => Number((await pg.sql<{ n: string }>("SELECT coalesce(sum(access_count), 0) AS n FROM unified_ai_memory"))[0]!.n);

const TOPICS = ["cats", "dogs", "rust", "postgres", "sqlite"];

/** 100 searches on `m`, each counting its results as reads; returns how many results they returned. */
async function hundredSearches(m: EmbeddedMemory): Promise<number> {
  let results = 0;
  for (let i = 0; i < 100; i++) results += (await m.search({ query: `${TOPICS[i % TOPICS.length]} number`, limit: 10 })).results.length;
  return results;
}

/**
 * Waits until the master holds `total` reads and every replica holds exactly the master's
 * counts, then until each is idle: a pull's rows are visible in the file before the pull ends
 * and its bytes are counted, so the metrics are read only once it has.
 */
async function converged(pg: TestPostgres, total: number, ...replicas: EmbeddedMemory[]): Promise<void> {
  await eventually(async () => expect(await masterTotal(pg)).toBe(total));
  const want = await masterCounts(pg);
  for (const m of replicas) await eventually(() => expect(localCounts(m)).toEqual(want));
  for (const m of replicas) await eventually(() => expect(m.state()).toBe("idle"));
}

async function twoReplicas(replica: (o?: Record<string, unknown>) => EmbeddedMemory, o: Record<string, unknown> = {}) {
  // Searches do not wake the uploader (their reads wait for the next upload round): make rounds short.
  const a = replica({ uploadIntervalMs: 100, ...o });
  const b = replica(o);
  await Promise.all([a.start(), b.start()]);
  await eventually(() => expect([a.state(), b.state(), a.stats().total_memories, b.stats().total_memories]).toEqual(["idle", "idle", 200, 200]));
  return { a, b };
}

describe("read counts travel as counters-only changes", () => {
  test("Searches on one replica reach the other as two-column updates: no content or embedding is pulled again, and the master adds exactly the results returned.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 200, { embeddingDim: 1536 });
    const { a, b } = await twoReplicas(replica);
    const rewrites = watchRowRewrites(b);
    const contentBefore = b._db().prepare("SELECT id, content, updated_at, embedding FROM unified_ai_memory ORDER BY id").all();
    const before = await bytesPulled(b);

    const returned = await hundredSearches(a);
    expect(returned).toBeGreaterThan(500);
    await converged(pg, returned, a, b);

    const pulled = (await bytesPulled(b)) - before;
    if (process.env.COUNTERS_REPORT) console.info(`counters path: replica B pulled ${pulled} bytes for 100 searches on A (${returned} results)`);
    // Each counters-only row is its key twice, two counters and a flag: well under 300 bytes,
    // where a whole row is its ~6 KB embedding and its text.
    expect(pulled).toBeLessThan(returned * 300);
    expect(rewrites()).toBe(0);
    expect(b._db().prepare("SELECT id, content, updated_at, embedding FROM unified_ai_memory ORDER BY id").all()).toEqual(contentBefore);
    const ops = await pg.sql<{ op: string; n: number }>("SELECT op::text, count(*)::int AS n FROM embedded_memory.changes WHERE op <> 'I' GROUP BY op");
    expect(ops).toEqual([{ op: "c", n: expect.any(Number) }]);
    expect((await b.verify()).identical).toBe(true);
  });

  test("A master changelog installed by an earlier version keeps working with whole rows, and once migrated reads travel as counters, mixed changes of a row coming whole.", async ({ pg, replica }) => {
    await installLegacyMaster(pg);
    await seedMemories(pg, 200, { embeddingDim: 1536 });
    // AUTO_MIGRATE off: the replicas sync against the old objects as they are.
    const { a, b } = await twoReplicas(replica, { autoMigrate: false });
    expect(await captureVersion(pg)).toBeNull();
    const rewrites = watchRowRewrites(b);

    let before = await bytesPulled(b);
    const legacyReturned = await hundredSearches(a);
    await converged(pg, legacyReturned, a, b);
    const legacyBytes = (await bytesPulled(b)) - before;
    const touched = Number((await pg.sql<{ n: string }>("SELECT count(*) AS n FROM unified_ai_memory WHERE access_count > 0"))[0]!.n);
    // The fault, seen: every read row comes again with its 1536 × 4-byte embedding.
    expect(legacyBytes).toBeGreaterThan(touched * 6144);
    expect(rewrites()).toBeGreaterThan(0);

    // `migrate` (the same statements) replaces the trigger function in place.
    await pg.sql(["BEGIN", ...installStatements(memoryTableDescriptor("unified_ai_memory"), undefined), "COMMIT"].join(";\n"));
    expect([await captureVersion(pg), await schemaVersion(pg)]).toEqual([MASTER_SCHEMA_VERSION, MASTER_SCHEMA_VERSION]);

    // One transaction: row X is read and rewritten, row Y only read.
    const [x, y] = (await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory ORDER BY id LIMIT 2")).map((r) => r.id);
    await pg.sql(`BEGIN;
      UPDATE unified_ai_memory SET access_count = access_count + 1 WHERE id IN ('${x}', '${y}');
      UPDATE unified_ai_memory SET content = '{"text": "rewritten"}', updated_at = now() WHERE id = '${x}';
      COMMIT`);
    await eventually(() => expect(JSON.parse(b._db().prepare("SELECT content FROM unified_ai_memory WHERE id = ?").pluck().get(x) as string)).toEqual({ text: "rewritten" }));
    await converged(pg, legacyReturned + 2, a, b);

    const rewritesBefore = rewrites();
    before = await bytesPulled(b);
    const returned = await hundredSearches(a);
    await converged(pg, legacyReturned + 2 + returned, a, b);
    const countersBytes = (await bytesPulled(b)) - before;
    if (process.env.COUNTERS_REPORT) {
      console.info(`legacy path: replica B pulled ${legacyBytes} bytes for 100 searches on A (${legacyReturned} results, ${touched} rows read)`);
      console.info(`counters path: replica B pulled ${countersBytes} bytes for 100 searches on A (${returned} results)`);
    }
    expect(countersBytes).toBeLessThan(returned * 300);
    expect(countersBytes * 20).toBeLessThan(legacyBytes);
    expect(rewrites()).toBe(rewritesBefore);
  });

  test("A counters-only change of a row the replica lacks fetches that row whole, and one with a pending local write is left to the upload.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 3, { embeddingDim: 8 });
    const m = replica();
    await m.start();
    await eventually(() => expect([m.state(), m.stats().total_memories]).toEqual(["idle", 3]));
    const [lost, mine] = (await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory ORDER BY id LIMIT 2")).map((r) => r.id);
    m._db().prepare("DELETE FROM unified_ai_memory WHERE id = ?").run(lost); // as if a change had been missed
    // Uploads wait on this lock (their receipt insert), pulls do not.
    const blocker = await pg.client();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE");
    try {
      await m.store({ id: mine!, content: "edited here" });
      await eventually(() => expect(m.uploadState()).toBe("uploading"));
      await pg.sql("UPDATE unified_ai_memory SET access_count = access_count + 5 WHERE id = ANY($1::uuid[])", [[lost, mine]]);
      expect((await m.forceSync()).success).toBe(true);
      expect(m._db().prepare("SELECT access_count FROM unified_ai_memory WHERE id = ?").pluck().get(lost)).toBe(5);
      expect((await m.get(lost!))?.has_embedding).toBe(true);
      // The pending write is left as written: the pull did not touch it.
      expect(await m.get(mine!)).toMatchObject({ content: { text: "edited here" }, access_count: 0, pending: true });
    } finally {
      await blocker.query("COMMIT");
      await blocker.end();
    }
    // Once its upload settles, the row takes the master's state, counts included.
    await eventually(async () => expect(await m.get(mine!)).toMatchObject({ content: { text: "edited here" }, access_count: 5, pending: false }));
    expect((await m.verify()).identical).toBe(true);
  });

  test("AUTO_MIGRATE upgrades an earlier version's trigger at connect, and a replica that may not migrate still syncs.", async ({ pg, replica }) => {
    await installLegacyMaster(pg);
    await seedMemories(pg, 5);
    const old = replica({ autoMigrate: false });
    expect((await old.syncOnce()).total_memories).toBe(5);
    expect(await captureVersion(pg)).toBeNull();
    const epoch = (await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'epoch'"))[0]!.value;

    const m = replica();
    expect((await m.syncOnce()).total_memories).toBe(5);
    expect([await captureVersion(pg), await schemaVersion(pg)]).toEqual([MASTER_SCHEMA_VERSION, MASTER_SCHEMA_VERSION]);
    // An upgrade, not a reinstall: replicas keep their copies.
    expect((await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'epoch'"))[0]!.value).toBe(epoch);
    const printed = installStatements(memoryTableDescriptor("unified_ai_memory"), undefined).join("\n");
    expect(printed).toContain(`embedded-memory capture v${MASTER_SCHEMA_VERSION}`);
    expect(printed).toContain(`UPDATE embedded_memory.meta SET value = '${MASTER_SCHEMA_VERSION}'`);
  });

  test("Reads counted across several failed uploads reach the master as one delta per row in one statement, and the total stays exact.", async ({ pg, replica }) => {
    await installMaster(pg);
    const id = randomUUID();
    await pg.sql("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', '{\"text\":\"counted\"}')", [id]);
    const m = replica({ statementTimeoutMs: 400 });
    await m.syncOnce();
    // Uploads wait on this lock (their receipt insert) and time out; each attempt collects the reads so far.
    const blocker = await pg.client();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE");
    try {
      for (const reads of [2, 3, 4]) {
        await m.recordAccess(Array.from({ length: reads }, () => id));
        await expect(m.syncOnce()).rejects.toThrow();
      }
      expect(m.stats().outbox.pending).toBe(3); // three access entries of one row
    } finally {
      await blocker.query("COMMIT");
      await blocker.end();
    }
    const changesBefore = Number((await pg.sql<{ n: string }>("SELECT count(*) AS n FROM embedded_memory.changes WHERE row_id = $1", [id]))[0]!.n);
    expect((await m.syncOnce()).uploaded).toBe(3);
    expect((await pg.sql<{ n: number }>("SELECT access_count AS n FROM unified_ai_memory WHERE id = $1", [id]))[0]!.n).toBe(9);
    // One UPDATE of the row (one changelog entry, counters-only), not one per entry.
    expect(await pg.sql("SELECT op::text FROM embedded_memory.changes WHERE row_id = $1 ORDER BY seq OFFSET $2", [id, changesBefore])).toEqual([{ op: "c" }]);
    await m.syncOnce();
    expect(localCounts(m).get(id)?.n).toBe(9);
  });
});
