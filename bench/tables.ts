/**
 * What further tables (REPLICATE_TABLES) cost a pull: commit → visible for memory commits on a
 * replica that replicates the memory table alone, then 1 and then 3 further tables (1,000 rows
 * each, filtered), interleaved over several rounds in one run so the machine's noise falls on
 * every setup alike; reported as medians over rounds and as ratios to the memory-only baseline.
 * Each pull reads every further table's changes in its transaction, so each adds round trips.
 * Lone commits (the next waits until the replica is idle again): with further tables a memory
 * row is visible before its pull ends, and a writer committing on visibility would be paced as
 * a burst (machines/pacing.ts) — that measures the pacing, not the tables.
 *
 *   BENCH_TABLES_COMMITS=150   measured commits per setup and round (after 10 warm-up commits)
 *   BENCH_TABLES_ROUNDS=3      rounds (each runs the three setups)
 *   BENCH_OUT=path             default bench/results/tables.json
 *
 * Run: BENCH_ONLY=tables npm run bench
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster } from "../test/support/seed.ts";
import { measureCommitLatency, type LatencyResult } from "./latency.ts";
import { benchSession, envInt, machineInfo, median, round, table } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = {
  commits: envInt("BENCH_TABLES_COMMITS", 150),
  warmup: 10,
  rounds: envInt("BENCH_TABLES_ROUNDS", 3),
  rowsPerTable: 1_000,
  timeoutMs: 5_000,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "tables.json"),
};
const SETUPS = [0, 1, 3] as const;
const tableName = (i: number) => `bench_tasks_${i}`;

async function seedTables(db: TestPostgres): Promise<void> {
  await installMaster(db);
  for (let i = 1; i <= 3; i++) {
    await db.sql(`CREATE TABLE ${tableName(i)} (id bigint PRIMARY KEY, title text NOT NULL, status text NOT NULL, priority int NOT NULL)`);
    await db.sql(`CREATE INDEX ON ${tableName(i)} (status)`);
    await db.sql(`INSERT INTO ${tableName(i)} SELECT g, 'task ' || g, (ARRAY['pending','done'])[1 + g % 2], g % 5 FROM generate_series(1, ${opts.rowsPerTable}) g`);
  }
}

async function main(): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let cluster: TestPostgres | undefined;
  const session = benchSession("em-bench-tables-", say, async () => {
    await cluster?.destroy();
  });
  try {
    cluster = await createTestPostgres();
    const db = await createTestDatabase(cluster);
    await seedTables(db);
    say(`further tables: ${opts.rounds} rounds × setups ${SETUPS.join(", ")} further tables, ${opts.commits} memory commits each`);
    const runs: { tables: number; round: number; result: LatencyResult }[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      for (const n of SETUPS) {
        const replicatedTables = Array.from({ length: n }, (_, i) => ({ name: tableName(i + 1), filter: "status = 'pending'" }));
        say(`  round ${r + 1}, ${n} further table(s)…`);
        const result = await measureCommitLatency(db, session.dir, { commits: opts.commits, warmup: opts.warmup, timeoutMs: opts.timeoutMs, embeddingDim: 8, replicatedTables, fileName: `r${r}-t${n}.db`, idleBetween: true }, say);
        runs.push({ tables: n, round: r, result });
      }
    }
    const summary = SETUPS.map((n) => {
      const mine = runs.filter((x) => x.tables === n).map((x) => x.result);
      // One commit's whole cycle: the commit, its pull to the end (every table), back to idle.
      const cycleMs = median(mine.map((x) => x.wallMs / (x.commits + x.warmupCommits)));
      return { tables: n, p50Ms: median(mine.map((x) => x.visibleMs.p50)), p99Ms: median(mine.map((x) => x.visibleMs.p99)), cycleMs, timeouts: mine.reduce((a, x) => a + x.timeouts, 0) };
    });
    const base = summary[0]!;
    const rows = summary.map((s) => [s.tables, round(s.p50Ms, 3), round(s.p99Ms, 3), round(s.p50Ms / base.p50Ms, 2), round(s.p99Ms / base.p99Ms, 2), round(s.cycleMs, 2), round(s.cycleMs / base.cycleMs, 2), s.timeouts]);
    console.log(
      `\ncommit → visible of memory commits, by further tables replicated (median over ${opts.rounds} rounds; ratios to memory-only in the same run)\n` +
        table(["further tables", "visible p50 ms", "p99 ms", "p50 ratio", "p99 ratio", "cycle ms", "cycle ratio", "timeouts"], rows),
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, JSON.stringify({ benchmark: "commit → visible by further tables replicated", options: opts, summary, runs, machine: machineInfo(session.loadAtStart, session.git) }, null, 2));
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
