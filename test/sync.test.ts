import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories, memoryCount } from "./support/seed.ts";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { float4ArraySendToBlob, rowTypes } from "../src/master/rowTypes.ts";
import { isOneTripPull, pullStatements, queriesDuring } from "./support/queries.ts";

const localIds = (m: EmbeddedMemory): Set<string> =>
  new Set((m._db().prepare("SELECT id FROM unified_ai_memory").all() as { id: string }[]).map((r) => r.id));
const localRow = (m: EmbeddedMemory, id: string) => m._db().prepare("SELECT * FROM unified_ai_memory WHERE id = ?").get(id) as Record<string, unknown> | undefined;

async function insertOne(pg: { sql: (t: string, v?: unknown[]) => Promise<unknown[]> }, fields: { tenant?: string | null; text?: string; expires?: string } = {}): Promise<string> {
  const id = randomUUID();
  await pg.sql(
    `INSERT INTO unified_ai_memory (id, memory_type, content, tenant_id, expires_at) VALUES ($1, 'semantic', jsonb_build_object('text', $2::text), $3, $4)`,
    [id, fields.text ?? "hello", fields.tenant ?? null, fields.expires ?? null],
  );
  return id;
}

describe("snapshot and incremental pull", () => {
  test("A new replica copies every master row and then receives inserts, updates and deletes through NOTIFY.", async ({ pg, replica }) => {
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await seedMemories(pg, 250, { embeddingDim: 8 });
    await eventually(() => expect(m.stats().total_memories).toBe(250));
    const [row] = await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory ORDER BY id LIMIT 1");
    await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"changed\"}', importance_score = 0.25 WHERE id = $1", [row!.id]);
    await eventually(() => expect(JSON.parse(localRow(m, row!.id)!.content as string)).toEqual({ text: "changed" }));
    expect(localRow(m, row!.id)!.importance_score).toBe(0.25);
    await pg.sql("DELETE FROM unified_ai_memory WHERE id = $1", [row!.id]);
    await eventually(() => expect(m.stats().total_memories).toBe(249));
    expect(await m.verify()).toMatchObject({ identical: true, master_count: 249, replica_count: 249 });
  });

  test("Embeddings arrive as float32 little-endian BLOBs with every value intact.", async ({ pg, replica }) => {
    await installMaster(pg);
    const id = randomUUID();
    const vec = [0.5, -1.25, 3e-5, 1024.5];
    await pg.sql("INSERT INTO unified_ai_memory (id, memory_type, content, embedding) VALUES ($1, 'semantic', '{\"text\":\"v\"}', $2::real[])", [id, vec]);
    const m = replica();
    await m.syncOnce();
    const blob = localRow(m, id)!.embedding as Buffer;
    expect(blob.length).toBe(16);
    expect(Array.from(new Float32Array(blob.buffer, blob.byteOffset, 4))).toEqual(vec.map((v) => Math.fround(v)));
  });

  test("Embeddings travel in Postgres's binary array format and decode like their text form, NULL elements, empty and 2-D arrays included.", async ({ pg }) => {
    const client = await pg.client();
    try {
      const cases = ["{0.5,-1.25,3e-05,1024.5}", "{}", "{1,NULL,-0,Infinity,-Infinity,NaN}", "{{1,2},{3,4}}", "{3.4028235e+38,1.4e-45}"];
      for (const c of cases) {
        const { rows } = await client.query({ text: "SELECT array_send($1::real[]) AS bin, $1::real[] AS txt", values: [c], types: rowTypes });
        const bin = rows[0].bin as Buffer;
        const txt = rows[0].txt as Buffer;
        const floats = (b: Buffer) => Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
        if (c.startsWith("{{")) expect(floats(bin), c).toEqual([1, 2, 3, 4]); // the text parser does not flatten; binary does
        else expect(floats(bin), c).toEqual(floats(txt));
        expect(bin.length % 4, c).toBe(0);
      }
      // Other bytea is refused, never stored as if it were a vector.
      await expect(client.query({ text: "SELECT '\\x0102ff'::bytea AS b", types: rowTypes })).rejects.toThrow(/not one real\[\]/);
      const ints = (await client.query("SELECT array_send('{1,2}'::int4[]) AS b")).rows[0].b as Buffer;
      const good = (await client.query("SELECT array_send('{1,2,3}'::real[]) AS b")).rows[0].b as Buffer;
      expect(float4ArraySendToBlob(ints)).toBeUndefined();
      expect(float4ArraySendToBlob(good)).toBeDefined();
      // Truncated, trailing bytes, a negative or absurd dimension: undefined, no throw, no huge allocation.
      expect(float4ArraySendToBlob(good.subarray(0, good.length - 2))).toBeUndefined();
      expect(float4ArraySendToBlob(Buffer.concat([good, Buffer.from([0])]))).toBeUndefined();
      const withDim = (n: number) => Buffer.concat([good.subarray(0, 12), Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]), good.subarray(16)]);
      expect(float4ArraySendToBlob(withDim(-1))).toBeUndefined();
      expect(float4ArraySendToBlob(withDim(0x7fffffff))).toBeUndefined();
      expect(float4ArraySendToBlob(withDim(3))).toBeDefined();
    } finally {
      await client.end();
    }
  });

  test("A tenant-filtered replica holds only its tenant's and shared rows, and loses rows that move away, expire or are archived.", async ({ pg, replica }) => {
    await installMaster(pg);
    const [t1, t2] = [randomUUID(), randomUUID()];
    await seedMemories(pg, 40, { tenantId: t1 });
    await seedMemories(pg, 40, { tenantId: t2 });
    const shared = await insertOne(pg, { tenant: null });
    const m = replica({ tenantId: t1 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const allowed = async () => new Set((await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory WHERE (tenant_id = $1 OR tenant_id IS NULL) AND NOT archived AND (expires_at IS NULL OR expires_at > now())", [t1])).map((r) => r.id));
    expect(localIds(m)).toEqual(await allowed());
    expect(localIds(m).has(shared)).toBe(true);

    const picked = (await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory WHERE tenant_id = $1 ORDER BY id LIMIT 3", [t1])).map((r) => r.id);
    expect(picked).toHaveLength(3); // else the "gone" checks below would pass on undefined ids
    const [moving, expiring, archiving] = picked;
    const incoming = (await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory WHERE tenant_id = $1 LIMIT 1", [t2]))[0]!.id;
    await pg.sql("UPDATE unified_ai_memory SET tenant_id = $2 WHERE id = $1", [moving, t2]);
    await pg.sql("UPDATE unified_ai_memory SET expires_at = now() - interval '1 second' WHERE id = $1", [expiring]);
    await pg.sql("UPDATE unified_ai_memory SET archived = true WHERE id = $1", [archiving]);
    await pg.sql("UPDATE unified_ai_memory SET tenant_id = $2 WHERE id = $1", [incoming, t1]);
    await eventually(async () => expect(localIds(m)).toEqual(await allowed()));
    for (const gone of [moving, expiring, archiving]) expect(localIds(m).has(gone!)).toBe(false);
    expect(localIds(m).has(incoming)).toBe(true);
    const foreign = m._db().prepare("SELECT count(*) AS n FROM unified_ai_memory WHERE tenant_id IS NOT NULL AND tenant_id <> ?").get(t1) as { n: number };
    expect(foreign.n).toBe(0);
    expect((await m.verify()).identical).toBe(true);
  });

  test("A row whose expires_at passes with no change on the master is swept from the replica at the next pull.", async ({ pg, replica }) => {
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const id = await insertOne(pg, { expires: new Date(Date.now() + 1500).toISOString() });
    await eventually(() => expect(localRow(m, id)).toBeDefined());
    // The expiry time itself must pass on the master's clock; nothing else changes.
    await eventually(async () => expect((await pg.sql<{ past: boolean }>("SELECT expires_at <= now() AS past FROM unified_ai_memory WHERE id = $1", [id]))[0]!.past).toBe(true), 5_000, 50);
    const r = await m.forceSync();
    expect(r.success).toBe(true);
    expect(localRow(m, id)).toBeUndefined();
  });

  test("A new master epoch makes the replica copy the table anew, dropping rows that vanished without a changelog entry.", async ({ pg, replica }) => {
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const id = await insertOne(pg);
    await eventually(() => expect(localRow(m, id)).toBeDefined());
    // Deleted behind the triggers' back (as a restore or a replication-role session would).
    const c = await pg.client();
    await c.query("SET session_replication_role = replica");
    await c.query("DELETE FROM unified_ai_memory WHERE id = $1", [id]);
    await c.query("UPDATE embedded_memory.meta SET value = gen_random_uuid()::text WHERE key = 'epoch'");
    await c.end();
    const before = m.stats().cursor.epoch;
    await m.forceSync();
    await eventually(() => expect(m.state()).toBe("idle"));
    expect(m.stats().cursor.epoch).not.toBe(before);
    expect(localRow(m, id)).toBeUndefined();
    expect((await m.verify()).identical).toBe(true);
  });

  test("A replica whose cursor predates pruned changelog rows copies the table anew instead of missing a delete.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const keep = await insertOne(pg, { text: "kept" });
    const doomed = await insertOne(pg, { text: "doomed" });
    await m.syncOnce();
    expect(localRow(m, doomed)).toBeDefined();
    // While this replica is away, the row is deleted and the changelog entry saying so is pruned.
    await pg.sql("DELETE FROM unified_ai_memory WHERE id = $1", [doomed]);
    await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '10 days'");
    const pruned = await pg.sql<{ removed: string }>("SELECT embedded_memory.prune_changes(interval '1 day') AS removed");
    expect(Number(pruned[0]!.removed)).toBeGreaterThan(0);
    const r = await m.syncOnce();
    expect(r.total_memories).toBe(await memoryCount(pg, "NOT archived AND (expires_at IS NULL OR expires_at > now())"));
    expect(localRow(m, doomed)).toBeUndefined();
    expect(localRow(m, keep)).toBeDefined();
    expect((await m.verify()).identical).toBe(true);
  });

  test("The replica prunes the master changelog by its retention after a pull, keeping recent rows.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica({ changelogRetentionMs: 3_600_000 });
    await insertOne(pg);
    await m.syncOnce();
    await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '2 hours'");
    const fresh = await insertOne(pg);
    await replica({ changelogRetentionMs: 3_600_000 }).syncOnce(); // a new process: pruning is due at its first pull
    const left = await pg.sql<{ row_id: string }>("SELECT row_id FROM embedded_memory.changes");
    expect(left.map((r) => r.row_id)).toEqual([fresh]);
    const horizon = await pg.sql<{ value: string }>("SELECT value FROM embedded_memory.meta WHERE key = 'pruned_xid'");
    expect(BigInt(horizon[0]!.value)).toBeGreaterThan(0n);
  });

  test("TRUNCATE on the master empties the replica through a new epoch.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    await seedMemories(pg, 20);
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    expect(m.stats().total_memories).toBeGreaterThan(0);
    await pg.sql("TRUNCATE unified_ai_memory");
    await eventually(() => expect(m.stats().total_memories).toBe(0));
    expect(await memoryCount(pg)).toBe(0);
  });
});

describe("master tables of other shapes", () => {
  test("A schema-qualified table with text content and double precision[] embeddings replicates, and its extra columns are left alone.", async ({ pg, replica }) => {
    await pg.sql(`CREATE SCHEMA IF NOT EXISTS agents;
      CREATE TABLE agents.memories (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), memory_type text NOT NULL, content text NOT NULL,
        importance_score double precision, embedding double precision[], created_at timestamptz DEFAULT now(), private_note text)`);
    await pg.sql("INSERT INTO agents.memories (memory_type, content, importance_score, embedding, private_note) SELECT 'episodic', 'plain text ' || i, 0.5, ARRAY[i, 0.5], 'x' FROM generate_series(1, 30) i");
    const m = replica({ memoryTable: "agents.memories" });
    await m.syncOnce();
    expect(m.stats().total_memories).toBe(30);
    const cols = (await pg.sql<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = 'agents' AND table_name = 'memories' ORDER BY ordinal_position")).map((r) => r.column_name);
    expect(cols).toEqual(["id", "memory_type", "content", "importance_score", "embedding", "created_at", "private_note"]);
    const one = m._db().prepare("SELECT content, embedding FROM unified_ai_memory LIMIT 1").get() as { content: string; embedding: Buffer };
    expect(one.content).toMatch(/^plain text \d+$/);
    expect(one.embedding.length).toBe(8);
    await pg.sql("UPDATE agents.memories SET content = 'edited' WHERE content = 'plain text 7'");
    await m.syncOnce();
    expect((await m.verify()).identical).toBe(true);
  });
});

describe("pull round trips", () => {
  test("A write transaction left open on the master shows its age in the metrics while it is open, and 0 once none is.", async ({ pg: master, replica }) => {
    await installMaster(master);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const oldest = async () => (await m.metrics.oldestOpenXact.get()).values[0]?.value;
    const holder = await master.client();
    try {
      await holder.query("BEGIN");
      await holder.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES (gen_random_uuid(), 'semantic', '{\"text\": \"held\"}')");
      await insertOne(master, { text: "a commit that wakes the replica" });
      await eventually(async () => expect(await oldest()).toBeGreaterThan(0));
      await holder.query("COMMIT");
      await eventually(() => expect(m.stats().total_memories).toBe(2));
      await insertOne(master, { text: "one more, with nothing open" });
      await eventually(async () => expect([m.stats().total_memories, await oldest()]).toEqual([3, 0]));
    } finally {
      await holder.end();
    }
  });

  test("A lone commit reaches the replica in one round trip to the master, and changes past a batch or columns the master changed take the streamed pull.", async ({ pg: master, replica }) => {
    await installMaster(master);
    await seedMemories(master, 5, { embeddingDim: 8 });
    const m = replica({ pullBatchRows: 4 });
    await m.start();
    await eventually(() => expect([m.state(), m.stats().total_memories]).toEqual(["idle", 5]));
    const idle = () => eventually(() => expect(m.state()).toBe("idle"));

    const writer = await master.client();
    try {
      const lone = await queriesDuring(async () => {
        await writer.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES (gen_random_uuid(), 'semantic', '{\"text\": \"lone\"}')");
        await eventually(() => expect(m.stats().total_memories).toBe(6));
        await idle();
      });
      const pulls = pullStatements(lone);
      expect(pulls).toHaveLength(1);
      // One script: BEGIN … COMMIT around the changes, bounded at a batch + 1 (the PREPARE that
      // first sent it on this connection says so; the batch bound itself is tested just below).
      expect(isOneTripPull(pulls[0]!) && /\bCOMMIT$/.test(pulls[0]!)).toBe(true);

      // Six changes, a batch of four: the one-trip read sees five, so the streamed pull reads them in batches.
      const burst = await queriesDuring(async () => {
        await writer.query("INSERT INTO unified_ai_memory (id, memory_type, content) SELECT gen_random_uuid(), 'semantic', jsonb_build_object('text', 'burst ' || i) FROM generate_series(1, 6) i");
        await eventually(() => expect(m.stats().total_memories).toBe(12));
        await idle();
      });
      expect(burst.filter((q) => q.startsWith("FETCH 4 FROM embedded_memory_pull"))).toHaveLength(2);

      // A column the replica does not read, added on the master: the signature differs, the streamed pull rebuilds the queries.
      await writer.query("ALTER TABLE unified_ai_memory ADD COLUMN ignored_here text");
      const drift = await queriesDuring(async () => {
        await writer.query("UPDATE unified_ai_memory SET importance_score = 0.75 WHERE content->>'text' = 'lone'");
        await eventually(() => expect(m._db().prepare("SELECT importance_score FROM unified_ai_memory WHERE json_extract(content, '$.text') = 'lone'").pluck().get()).toBe(0.75));
        await idle();
      });
      expect(drift.some((q) => q.startsWith("DECLARE embedded_memory_pull"))).toBe(true);
      expect((await m.verify()).identical).toBe(true);
    } finally {
      await writer.end();
    }
  });
});
