import { randomUUID } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories, memoryCount } from "./support/seed.ts";
import type { TestPostgres } from "./support/postgres.ts";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import type { SearchResponse } from "../src/search/Search.ts";
import { pruneChangesSql } from "../src/master/installSql.ts";

const LIVE = "NOT archived AND (expires_at IS NULL OR expires_at > now())";

async function insertText(pg: TestPostgres, text: string): Promise<string> {
  const id = randomUUID();
  await pg.sql(`INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', jsonb_build_object('text', $2::text))`, [id, text]);
  return id;
}

/** Every changelog row made older than the retention, then pruned: a replica away meanwhile has an expired cursor. */
async function pruneEverything(pg: TestPostgres): Promise<void> {
  await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '10 days'");
  const [r] = await pg.sql<{ removed: string | null }>("SELECT embedded_memory.prune_changes(interval '1 day') AS removed");
  expect(Number(r!.removed)).toBeGreaterThan(0);
}

const hits = async (m: EmbeddedMemory, query: string) => m.search({ query }, { trackAccess: false });

/** A replica that copied the table, went away, and comes back (as a new process) to a master that changed and pruned. */
async function awayPastRetention(pg: TestPostgres, replica: (o?: object) => EmbeddedMemory, tmp: string) {
  await installMaster(pg);
  await seedMemories(pg, 200, { embeddingDim: 8 });
  const doomed = await insertText(pg, "the zebra paddock gate");
  const localPath = path.join(tmp, "away.db");
  const first = replica({ localPath });
  await first.syncOnce();
  await first.stop();
  // While it is away: a delete, an update and an insert on the master, and the changelog pruned.
  await pg.sql("DELETE FROM unified_ai_memory WHERE id = $1 OR id = (SELECT id FROM unified_ai_memory WHERE embedding IS NOT NULL ORDER BY id LIMIT 1)", [doomed]);
  await pg.sql("UPDATE unified_ai_memory SET importance_score = 0.99 WHERE id IN (SELECT id FROM unified_ai_memory ORDER BY id LIMIT 5)");
  const arrival = await insertText(pg, "a new arrival while away");
  await pruneEverything(pg);
  const m = replica({ localPath, snapshotChunkRows: 25 });
  // Local writes made before it reaches the master again: pending in its outbox. The victim is
  // a row the replica holds (the new arrival, whose random id may sort last, it does not).
  const [victim] = await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory WHERE id <> $1 ORDER BY id DESC LIMIT 1", [arrival]);
  const written = await m.store({ content: "written while offline about a heron" });
  expect(await m.remove(victim!.id)).toBe(true);
  return { m, localPath, doomed, written, victim: victim!.id };
}

