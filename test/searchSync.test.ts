import { randomUUID } from "node:crypto";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";
import { startFakeOpenAi } from "./support/fakeOpenAi.ts";
import { runCli } from "./support/cli.ts";

const vec = (dim: number, hot: number) => Array.from({ length: dim }, (_, i) => (i === hot ? 1 : 0.01));

describe("search over a synced replica", () => {
  test("A row updated or deleted on the master changes full-text and vector results right after the sync applies it.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const id = randomUUID();
    await pg.sql("INSERT INTO unified_ai_memory (id, memory_type, content, embedding) VALUES ($1, 'semantic', '{\"text\":\"quokka sighting\"}', $2::real[])", [id, vec(8, 1)]);
    await pg.sql("INSERT INTO unified_ai_memory (memory_type, content, embedding) VALUES ('semantic', '{\"text\":\"other\"}', $1::real[])", [vec(8, 5)]);
    await eventually(async () => expect((await m.search({ query: "quokka" })).results.map((r) => r.id)).toEqual([id]));
    expect((await m.search({ embedding: vec(8, 1), limit: 1 })).results[0]!.id).toBe(id);

    await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"wombat sighting\"}', embedding = $2::real[] WHERE id = $1", [id, vec(8, 6)]);
    await eventually(async () => expect((await m.search({ query: "wombat" })).results.map((r) => r.id)).toEqual([id]));
    expect((await m.search({ query: "quokka" })).results).toEqual([]);
    const byVector = await m.search({ embedding: vec(8, 6), limit: 1 });
    expect(byVector).toMatchObject({ search_method: "vector", results: [{ id }] });

    await pg.sql("DELETE FROM unified_ai_memory WHERE id = $1", [id]);
    await eventually(async () => expect((await m.search({ query: "wombat" })).results).toEqual([]));
    expect((await m.search({ embedding: vec(8, 6), limit: 5 })).results.map((r) => r.id)).not.toContain(id);
  });

  test("With an OpenAI-compatible provider, rows that arrive without a vector are embedded locally, the query is embedded the same way, and a transient 500 is retried.", async ({ pg, replica }) => {
    await installMaster(pg);
    const fake = await startFakeOpenAi(16);
    try {
      await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) SELECT 'episodic', jsonb_build_object('text', 'note ' || i || ' about ' || (ARRAY['kayaks','volcanoes','violins'])[1 + i % 3]) FROM generate_series(1, 60) i");
      const m = replica({ embeddingProvider: "openai", embeddingBaseUrl: fake.baseUrl, embeddingModel: "fake-embed", embeddingApiKey: "sk-test-secret-123" });
      fake.failNext(1, 500);
      await m.start();
      await eventually(async () => {
        const local = m._db().prepare("SELECT count(*) FROM local_embeddings WHERE model = 'fake-embed'").pluck().get();
        expect(local).toBe(60);
      });
      expect(fake.calls.every((c) => c.authorization === "Bearer sk-test-secret-123" && c.model === "fake-embed")).toBe(true);
      expect(fake.calls.length).toBeGreaterThanOrEqual(3); // one failed, then batches
      expect(fake.calls.map((c) => c.status).slice(0, 2)).toEqual([500, 200]); // the 500 was served, and retried
      const r = await m.search({ query: "volcanoes", limit: 5 }, { method: "vector" });
      expect(r.search_method).toBe("vector");
      expect(r.results).toHaveLength(5);
      expect(r.results.every((x) => JSON.stringify(x.content).includes("volcanoes"))).toBe(true);
      const hybrid = await m.search({ query: "violins" });
      expect(hybrid.search_method).toBe("hybrid");
      expect(m.stats().embeddings).toMatchObject({ provider: "openai", dim: 16, model: "fake-embed", indexed: 60 });
      // A row updated on the master loses its stale local vector and gets a new one.
      await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"now about kayaks only\"}' WHERE content->>'text' = 'note 2 about violins'");
      await eventually(async () => expect((await m.search({ query: "kayaks only" })).results[0]?.content).toEqual({ text: "now about kayaks only" }));
      await eventually(() => expect(m._db().prepare("SELECT count(*) FROM local_embeddings").pluck().get()).toBe(60));
    } finally {
      await fake.close();
    }
  });

  test("The CLI searches the local file without a master, with filters and JSON output.", async ({ pg, replica, tmp }) => {
    await installMaster(pg);
    await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) VALUES ('procedural', '{\"text\":\"how to brew tea\"}'), ('episodic', '{\"text\":\"tea with grandma\"}')");
    const file = path.join(tmp, "cli-search.db");
    const m = replica({ localPath: file });
    await m.syncOnce();
    await m.stop();
    const r = await runCli(["search", "tea", "--type", "procedural", "--json"], { EMBEDDED_MEMORY_PATH: file });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { results: { content: { text: string } }[]; search_method: string };
    expect(body.results.map((x) => x.content.text)).toEqual(["how to brew tea"]);
    const human = await runCli(["search", "tea", "--limit", "1"], { EMBEDDED_MEMORY_PATH: file });
    expect(human.stdout).toMatch(/^1 result \(fts\)/);
    expect((await runCli(["search", "tea", "--limit", "lots"], { EMBEDDED_MEMORY_PATH: file })).code).toBe(2);
  });
});
