import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";

const masterRow = async (pg: { sql: <R>(t: string, v?: unknown[]) => Promise<R[]> }, id: string) =>
  (await pg.sql<Record<string, unknown>>("SELECT *, content::text AS content_text, pg_typeof(content)::text AS content_type FROM unified_ai_memory WHERE id = $1", [id]))[0];
const localContent = (m: EmbeddedMemory, id: string) => m._db().prepare("SELECT content FROM unified_ai_memory WHERE id = ?").pluck().get(id) as string | undefined;

describe("local writes reach the master", () => {
  test("A stored memory is readable and searchable at once, then arrives on the master with the types the master requires.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica({ uploadIntervalMs: 3_600_000 });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const tenant = randomUUID();
    const stored = await m.store({ content: "the kettle is broken", memory_type: "episodic", importance_score: 0.8, source_agent: "agent-7", tags: ["home", "repair"], metadata: { room: "kitchen" }, tenant_id: tenant, embedding: [0.5, -0.5, 1] });
    expect(stored).toMatchObject({ content: { text: "the kettle is broken" }, memory_type: "episodic", source_system: "embedded-memory", created_by: "agent-7", pending: true });
    expect((await m.get(stored.id))?.id).toBe(stored.id);
    expect((await m.search({ query: "kettle" }, { trackAccess: false })).results.map((r) => r.id)).toEqual([stored.id]);

    const row = await eventually(async () => {
      const r = await masterRow(pg, stored.id);
      expect(r).toBeDefined();
      return r!;
    });
    expect(row).toMatchObject({ memory_type: "episodic", content_type: "jsonb", source_agent: "agent-7", source_system: "embedded-memory", created_by: "agent-7", tags: ["home", "repair"], metadata: { room: "kitchen" }, tenant_id: tenant, embedding: [0.5, -0.5, 1] });
    expect(JSON.parse(row.content_text as string)).toEqual({ text: "the kettle is broken" });
    expect(row.importance_score).toBeCloseTo(0.8, 5);
    expect((row.created_at as Date).getTime()).toBeGreaterThan(Date.now() - 60_000);
    await eventually(() => expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 0 }));
    expect((await m.get(stored.id))?.pending).toBe(false);

    const updated = await m.store({ id: stored.id, content: { text: "kettle fixed", by: "me" } });
    expect(updated.tags).toEqual(["home", "repair"]); // fields not given keep their values
    await eventually(async () => expect(JSON.parse((await masterRow(pg, stored.id))!.content_text as string)).toEqual({ text: "kettle fixed", by: "me" }));
    expect(await m.remove(stored.id)).toBe(true);
    expect(await m.get(stored.id)).toBeUndefined();
    expect(await m.remove(stored.id)).toBe(false);
    await eventually(async () => expect(await masterRow(pg, stored.id)).toBeUndefined());
    expect((await m.verify()).identical).toBe(true);
  });

  test("With DELETE_MODE=soft a local delete expires the master row instead of deleting it.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica({ deleteMode: "soft" });
    const { id } = await m.store({ content: "temporary" });
    await m.syncOnce();
    expect(await masterRow(pg, id)).toBeDefined();
    await m.remove(id);
    await m.syncOnce();
    const row = await masterRow(pg, id);
    expect((row!.expires_at as Date).getTime()).toBeLessThanOrEqual(Date.now());
    expect(await m.get(id)).toBeUndefined();
  });

  test("A pull that races a pending local write does not erase it; once the upload settles, the newer master version wins.", async ({ pg, replica }) => {
    await installMaster(pg);
    const id = randomUUID();
    await pg.sql("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', '{\"text\":\"A\"}')", [id]);
    const m = replica();
    await m.start();
    await eventually(() => expect(localContent(m, id)).toBe('{"text": "A"}'));
    // Uploads wait on this lock (their receipt insert), pulls do not.
    const blocker = await pg.client();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE");
    try {
      await m.store({ id, content: "B" });
      await eventually(() => expect(m.uploadState()).toBe("uploading"));
      await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"C\"}', updated_at = now() + interval '1 minute' WHERE id = $1", [id]);
      const r = await m.forceSync();
      expect(r.success).toBe(true);
      expect(localContent(m, id)).toBe('{"text":"B"}'); // the pull saw C and left the pending write alone
    } finally {
      await blocker.query("COMMIT");
      await blocker.end();
    }
    await eventually(() => expect(JSON.parse(localContent(m, id)!)).toEqual({ text: "C" }));
    expect(JSON.parse((await masterRow(pg, id))!.content_text as string)).toEqual({ text: "C" });
    expect(m.stats().outbox.pending).toBe(0);
  });

  test("Two replicas writing the same id converge to the last writer's row, and both replicas' access counts add up on the master.", async ({ pg, replica }) => {
    await installMaster(pg);
    const a = replica();
    const b = replica();
    await Promise.all([a.start(), b.start()]);
    await eventually(() => expect([a.state(), b.state()]).toEqual(["idle", "idle"]));
    const id = randomUUID();
    const fromA = await a.store({ id, content: "from A", importance_score: 0.1 });
    // B writes later: B is the last writer once the (millisecond) clock has moved past A's write.
    expect(fromA.updated_at).toEqual(expect.any(String));
    await eventually(() => expect(Date.now()).toBeGreaterThan(Date.parse(fromA.updated_at!)), 1_000, 1);
    await b.store({ id, content: "from B", importance_score: 0.9 });
    await eventually(async () => {
      const row = await masterRow(pg, id);
      expect(JSON.parse(row!.content_text as string)).toEqual({ text: "from B" });
      expect(JSON.parse(localContent(a, id)!)).toEqual({ text: "from B" });
      expect(JSON.parse(localContent(b, id)!)).toEqual({ text: "from B" });
    });
    await a.recordAccess([id, id, id]);
    await b.recordAccess([id, id, id, id, id]);
    await a.search({ query: "from" }); // a search counts too
    await eventually(async () => expect((await masterRow(pg, id))!.access_count).toBe(9));
    await eventually(() => expect(a._db().prepare("SELECT access_count FROM unified_ai_memory WHERE id = ?").pluck().get(id)).toBe(9));
  });

  test("A write the master refuses is parked with its reason, its local row takes the master's state again, and later writes still arrive.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql("ALTER TABLE unified_ai_memory ADD CONSTRAINT no_poison CHECK (content->>'text' IS DISTINCT FROM 'poison')");
    try {
      const m = replica();
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));
      const poison = await m.store({ content: "poison" });
      const good = await Promise.all(["one", "two", "three"].map((t) => m.store({ content: t })));
      await eventually(async () => {
        const n = await pg.sql<{ n: string }>("SELECT count(*) AS n FROM unified_ai_memory WHERE id = ANY($1::uuid[])", [good.map((g) => g.id)]);
        expect(Number(n[0]!.n)).toBe(3);
        expect(m.stats().outbox).toMatchObject({ pending: 0, parked: 1, last_error: expect.stringMatching(/no_poison/) });
      });
      expect(await masterRow(pg, poison.id)).toBeUndefined();
      expect(await m.get(poison.id)).toBeUndefined();
      const parked = m._db().prepare("SELECT memory_id, last_error FROM outbox WHERE parked_at IS NOT NULL").get() as { memory_id: string; last_error: string };
      expect(parked.memory_id).toBe(poison.id);
      const after = await m.store({ content: "four" });
      await eventually(async () => expect(await masterRow(pg, after.id)).toBeDefined());
    } finally {
      await pg.sql("ALTER TABLE unified_ai_memory DROP CONSTRAINT no_poison");
    }
  });
});
