/**
 * Schema drift as a state: a master column the replica needs that disappears or changes to a
 * type it cannot read is `backoff` with an error naming it (warned once, not per retry), and
 * the replica recovers by itself when the table is fixed; columns it knows that the master
 * gains are filled in without a new copy; columns it does not know are ignored.
 */
import { Writable } from "node:stream";
import path from "node:path";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { seedMemories } from "./support/seed.ts";
import type { TestPostgres } from "./support/postgres.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";

type Line = { level: number; module?: string; msg?: string; to?: string; lastError?: string };

/** A replica whose log lines (debug and up) are kept for counting. */
function capturedReplica(pg: TestPostgres, tmp: string) {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  // Short backoff: many retries happen while the table is broken, so a log storm would show.
  const config = makeConfig({ databaseUrl: pg.url, localPath: path.join(tmp, "replica.db"), syncIntervalMs: 3_600_000, logLevel: "debug", backoffBaseMs: 20, backoffMaxMs: 100 });
  const m = new EmbeddedMemory(config, { logger: createLogger({ level: "debug", destination }) });
  const backoffs = (level: "warn" | "debug") => lines.filter((l) => l.module === "sync" && l.to === "backoff" && l.level === (level === "warn" ? 40 : 20));
  return { m, lines, backoffs };
}

const firstId = async (pg: TestPostgres) => (await pg.sql<{ id: string }>("SELECT id::text FROM unified_ai_memory ORDER BY id LIMIT 1"))[0]!.id;
const localRow = (m: EmbeddedMemory, id: string) => m._db().prepare("SELECT * FROM unified_ai_memory WHERE id = ?").get(id) as Record<string, unknown> | undefined;

describe("a required column that disappears or changes type", () => {
  test("A dropped importance_score is backoff naming it, warned once however often retried; local search still answers; restoring it recovers without a restart.", async ({ pg, tmp }) => {
    const { m, backoffs } = capturedReplica(pg, tmp);
    try {
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));
      await seedMemories(pg, 40);
      await eventually(() => expect(m.stats().total_memories).toBe(40));

      await pg.sql("ALTER TABLE unified_ai_memory DROP COLUMN importance_score");
      const id = await firstId(pg);
      // A change wakes the replica; its pull meets the missing column.
      await pg.sql("UPDATE unified_ai_memory SET content = '{\"text\":\"edited while broken\"}' WHERE id = $1", [id]);
      await eventually(() => expect(m.stats().last_error).toMatch(/master table unified_ai_memory has no column importance_score \(real or double precision expected\): restore it/));
      expect(m.stats().last_error).toMatch(/resumes without a restart/);
      // Many retries, one warning.
      await eventually(() => expect(backoffs("debug").length).toBeGreaterThanOrEqual(5));
      expect(["backoff", "awaitingPool"]).toContain(m.state());
      expect(backoffs("warn")).toHaveLength(1);
      expect(backoffs("warn")[0]!.lastError).toMatch(/importance_score/);
      const found = await m.search({ query: "cats" });
      expect(found.results.length).toBeGreaterThan(0);

      // Rows written meanwhile arrive once the column is back (the restored values included).
      await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) VALUES ('semantic', '{\"text\":\"added while broken\"}')");
      await pg.sql("ALTER TABLE unified_ai_memory ADD COLUMN importance_score real DEFAULT 0.5");
      await eventually(() => expect(m.state()).toBe("idle"));
      await eventually(() => expect(m.stats().total_memories).toBe(41));
      expect(JSON.parse(localRow(m, id)!.content as string)).toEqual({ text: "edited while broken" });
      expect(localRow(m, id)!.importance_score).toBe(0.5);
      expect(m.stats().last_error).toBeNull();
      // The search above counted its results: those reads reach the master by upload and come back
      // by a pull, maybe after this point.
      await eventually(async () => expect(await m.verify()).toMatchObject({ identical: true }));
    } finally {
      await m.stop();
    }
  });

  test("An embedding retyped to text is backoff naming the column and the types expected; retyping it back recovers.", async ({ pg, tmp }) => {
    const { m, backoffs } = capturedReplica(pg, tmp);
    try {
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));
      await seedMemories(pg, 10, { embeddingDim: 4 });
      await eventually(() => expect(m.stats().total_memories).toBe(10));

      await pg.sql("ALTER TABLE unified_ai_memory ALTER COLUMN embedding TYPE text USING embedding::text");
      await pg.sql("UPDATE unified_ai_memory SET memory_type = 'working' WHERE id = $1", [await firstId(pg)]);
      await eventually(() =>
        expect(m.stats().last_error).toMatch(/column embedding is of type text \(vector, halfvec, real\[\] or double precision\[\] expected\): change it back .*, or drop it/),
      );
      await eventually(() => expect(backoffs("debug").length).toBeGreaterThanOrEqual(3));
      expect(backoffs("warn")).toHaveLength(1);

      await pg.sql("ALTER TABLE unified_ai_memory ALTER COLUMN embedding TYPE real[] USING embedding::real[]");
      await eventually(() => expect(m.state()).toBe("idle"));
      expect(await m.verify()).toMatchObject({ identical: true });
    } finally {
      await m.stop();
    }
  });
});

