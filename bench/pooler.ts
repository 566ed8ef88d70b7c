/**
 * Commit → visible behind PgBouncer, same run, three ways a replica reaches one master:
 *   direct              DATABASE_URL straight to Postgres (LISTEN works)
 *   pooled only         DATABASE_URL through PgBouncer in transaction mode, nothing else:
 *                       LISTEN delivers nothing, the feed says `unavailable`, pulls poll
 *                       every POLL_INTERVAL_MS
 *   pooled + listener   DATABASE_URL through PgBouncer, LISTEN_DATABASE_URL direct
 * Every replica runs with the shipped defaults (SYNC_INTERVAL_MS, POLL_INTERVAL_MS 2000,
 * LISTEN_HEARTBEAT_MS, NOTIFY_TIMEOUT_MS). Single-row INSERT commits on the master from a
 * direct connection, one at a time, each after a random pause of up to POLL_INTERVAL_MS (so
 * commits fall at every phase of the poll, not right after it); for each, the time from the
 * commit returning to the row being readable in the replica's file (a separate read-only
 * SQLite connection polled on every event-loop turn).
 *
 *   BENCH_POOLER_COMMITS=25   measured commits per setup (after 3 warm-up commits)
 *   BENCH_OUT=path            default bench/results/pooler.json
 *
 * Needs Debian's pgbouncer (/usr/sbin/pgbouncer). Run: node bin/run-ts.js bench/pooler.ts
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { makeConfig, type Config } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { createTestDatabase, createTestPostgres, PG_PASSWORD, type TestPostgres } from "../test/support/postgres.ts";
import { startPgBouncer, type PgBouncer } from "../test/support/pgbouncer.ts";
import { benchSession, distribution, envInt, immediate, machineInfo, round, table, waitFor, type Distribution } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = {
  commits: envInt("BENCH_POOLER_COMMITS", 25),
  warmup: 3,
  /** Per commit: past this it counts as a timeout (well above SYNC_INTERVAL_MS). */
  timeoutMs: 45_000,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "pooler.json"),
};

type Setup = "direct" | "pooled only" | "pooled + listener";

interface SetupResult {
  readonly setup: Setup;
  readonly changeFeed: { state: string; reason: string | null };
  readonly visibleMs: Distribution;
  readonly timeouts: number;
  readonly pulls: number;
  readonly wallMs: number;
}

const INSERT_SQL = `INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'semantic', jsonb_build_object('text', $2::text))`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(setup: Setup, db: TestPostgres, bouncer: PgBouncer, dir: string, say: (s: string) => void): Promise<SetupResult> {
  const pooled = bouncer.url(new URL(db.url).pathname.slice(1));
  const urls: Partial<Config> =
    setup === "direct" ? { databaseUrl: db.url } : setup === "pooled only" ? { databaseUrl: pooled } : { databaseUrl: pooled, listenDatabaseUrl: db.url };
  const localPath = path.join(dir, `${setup.replace(/\W+/g, "-")}.db`);
  const config = makeConfig({ localPath, logLevel: "silent", ...urls });
  const m = new EmbeddedMemory(config, { logger: createLogger({ level: "silent" }) });
  let reader: Database.Database | undefined;
  const writer = await db.client();
  try {
    await m.start();
    await waitFor(`${setup}: the first copy`, () => m.state() === "idle", 60_000);
    // The feed's self-test decides within NOTIFY_TIMEOUT_MS of connecting.
    await waitFor(`${setup}: the change feed's self-test`, () => m.stats().change_feed.state !== "connecting", config.notifyTimeoutMs + 10_000).catch(() => undefined);
    const feed = m.stats().change_feed;
    say(`${setup}: change_feed ${feed.state}${feed.reason ? ` (${feed.reason})` : ""}`);
    reader = new Database(localPath, { readonly: true, fileMustExist: true });
    const visible = reader.prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").pluck();
    const visibleMs: number[] = [];
    let timeouts = 0;
    let pullsBefore = 0;
    const started = performance.now();
    for (let i = 0; i < opts.warmup + opts.commits; i++) {
      if (i === opts.warmup) pullsBefore = m.stats().sync_metadata.total_pulls;
      await sleep(Math.random() * config.pollIntervalMs);
      const id = randomUUID();
      await writer.query(INSERT_SQL, [id, `pooler bench ${i}`]);
      const t0 = performance.now();
      let seen = false;
      while (performance.now() - t0 < opts.timeoutMs) {
        if (visible.get(id) !== undefined) {
          seen = true;
          break;
        }
        await immediate();
      }
      if (i < opts.warmup) continue;
      if (seen) visibleMs.push(performance.now() - t0);
      else timeouts++;
    }
    const result = {
      setup,
      changeFeed: { state: feed.state, reason: feed.reason },
      visibleMs: distribution(visibleMs),
      timeouts,
      pulls: m.stats().sync_metadata.total_pulls - pullsBefore,
      wallMs: round(performance.now() - started, 1),
    };
    say(`  p50 ${result.visibleMs.p50} ms, p99 ${result.visibleMs.p99} ms, ${timeouts} timeouts, ${result.pulls} pulls`);
    return result;
  } finally {
    reader?.close();
    await writer.end().catch(() => undefined);
    await m.stop();
  }
}

async function main(): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let cluster: TestPostgres | undefined;
  let bouncer: PgBouncer | undefined;
  const session = benchSession("em-bench-pooler-", say, async () => {
    await bouncer?.stop();
    await cluster?.destroy();
  });
  try {
    cluster = await createTestPostgres();
    bouncer = await startPgBouncer({ upstreamPort: cluster.port, user: "postgres", password: PG_PASSWORD, poolMode: "transaction" });
    const mode = (await bouncer.admin<{ key: string; value: string }>("SHOW CONFIG")).find((r) => r.key === "pool_mode")?.value;
    const version = (await bouncer.admin<{ version: string }>("SHOW VERSION"))[0]?.version;
    say(`Postgres on ${cluster.port}, ${version} on ${bouncer.port} (pool_mode=${mode}); ${opts.commits} commits per setup`);
    const results: SetupResult[] = [];
    for (const setup of ["direct", "pooled only", "pooled + listener"] as Setup[]) {
      const db = await createTestDatabase(cluster);
      try {
        results.push(await measure(setup, db, bouncer, session.dir, say));
      } finally {
        await db.destroy();
      }
    }
    console.log(
      `\ncommit → visible, ${opts.commits} commits per setup, PgBouncer pool_mode=${mode}, defaults (POLL_INTERVAL_MS 2000)\n` +
        table(
          ["setup", "change_feed", "p50 ms", "p90 ms", "p99 ms", "max ms", "timeouts", "pulls"],
          results.map((r) => [r.setup, r.changeFeed.state, r.visibleMs.p50, r.visibleMs.p90, r.visibleMs.p99, r.visibleMs.max, r.timeouts, r.pulls]),
        ),
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(
      opts.out,
      JSON.stringify(
        {
          benchmark: "commit → visible: direct vs PgBouncer transaction pooling (pooled only) vs pooled + direct LISTEN_DATABASE_URL",
          options: opts,
          pgbouncer: { version, poolMode: mode },
          results,
          machine: machineInfo(session.loadAtStart, session.git),
        },
        null,
        2,
      ),
    );
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
