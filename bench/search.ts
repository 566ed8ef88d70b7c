/**
 * Search benchmark (`BENCH_ONLY=search npm run bench`, or `node bin/run-ts.js bench/search.ts`):
 * local search on the replica against the master Postgres answering the same queries, on
 * an embedded Postgres started (and destroyed) here. Prints tables; writes
 * bench/results/search.json.
 *
 * 1. Corpus (bench/searchData.ts): clustered vectors, Zipf texts with rare, topic and common
 *    terms, inserted on the master; the replica is built with `syncOnce()`.
 * 2. Library search in-process (bench/searchLibrary.ts), per query class (trackAccess off;
 *    the classes in bench/searchClasses.ts): FTS rare term, FTS two common terms, vector KNN
 *    (recall@10 against an exact scan done here, bench/searchGroundTruth.ts), hybrid.
 * 3. The same over HTTP on loopback (POST /memory/search, API key; bench/searchHttp.ts),
 *    paired with in-process calls doing the same work, to isolate the cost HTTP adds.
 * 4. The master answering the same queries (bench/searchMaster.ts: GIN full-text index,
 *    ts_rank; brute-force cosine over real[]), directly on loopback and through a TCP proxy
 *    adding 5 ms each way.
 * 5. Index build cost: snapshot throughput of the replica with and without FTS maintenance
 *    against the bare pipeline of bench/snapshot.ts (each run in a fresh process), and the
 *    vector index build time.
 *
 * This file reads the options and runs the parts in order; bench/searchReport.ts turns their
 * results into the printed tables and the JSON.
 *
 * Environment (all optional):
 *   BENCH_SEARCH_SMALL=1            a small run (5k rows, fewer queries; ~30 s)
 *   BENCH_SEARCH_ROWS=100000        corpus rows
 *   BENCH_SEARCH_DIM=384            embedding dimensions
 *   BENCH_SEARCH_CLUSTERS=1000      vector clusters (centroids)
 *   BENCH_SEARCH_QUERIES=300        measured in-process queries per class
 *   BENCH_SEARCH_WARMUP=30          unmeasured queries before each class
 *   BENCH_SEARCH_RECALL=200         vector queries whose recall@10 is checked by exact scan
 *   BENCH_SEARCH_HTTP_QUERIES=200   measured HTTP queries per class and client
 *   BENCH_SEARCH_PG_QUERIES=200     measured master FTS queries per class and path
 *   BENCH_SEARCH_PG_VECTOR_REPS=4   measured master vector/hybrid queries per class and path (~5 s each at 100k)
 *   BENCH_SEARCH_DELAY_MS=5         one-way delay of the proxy
 *   BENCH_SEARCH_SNAPSHOT_RUNS=1    snapshot runs of each kind (bare, replica, replica-nofts)
 *   BENCH_SEARCH_PARTS=library,http,master,snapshot   which parts run
 *   BENCH_SEARCH_SEED=42            corpus/query seed
 *   BENCH_SEARCH_OUT=path           where the JSON goes (default bench/results/search.json)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { CLASSES, CLASS_INFO, httpBody, libraryRequest, queryOf } from "./searchClasses.ts";
import { Corpus, makeQueries, seedCorpus } from "./searchData.ts";
import { runHttpPart, type HttpPart } from "./searchHttp.ts";
import { measureIndexBuild, runLibraryPart, type IndexBuild, type LibraryPart } from "./searchLibrary.ts";
import { closeMasterHandles, masterHandles, prepareMaster, runMasterPart, type MasterPart } from "./searchMaster.ts";
import { searchReport } from "./searchReport.ts";
import { masterColumns, runSnapshotInChild, type SnapshotRun, type SnapshotVariant } from "./snapshot.ts";
import { fullGc, median, round, sampleMemory, benchSession, fileMB, envInt } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);

const PARTS = ["library", "http", "master", "snapshot"] as const;
type Part = (typeof PARTS)[number];

export function searchOptions() {
  const small = ["1", "true", "yes"].includes((process.env.BENCH_SEARCH_SMALL ?? "").trim().toLowerCase());
  const parts = (process.env.BENCH_SEARCH_PARTS?.trim() || PARTS.join(",")).split(",").map((p) => p.trim()) as Part[];
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`BENCH_SEARCH_PARTS: unknown part ${p} (known: ${PARTS.join(", ")})`);
  return {
    small,
    rows: envInt("BENCH_SEARCH_ROWS", small ? 5_000 : 100_000),
    dim: envInt("BENCH_SEARCH_DIM", 384),
    clusters: envInt("BENCH_SEARCH_CLUSTERS", small ? 100 : 1_000),
    queries: envInt("BENCH_SEARCH_QUERIES", small ? 60 : 300),
    warmup: envInt("BENCH_SEARCH_WARMUP", small ? 5 : 30, 0),
    recallQueries: envInt("BENCH_SEARCH_RECALL", small ? 30 : 200),
    httpQueries: envInt("BENCH_SEARCH_HTTP_QUERIES", small ? 60 : 200),
    pgQueries: envInt("BENCH_SEARCH_PG_QUERIES", small ? 30 : 200),
    pgVectorReps: envInt("BENCH_SEARCH_PG_VECTOR_REPS", small ? 2 : 4),
    delayMs: envInt("BENCH_SEARCH_DELAY_MS", 5, 0),
    snapshotRuns: envInt("BENCH_SEARCH_SNAPSHOT_RUNS", 1, 0),
    chunkRows: envInt("BENCH_CHUNK", 2_000),
    seed: envInt("BENCH_SEARCH_SEED", 42, 0),
    parts,
    out: process.env.BENCH_SEARCH_OUT?.trim() || path.join(here, "results", "search.json"),
  };
}
export type SearchOptions = ReturnType<typeof searchOptions>;

const API_KEY = "bench-search-key";

export interface ReplicaBuild {
  readonly ms: number;
  readonly rowsPerSec: number;
  readonly fileMB: number;
  readonly rssPeakMB: number;
}

export interface SnapshotPart {
  readonly runs: SnapshotRun[];
  readonly medianRowsPerSec: Record<SnapshotVariant, number>;
  readonly medianCpuMs: Record<SnapshotVariant, number>;
  readonly fileMB: Record<SnapshotVariant, number>;
}

export async function runSearchBenchmark(opts: SearchOptions = searchOptions()): Promise<void> {
  let pgServer: TestPostgres | undefined;
  let memory: EmbeddedMemory | undefined;
  // The master part's clients and proxy: closed here too if the run fails or is interrupted.
  const masterOpen = masterHandles();
  const session = benchSession("em-search-bench-", say, async () => {
    await memory?.stop().catch(() => undefined);
    await closeMasterHandles(masterOpen);
    await pgServer?.destroy().catch((e) => say(`  destroy failed: ${(e as Error).message}`));
  });
  const { dir } = session;
  const has = (p: Part) => opts.parts.includes(p);
  const totalQueries = Math.max(opts.queries, opts.httpQueries, opts.pgQueries, opts.recallQueries) + opts.warmup;

  let seedMs = 0;
  let masterIndexMs = 0;
  let replicaBuild: ReplicaBuild | undefined;
  let library: LibraryPart | undefined;
  let indexBuild: IndexBuild | undefined;
  let httpPart: HttpPart | undefined;
  let master: MasterPart | undefined;
  let snapshot: SnapshotPart | undefined;
  const warnings: string[] = [];
  let indexLog: { ms: number; vectors: number } | undefined;
  let corpusStats: Record<string, number> = {};

  try {
    say(`starting embedded Postgres…`);
    pgServer = await createTestPostgres();
    const pgVersion = (await pgServer.sql<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]!.v;
    say(`  Postgres ${pgVersion} on 127.0.0.1:${pgServer.port}`);
    {
      // The master objects (and the table) come from a replica's connect, as in run.ts: a
      // throwaway replica syncs the empty master once.
      const m = new EmbeddedMemory(makeConfig({ databaseUrl: pgServer.url, localPath: path.join(dir, "install.db"), logLevel: "silent" }), { logger: createLogger({ level: "silent" }) });
      await m.syncOnce();
      await m.close();
    }

    // 1. corpus on the master
    const corpus = new Corpus({ rows: opts.rows, dim: opts.dim, clusters: opts.clusters, seed: opts.seed });
    const queries = makeQueries(corpus, totalQueries, opts.seed + 1);
    say(`seeding ${opts.rows} rows × ${opts.dim}-d around ${opts.clusters} centroids…`);
    {
      const c = await pgServer.client();
      try {
        seedMs = await seedCorpus(c, corpus, say);
        say(`  seeded in ${round(seedMs / 1000, 1)} s; master GIN index and cosine function…`);
        ({ indexMs: masterIndexMs, corpusStats } = await prepareMaster(c, queries, say));
      } finally {
        await c.end();
      }
    }

    // The replica: a fresh file, filled by syncOnce (connect, snapshot, pull).
    const localPath = path.join(dir, "replica.db");
    const logger = createLogger({
      level: "info",
      destination: {
        write: (line: string) => {
          try {
            const o = JSON.parse(line) as { level: number; msg: string; ms?: number; vectors?: number };
            if (o.msg === "vector index built") indexLog = { ms: o.ms ?? NaN, vectors: o.vectors ?? NaN };
            if (o.level >= 40) warnings.push(line.trim());
          } catch {
            /* not JSON */
          }
        },
      },
    });
    memory = new EmbeddedMemory(makeConfig({ databaseUrl: pgServer.url, localPath, syncIntervalMs: 3_600_000, logLevel: "info", snapshotChunkRows: opts.chunkRows }), { logger });
    say(`building the replica (syncOnce)…`);
    {
      fullGc();
      const mem = sampleMemory(100);
      const t = performance.now();
      const r = await memory.syncOnce();
      const ms = performance.now() - t;
      const m = mem.stop();
      if (r.total_memories !== opts.rows) throw new Error(`the replica holds ${r.total_memories} rows, expected ${opts.rows}`);
      replicaBuild = { ms: round(ms, 0), rowsPerSec: Math.round(opts.rows / (ms / 1000)), fileMB: fileMB(localPath), rssPeakMB: m.peakMB };
      say(`  ${replicaBuild.rowsPerSec} rows/s (${round(ms / 1000, 1)} s), file ${replicaBuild.fileMB} MB`);
    }
    const mem = memory;

    // 2. library, in-process (the vector index is built first, by its first query)
    if (has("library") || has("http") || has("master")) {
      indexBuild = await measureIndexBuild(mem, queries, () => indexLog, say);
      if (has("library")) library = await runLibraryPart(mem, queries, localPath, opts, totalQueries, say);
    }

    // 3. HTTP on loopback
    if (has("http")) {
      say(`HTTP on loopback (client in a separate process)…`);
      httpPart = await runHttpPart(
        mem,
        CLASSES.map((cls) => ({
          name: cls,
          expect: CLASS_INFO[cls].expect,
          body: (i: number) => httpBody(queryOf(cls, queries, i)),
          // The route always counts access and picks the method itself: the in-process twin does the same.
          request: (i: number) => ({ ...libraryRequest(cls, queryOf(cls, queries, i), true), method: undefined }),
        })),
        { queries: opts.httpQueries, warmup: opts.warmup, apiKey: API_KEY },
        say,
      );
    }

    // 4. the master answering the same queries
    if (has("master")) {
      // The master's vector recall is checked against the replica's file when the library part ran.
      master = await runMasterPart(pgServer, masterOpen, queries, opts, totalQueries, has("library") ? localPath : undefined, say);
    }

    await memory.stop();
    memory = undefined;

    // 5. snapshot throughput with and without FTS maintenance, against the bare pipeline
    if (has("snapshot") && opts.snapshotRuns > 0) {
      say(`snapshot throughput: bare, replica, replica without FTS triggers (${opts.snapshotRuns} run(s) each, fresh processes)…`);
      const columns = await masterColumns(pgServer);
      const runs: SnapshotRun[] = [];
      const kinds: SnapshotVariant[] = ["bare", "replica", "replica-nofts"];
      for (let i = 1; i <= opts.snapshotRuns; i++) {
        for (const kind of kinds) {
          const r = await runSnapshotInChild({ kind, iteration: i, url: pgServer.url, columns, dir, rows: opts.rows, chunkRows: opts.chunkRows });
          runs.push(r);
          say(`  ${kind} #${i}: ${r.rowsPerSec} rows/s (${round(r.ms / 1000, 2)} s, cpu ${round(r.cpuMs / 1000, 2)} s, file ${r.fileMB} MB)`);
        }
      }
      const of = (k: SnapshotVariant) => runs.filter((r) => r.kind === k);
      const med = (k: SnapshotVariant, f: (r: SnapshotRun) => number) => round(median(of(k).map(f)), 0);
      snapshot = {
        runs,
        medianRowsPerSec: { bare: med("bare", (r) => r.rowsPerSec), replica: med("replica", (r) => r.rowsPerSec), "replica-nofts": med("replica-nofts", (r) => r.rowsPerSec) },
        medianCpuMs: { bare: med("bare", (r) => r.cpuMs), replica: med("replica", (r) => r.cpuMs), "replica-nofts": med("replica-nofts", (r) => r.cpuMs) },
        fileMB: { bare: of("bare")[0]!.fileMB, replica: of("replica")[0]!.fileMB, "replica-nofts": of("replica-nofts")[0]!.fileMB },
      };
    }
  } finally {
    say("cleaning up…");
    await session.close();
  }

  const { text, result } = searchReport({ opts, session, corpusStats, seedMs, masterIndexMs, replicaBuild, indexBuild, library, httpPart, master, snapshot, warnings });
  process.stdout.write(`${text}\n`);
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), opts.out)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runSearchBenchmark().catch((e) => {
    say(`search bench failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  });
}