describe("columns the master gains or loses", () => {
  test("A known column the master gains is filled in without a new copy, an unknown one is ignored, and an optional one dropped leaves sync running.", async ({ pg, tmp }) => {
    // The reference table as an older deployment had it: no search_text yet.
    await pg.sql(`CREATE TABLE unified_ai_memory (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(), memory_type text NOT NULL, content jsonb NOT NULL, source_agent text,
      importance_score real DEFAULT 0.5, tags text[] NOT NULL DEFAULT '{}', tenant_id uuid, embedding real[],
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);
    await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) SELECT 'semantic', jsonb_build_object('text', 'old ' || i) FROM generate_series(1, 30) i");
    const { m, lines } = capturedReplica(pg, tmp);
    try {
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));
      expect(m.stats().total_memories).toBe(30);
      const copies = () => lines.filter((l) => l.msg === "snapshot started").length;
      expect(copies()).toBe(1);

      await pg.sql("ALTER TABLE unified_ai_memory ADD COLUMN search_text text DEFAULT 'filled later', ADD COLUMN mood text DEFAULT 'calm'");
      await pg.sql("INSERT INTO unified_ai_memory (memory_type, content, search_text) VALUES ('semantic', '{\"text\":\"new\"}', 'fresh')");
      await eventually(() => expect(m.stats().total_memories).toBe(31));
      await eventually(() => {
        const texts = m._db().prepare("SELECT search_text AS s, count(*) AS n FROM unified_ai_memory GROUP BY s ORDER BY s").all();
        expect(texts).toEqual([{ s: "filled later", n: 30 }, { s: "fresh", n: 1 }]);
      });
      await eventually(() => expect(m.state()).toBe("idle")); // the fill-in runs at a pull's end
      expect(copies()).toBe(1);
      const localColumns = (m._db().prepare("SELECT name FROM pragma_table_info('unified_ai_memory')").all() as { name: string }[]).map((c) => c.name);
      expect(localColumns).not.toContain("mood");
      expect(await m.verify()).toMatchObject({ identical: true });

      await pg.sql("ALTER TABLE unified_ai_memory DROP COLUMN tags");
      await pg.sql("INSERT INTO unified_ai_memory (memory_type, content) VALUES ('semantic', '{\"text\":\"after tags went\"}')");
      await eventually(() => expect(m.stats().total_memories).toBe(32));
      expect(m.state()).not.toBe("backoff");
      expect(m.stats().last_error).toBeNull();
      expect(copies()).toBe(1);
    } finally {
      await m.stop();
    }
  });

  test("A known column the master gains while the first copy runs is filled in on every row once the copy is done.", async ({ pg, replica }) => {
    await pg.sql(`CREATE TABLE unified_ai_memory (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(), memory_type text NOT NULL, content jsonb NOT NULL,
      importance_score real DEFAULT 0.5, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);
    // Many small chunks, and the ALTER on a connection opened beforehand: it lands a chunk or
    // a few after the first however loaded the machine (a fresh connection once came too late).
    const ROWS = 400;
    await pg.sql(`INSERT INTO unified_ai_memory (memory_type, content) SELECT 'semantic', jsonb_build_object('text', 'row ' || i) FROM generate_series(1, ${ROWS}) i`);
    const m = replica({ snapshotChunkRows: 2 });
    const alterer = await pg.client();
    try {
      let altered: Promise<unknown> | undefined;
      let alteredAt = -1;
      let copied = 0;
      await m.syncOnce({
        onProgress: (rows) => {
          copied = rows;
          // After the first chunk: the copy's later chunks queue behind the ALTER's lock.
          altered ??= alterer.query("ALTER TABLE unified_ai_memory ADD COLUMN search_text text DEFAULT 'added mid-copy'").then(() => (alteredAt = copied));
        },
      });
      await altered;
      expect(alteredAt).toBeGreaterThan(0);
      expect(alteredAt).toBeLessThan(ROWS); // the column arrived while the copy ran
    } finally {
      await alterer.end();
    }
    await m.syncOnce();
    expect(m._db().prepare("SELECT search_text AS s, count(*) AS n FROM unified_ai_memory GROUP BY s").all()).toEqual([{ s: "added mid-copy", n: ROWS }]);
    expect(await m.verify()).toMatchObject({ identical: true, master_count: ROWS });
  });
});
