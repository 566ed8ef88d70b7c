import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { seedMemories, memoryCount } from "./support/seed.ts";
import { installObjects } from "../src/services/masterObjects.ts";

describe("snapshot and incremental pull", () => {
  test("A new replica copies every master row and then receives inserts, updates and deletes through NOTIFY.", async ({ pg, replica }) => {
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    await pg.sql("TRUNCATE unified_ai_memory");
    await seedMemories(pg, 250, { embeddingDim: 8 });
    await eventually(() => expect(m.stats().total_memories).toBe(250));
    const [row] = await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory ORDER BY id LIMIT 1");
    await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"changed\"}' WHERE id = $1", [row!.id]);
    await eventually(() => {
      const local = m["store"]!.db.prepare("SELECT content FROM unified_ai_memory WHERE id = ?").get(row!.id) as { content: string };
      expect(JSON.parse(local.content)).toEqual({ text: "changed" });
    });
    await pg.sql("DELETE FROM unified_ai_memory WHERE id = $1", [row!.id]);
    await eventually(() => expect(m.stats().total_memories).toBe(249));
    const report = await m.verify();
    expect(report).toMatchObject({ identical: true, master_count: 249, replica_count: 249 });
    expect(await memoryCount(pg)).toBe(249);
  });
});