describe("retention that never loses a delete", () => {
  test("A replica away past retention re-copies into a new file while searches answer from the old copy (stale), then swaps it in identical, and its pending writes reach the master.", async ({ pg, replica, tmp }) => {
    const { m, localPath, doomed, written, victim } = await awayPastRetention(pg, replica, tmp);
    const inodeBefore = statSync(localPath).ino;
    const probe = { query: "cats", embedding: [1, 0, 0, 0, 0, 0, 0, 0] };
    await m.search(probe, { trackAccess: false }); // the vector index, built from the old file
    const vectorsBefore = m.stats().embeddings.indexed;
    const during: { stale: boolean; vectors: number; total: number; pending: number; recopyFile: boolean }[] = [];
    const searches: Promise<SearchResponse>[] = [];
    const r = await m.syncOnce({
      onProgress: () => {
        const s = m.stats();
        during.push({ stale: s.stale, vectors: s.embeddings.indexed, total: s.total_memories, pending: s.outbox.pending, recopyFile: existsSync(`${localPath}.recopy`) });
        searches.push(hits(m, "zebra paddock"));
      },
    });
    expect(during.length).toBeGreaterThan(3);
    for (const d of during) {
      // The old copy, whole: the row deleted on the master is still there until the swap.
      expect(d).toMatchObject({ stale: true, total: 201, pending: 2, recopyFile: true });
      expect(d.vectors).toBe(vectorsBefore);
    }
    // A search started between two chunks of the copy is answered at once, from the old file
    // (the one started after the last chunk may run after the swap).
    const answered = await Promise.all(searches);
    for (const res of answered.slice(0, -1)) {
      expect(res).toMatchObject({ stale: true, complete: true });
      expect(res.results.map((x) => x.id)).toEqual([doomed]);
    }
    expect(existsSync(`${localPath}.recopy`)).toBe(false);
    expect(statSync(localPath).ino).not.toBe(inodeBefore);
    expect(m.stats()).toMatchObject({ stale: false, snapshot: { complete: true }, outbox: { pending: 0, parked: 0 } });
    expect(r.uploaded).toBe(2);
    expect((await hits(m, "zebra paddock")).results).toHaveLength(0);
    // The vector index was rebuilt from the new file: the row deleted on the master is gone from it.
    await m.search(probe, { trackAccess: false });
    expect(m.stats().embeddings.indexed).toBe(await memoryCount(pg, "embedding IS NOT NULL"));
    expect(m.stats().embeddings.indexed).toBeLessThan(vectorsBefore);
    expect((await hits(m, "heron")).results.map((x) => x.id)).toEqual([written.id]);
    // The pending writes reached the master: the insert is there, the deleted row is not.
    expect(await memoryCount(pg, `id = '${written.id}'`)).toBe(1);
    expect(await memoryCount(pg, `id = '${victim}'`)).toBe(0);
    expect(await memoryCount(pg, `id = '${doomed}'`)).toBe(0);
    expect(await m.verify()).toMatchObject({ identical: true, master_count: await memoryCount(pg, LIVE) });
  });

  test("A re-copy interrupted half way resumes in its file at the next start, with the pending writes kept.", async ({ pg, replica, tmp }) => {
    const { m, localPath, written } = await awayPastRetention(pg, replica, tmp);
    let chunks = 0;
    await expect(
      m.syncOnce({
        onProgress: () => {
          if (++chunks === 3) throw new Error("the process dies here");
        },
      }),
    ).rejects.toThrow();
    await m.stop();
    expect(existsSync(`${localPath}.recopy`)).toBe(true);
    const again = replica({ localPath, snapshotChunkRows: 25 });
    let firstResumed: number | undefined;
    await again.syncOnce({ onProgress: (rows) => (firstResumed ??= rows) });
    // It went on from the chunks already copied rather than from the first row.
    expect(firstResumed).toBeGreaterThan(25);
    expect(existsSync(`${localPath}.recopy`)).toBe(false);
    expect(again.stats()).toMatchObject({ stale: false, outbox: { pending: 0 } });
    expect(await memoryCount(pg, `id = '${written.id}'`)).toBe(1);
    expect((await again.verify()).identical).toBe(true);
  });

  test("A running replica that was away past retention re-copies under its sync machine, answering searches throughout, and then follows the master again.", async ({ pg, replica, tmp }) => {
    const { m, written, localPath } = await awayPastRetention(pg, replica, tmp);
    const inodeBefore = statSync(localPath).ino;
    await m.start();
    const staleSeen: boolean[] = [];
    const deadline = Date.now() + 20_000;
    // Every search from the start to the end of the re-copy answers (from whichever file is in place).
    while (!(m.state() === "idle" && !m.stats().stale)) {
      const res = await hits(m, "memory");
      expect(res.results.length).toBeGreaterThan(0);
      staleSeen.push(res.stale);
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(staleSeen.length).toBeGreaterThan(0);
    expect(statSync(localPath).ino).not.toBe(inodeBefore);
    await eventually(async () => expect(await memoryCount(pg, `id = '${written.id}'`)).toBe(1));
    const later = await insertText(pg, "an ibis after the swap");
    await eventually(async () => expect((await hits(m, "ibis")).results.map((x) => x.id)).toEqual([later]));
    await eventually(async () => expect(m.stats().outbox.pending).toBe(0));
    expect((await m.verify()).identical).toBe(true);
  });

  test("Prunes from many sessions at once run one at a time: the others return at once, and the horizon and its time are recorded.", async ({ pg }) => {
    await installMaster(pg);
    await seedMemories(pg, 10);
    await pg.sql("UPDATE embedded_memory.changes SET changed_at = now() - interval '10 days'");
    const [a, b] = [await pg.client(), await pg.client()];
    try {
      await a.query("BEGIN");
      const first = await a.query<{ removed: string | null }>(pruneChangesSql, [86_400]);
      expect(Number(first.rows[0]!.removed)).toBe(10);
      // While the first prune's transaction is open, a second neither waits nor fails.
      const second = await b.query<{ removed: string | null }>(pruneChangesSql, [86_400]);
      expect(second.rows[0]!.removed).toBeNull();
      const direct = await b.query<{ removed: string | null }>("SELECT embedded_memory.prune_changes(interval '1 day') AS removed");
      expect(direct.rows[0]!.removed).toBeNull();
      await a.query("COMMIT");
      const again = await b.query<{ removed: string | null }>(pruneChangesSql, [86_400]);
      expect(again.rows[0]!.removed).toBe("0");
    } finally {
      await a.end();
      await b.end();
    }
    const meta = await pg.sql<{ key: string; value: string }>("SELECT key, value FROM embedded_memory.meta WHERE key IN ('pruned_xid', 'pruned_at') ORDER BY key");
    expect(meta.map((r) => r.key)).toEqual(["pruned_at", "pruned_xid"]);
    expect(BigInt(meta[1]!.value)).toBeGreaterThan(0n);
    expect(Date.now() - new Date(meta[0]!.value).getTime()).toBeLessThan(60_000);
  });
});
