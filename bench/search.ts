/**
 * Search benchmark (`BENCH_ONLY=search npm run bench`, or `node bin/run-ts.js bench/search.ts`):
 * local search on the replica against the master Postgres answering the same queries, on
 * an embedded Postgres started (and destroyed) here. Prints tables; writes
 * bench/results/search.json.
 *
 * 1. Corpus (bench/searchData.ts): clustered vectors, Zipf texts with rare, topic and common
 *    terms, inserted on the master; the replica is built with `syncOnce()`.
 * 2. Library search in-process, per query class (trackAccess off): FTS rare term, FTS two
 *    common terms, vector KNN (recall@10 against an exact scan done here), hybrid.
 * 3. The same over HTTP on loopback (POST /memory/search, API key), paired with in-process
 *    calls doing the same work, to isolate the cost HTTP adds.
 * 4. The master answering the same queries (GIN full-text index, ts_rank; brute-force cosine
 *    over real[]), directly on loopback and through a TCP proxy adding 5 ms each way.
 * 5. Index build cost: snapshot throughput of the replica with and without FTS maintenance
 *    against the bare pipeline of bench/snapshot.ts (each run in a fresh process), and the
 *    vector index build time.
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
import Database from "better-sqlite3";
import pg from "pg";
import { makeConfig } from "../src/config.ts";
import { EmbeddedMemory } from "../src/embeddedMemory.ts";
import { createLogger } from "../src/services/logger.ts";
import { FTS_CANDIDATES, type SearchRequest } from "../src/services/Search.ts";
import { ftsMatch, ftsTerms } from "../src/services/ftsQuery.ts";
import { blobToVector } from "../src/services/VectorIndex.ts";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { startDelayProxy, type DelayProxy } from "./delayProxy.ts";
import { runHttpPart, type HttpPart } from "./searchHttp.ts";
import { Corpus, makeQueries, seedCorpus, type QuerySet } from "./searchData.ts";
import { masterColumns, runSnapshotInChild, type SnapshotRun, type SnapshotVariant } from "./snapshot.ts";
import { MB, distribution, fullGc, immediate, median, round, sampleMemory, table, type Distribution, machineInfo, benchSession, fileMB, envInt } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);
const mark = (ok: boolean) => (ok ? "ok" : "MISSED");

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
type Options = ReturnType<typeof searchOptions>;

const TARGETS = {
  ftsRareP50Ms: 0.2,
  ftsCommonP50Ms: 5,
  vectorP50Ms: 5,
  recallAt10: 0.95,
  hybridP50Ms: 10,
  httpAddedMs: 1,
  /** master p50 / replica p50 */
  loopbackRatio: 1,
  linkRatio: 10,
};

const TABLE = "unified_ai_memory";
const API_KEY = "bench-search-key";

// ---------------------------------------------------------------------------------------
// query classes

type ClassName = "fts-rare" | "fts-common" | "vector" | "hybrid-topic" | "hybrid-common";
const CLASSES: readonly ClassName[] = ["fts-rare", "fts-common", "vector", "hybrid-topic", "hybrid-common"];
const CLASS_INFO: Record<ClassName, { label: string; target?: number; expect: string }> = {
  "fts-rare": { label: "FTS, one rare term (1–5 rows)", target: TARGETS.ftsRareP50Ms, expect: "fts" },
  "fts-common": { label: "FTS, two common terms (~1/6 of rows each)", target: TARGETS.ftsCommonP50Ms, expect: "fts" },
  vector: { label: "vector KNN, query vector", target: TARGETS.vectorP50Ms, expect: "vector" },
  "hybrid-topic": { label: "hybrid: 2 topic terms + vector", target: TARGETS.hybridP50Ms, expect: "hybrid" },
  "hybrid-common": { label: "hybrid: 2 common terms + vector", target: TARGETS.hybridP50Ms, expect: "hybrid" },
};

interface BenchQuery {
  readonly text: string | undefined;
  readonly vector: Float32Array | undefined;
}

function queryOf(cls: ClassName, q: QuerySet, i: number): BenchQuery {
  const n = q.rare.length;
  const k = i % n;
  switch (cls) {
    case "fts-rare":
      return { text: q.rare[k], vector: undefined };
    case "fts-common":
      return { text: q.common[k], vector: undefined };
    case "vector":
      return { text: undefined, vector: q.vectors[k] };
    case "hybrid-topic":
      return { text: q.topicText[k], vector: q.vectors[k] };
    case "hybrid-common":
      return { text: q.common[k], vector: q.vectors[k] };
  }
}

/** What the library is asked (HTTP sends the same query, embedding and limit). */
function libraryRequest(cls: ClassName, bq: BenchQuery, trackAccess: boolean): SearchRequest {
  return {
    ...(bq.text !== undefined ? { query: bq.text } : {}),
    ...(bq.vector ? { embedding: Array.from(bq.vector) } : {}),
    ...(cls === "vector" ? { method: "vector" as const } : {}),
    limit: 10,
    trackAccess,
  };
}

interface ClassResult {
  readonly ms: Distribution;
  /** Mean number of results returned. */
  readonly meanResults: number;
  /** Queries that returned nothing, or another search_method than expected. */
  readonly empty: number;
  readonly unexpectedMethod: number;
}

/**
 * Runs `warmup` unmeasured then `n` measured queries. Warm-up uses queries from the end of
 * the set so the measured ones are not just repeats of them. Each query starts on a fresh
 * event-loop turn (as a request would): V8's GC tasks run between queries, not inside them.
 */
async function measure(n: number, warmup: number, total: number, run: (i: number) => Promise<{ results: number; method?: string }>, expectMethod?: string): Promise<ClassResult & { raw: number[] }> {
  for (let i = 0; i < warmup; i++) await run(total - 1 - (i % total));
  fullGc();
  const ms: number[] = [];
  let results = 0;
  let empty = 0;
  let unexpected = 0;
  for (let i = 0; i < n; i++) {
    await immediate();
    const t0 = performance.now();
    const r = await run(i % total);
    ms.push(performance.now() - t0);
    results += r.results;
    if (r.results === 0) empty++;
    if (expectMethod && r.method !== undefined && r.method !== expectMethod) unexpected++;
  }
  return { ms: distribution(ms), meanResults: round(results / n, 2), empty, unexpectedMethod: unexpected, raw: ms };
}

// ---------------------------------------------------------------------------------------
// exact search (ground truth)

interface GroundTruth {
  readonly ids: string[];
  readonly vectors: Float32Array;
  readonly norms: Float32Array;
  readonly dim: number;
}

function loadGroundTruth(file: string, dim: number): GroundTruth {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const n = db.prepare(`SELECT count(*) FROM ${TABLE} WHERE embedding IS NOT NULL`).pluck().get() as number;
    const ids: string[] = [];
    const vectors = new Float32Array(n * dim);
    const norms = new Float32Array(n);
    let i = 0;
    for (const r of db.prepare(`SELECT id, embedding FROM ${TABLE} WHERE embedding IS NOT NULL`).iterate() as IterableIterator<{ id: string; embedding: Buffer }>) {
      const v = blobToVector(r.embedding);
      if (v.length !== dim) continue;
      vectors.set(v, i * dim);
      let s = 0;
      for (let k = 0; k < dim; k++) s += v[k]! * v[k]!;
      norms[i] = Math.sqrt(s);
      ids.push(r.id);
      i++;
    }
    return { ids, vectors: vectors.subarray(0, i * dim), norms: norms.subarray(0, i), dim };
  } finally {
    db.close();
  }
}

/** Exact top-k by cosine over every vector (a full scan). */
function exactTopK(gt: GroundTruth, q: Float32Array, k: number): string[] {
  const { vectors, norms, dim } = gt;
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += q[j]! * q[j]!;
  qn = Math.sqrt(qn);
  const bestScore = new Float64Array(k).fill(-Infinity);
  const bestIdx = new Int32Array(k).fill(-1);
  for (let i = 0, base = 0; i < gt.ids.length; i++, base += dim) {
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += vectors[base + j]! * q[j]!;
    const s = dot / (norms[i]! * qn);
    if (s <= bestScore[k - 1]!) continue;
    let p = k - 1;
    while (p > 0 && bestScore[p - 1]! < s) {
      bestScore[p] = bestScore[p - 1]!;
      bestIdx[p] = bestIdx[p - 1]!;
      p--;
    }
    bestScore[p] = s;
    bestIdx[p] = i;
  }
  return [...bestIdx].filter((i) => i >= 0).map((i) => gt.ids[i]!);
}

const overlap = (a: readonly string[], b: readonly string[]) => {
  const s = new Set(b);
  return a.filter((x) => s.has(x)).length;
};

/**
 * FTS ranking quality: the library ranks by BM25 among at most FTS_CANDIDATES matches (the
 * highest rowids). For each query, the share of its top 10 whose BM25 is at least as good as
 * the 10th best over all matches (exact, tie-proof), and the time the exact query takes.
 */
async function ftsRankingCheck(file: string, memory: EmbeddedMemory, texts: readonly string[]): Promise<{ queries: number; meanMatches: number; asGoodAsExact: number; exactMs: Distribution }> {
  const ro = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const best = ro.prepare(`SELECT bm25(memory_fts, 1.0, 0.5) AS s FROM memory_fts WHERE memory_fts MATCH ? ORDER BY s LIMIT 10`).pluck();
    const matches = ro.prepare(`SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?`).pluck();
    const scoreOf = ro.prepare(`SELECT bm25(memory_fts, 1.0, 0.5) FROM memory_fts WHERE memory_fts MATCH ? AND rowid = (SELECT rid FROM memory_rowids WHERE id = ?)`).pluck();
    const shares: number[] = [];
    const ms: number[] = [];
    let matched = 0;
    for (const text of texts) {
      const match = ftsMatch(ftsTerms(text), "all");
      const t0 = performance.now();
      const exact = best.all(match) as number[];
      ms.push(performance.now() - t0);
      matched += matches.get(match) as number;
      if (exact.length === 0) continue;
      const tenth = exact[exact.length - 1]!;
      const res = await memory.search({ query: text, method: "fts", limit: 10, trackAccess: false, weights: { importance: 0, recency: 0 } });
      const good = res.results.filter((r) => (scoreOf.get(match, r.id) as number | undefined ?? Infinity) <= tenth + 1e-9).length;
      shares.push(good / exact.length);
    }
    return { queries: texts.length, meanMatches: round(matched / texts.length, 0), asGoodAsExact: round(shares.reduce((a, b) => a + b, 0) / (shares.length || 1), 3), exactMs: distribution(ms) };
  } finally {
    ro.close();
  }
}

// ---------------------------------------------------------------------------------------
// master queries

const COLS = "m.id, m.content, m.memory_type, m.source_agent, m.importance_score, m.created_at, m.metadata, m.tags, m.tenant_id";
const LIVE = "NOT m.archived AND (m.expires_at IS NULL OR m.expires_at > now())";
const TSV = "to_tsvector('simple', m.content->>'text')";

const MASTER_SETUP = [
  `CREATE INDEX IF NOT EXISTS bench_memory_text_fts ON ${TABLE} USING gin (${TSV.replace(/m\./g, "")})`,
  // Cosine over real[] in SQL. A PARALLEL SAFE function lets Postgres use parallel workers,
  // the fastest plain-SQL form measured here (a LATERAL unnest aggregate is ~30% slower).
  `CREATE OR REPLACE FUNCTION bench_cosine(a real[], b real[]) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
     $$ SELECT sum(x::float8 * y) / nullif(sqrt(sum(x::float8 * x) * sum(y::float8 * y)), 0) FROM unnest(a, b) AS u(x, y) $$`,
];

const MASTER_SQL: Record<ClassName, string> = {
  "fts-rare": `SELECT ${COLS}, ts_rank(${TSV}, q) AS score FROM ${TABLE} m, plainto_tsquery('simple', $1) q
    WHERE ${TSV} @@ q AND ${LIVE} ORDER BY score DESC LIMIT 10`,
  "fts-common": "", // same statement as fts-rare
  vector: `SELECT ${COLS}, bench_cosine(m.embedding, $1::real[]) AS score FROM ${TABLE} m
    WHERE ${LIVE} ORDER BY score DESC NULLS LAST LIMIT 10`,
  // The replica's hybrid, in one statement: 30 FTS and 30 vector candidates, reciprocal
  // rank fusion (k = 60), weighted by importance and recency as searchRank.ts does.
  "hybrid-topic": `WITH f AS (
      SELECT id, row_number() OVER (ORDER BY score DESC) AS r FROM (
        SELECT m.id, ts_rank(${TSV}, q) AS score FROM ${TABLE} m, plainto_tsquery('simple', $1) q
        WHERE ${TSV} @@ q AND ${LIVE} ORDER BY score DESC LIMIT 30) x),
    v AS (
      SELECT id, row_number() OVER (ORDER BY score DESC) AS r FROM (
        SELECT m.id, bench_cosine(m.embedding, $2::real[]) AS score FROM ${TABLE} m
        WHERE ${LIVE} ORDER BY score DESC NULLS LAST LIMIT 30) x),
    fused AS (SELECT id, sum(1.0 / (60 + r)) AS rrf FROM (SELECT id, r FROM f UNION ALL SELECT id, r FROM v) u GROUP BY id)
    SELECT ${COLS}, fused.rrf * (1 + 0.5 * coalesce(m.importance_score, 0))
             * (1 + 0.25 * power(0.5, extract(epoch FROM now() - m.created_at) / 86400 / 30)) AS score
    FROM fused JOIN ${TABLE} m ON m.id = fused.id ORDER BY score DESC LIMIT 10`,
  "hybrid-common": "", // same statement as hybrid-topic
};
MASTER_SQL["fts-common"] = MASTER_SQL["fts-rare"];
MASTER_SQL["hybrid-common"] = MASTER_SQL["hybrid-topic"];

function masterQuery(client: pg.Client, cls: ClassName, bq: BenchQuery): Promise<pg.QueryResult> {
  const stmt = cls === "fts-common" ? "fts-rare" : cls === "hybrid-common" ? "hybrid-topic" : cls;
  const values = cls === "vector" ? [Array.from(bq.vector!)] : bq.vector ? [bq.text, Array.from(bq.vector)] : [bq.text];
  return client.query({ name: `bench-${stmt}`, text: MASTER_SQL[cls], values });
}

/** The POST /memory/search body for a query (the same query, embedding and limit as the library's). */
const httpBody = (bq: BenchQuery) =>
  JSON.stringify({ ...(bq.text !== undefined ? { query: bq.text } : {}), ...(bq.vector ? { embedding: Array.from(bq.vector) } : {}), limit: 10 });

// ---------------------------------------------------------------------------------------



interface IndexBuild {
  readonly firstQueryMs: number;
  readonly buildMs: number | null;
  readonly vectors: number | null;
  readonly rssBeforeMB: number;
  readonly rssAfterMB: number;
  readonly heapDeltaMB: number;
}

interface LibraryPart {
  readonly classes: Record<ClassName, ClassResult>;
  readonly trackAccessHybrid: ClassResult;
  readonly recall: {
    readonly queries: number;
    readonly meanRecallAt10: number;
    readonly minRecallAt10: number;
    readonly queriesBelow09: number;
    /** The same queries with the default ranking weights (importance, recency): overlap with exact top-10. */
    readonly defaultWeightsOverlapAt10: number;
    readonly exactScanMs: Distribution;
  };
  readonly ftsRanking: Record<"fts-common" | "topic-terms", Awaited<ReturnType<typeof ftsRankingCheck>>>;
}

interface MasterClassResult {
  readonly n: number;
  readonly loopback: Distribution;
  readonly link: Distribution;
  readonly meanRows: number;
}

export async function runSearchBenchmark(opts: Options = searchOptions()): Promise<void> {
  let pgServer: TestPostgres | undefined;
  let memory: EmbeddedMemory | undefined;
  let proxy: DelayProxy | undefined;
  const clients: pg.Client[] = [];
  const session = benchSession("em-search-bench-", say, async () => {
    await memory?.stop().catch(() => undefined);
    for (const c of clients) await c.end().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    await pgServer?.destroy().catch((e) => say(`  destroy failed: ${(e as Error).message}`));
  });
  const { dir, started, git, loadAtStart } = session;
  const has = (p: Part) => opts.parts.includes(p);
  const totalQueries = Math.max(opts.queries, opts.httpQueries, opts.pgQueries, opts.recallQueries) + opts.warmup;

  let seedMs = 0;
  let masterIndexMs = 0;
  let replicaBuild: { ms: number; rowsPerSec: number; fileMB: number; rssPeakMB: number } | undefined;
  let library: LibraryPart | undefined;
  let indexBuild: IndexBuild | undefined;
  let httpPart: HttpPart | undefined;
  let master: { classes: Partial<Record<ClassName, MasterClassResult>>; vectorRecallAt10: number | null; linkSlackMs: number; connectMs: { loopback: number; link: number } } | undefined;
  let snapshot: { runs: SnapshotRun[]; medianRowsPerSec: Record<SnapshotVariant, number>; medianCpuMs: Record<SnapshotVariant, number>; fileMB: Record<SnapshotVariant, number> } | undefined;
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
        const t = performance.now();
        for (const s of MASTER_SETUP) await c.query(s);
        masterIndexMs = performance.now() - t;
        await c.query(`VACUUM (ANALYZE) ${TABLE}`);
        const count = async (text: string) => Number((await c.query(`SELECT count(*) AS n FROM ${TABLE} m WHERE ${TSV} @@ plainto_tsquery('simple', $1)`, [text])).rows[0].n);
        const counts = async (arr: string[]) => {
          const out: number[] = [];
          for (const text of arr.slice(0, 20)) out.push(await count(text));
          return out;
        };
        const rare = await counts(queries.rare);
        const common = await counts(queries.common);
        const topic = await counts(queries.topicText);
        corpusStats = {
          rareMatchesMean: round(rare.reduce((a, b) => a + b, 0) / rare.length, 1),
          commonPairMatchesMean: round(common.reduce((a, b) => a + b, 0) / common.length, 0),
          topicPairMatchesMedian: median(topic),
          meanWordsPerRow: round(Number((await c.query(`SELECT avg(array_length(regexp_split_to_array(content->>'text', ' '), 1)) AS w FROM ${TABLE}`)).rows[0].w), 1),
        };
        say(`  matches: rare ${corpusStats.rareMatchesMean}, common pair ${corpusStats.commonPairMatchesMean}, topic pair (median) ${corpusStats.topicPairMatchesMedian}`);
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
    const search = (cls: ClassName, i: number, trackAccess: boolean) => mem.search(libraryRequest(cls, queryOf(cls, queries, i), trackAccess));

    // 2. library, in-process
    if (has("library") || has("http") || has("master")) {
      say(`vector index: first vector query (builds the index)…`);
      fullGc();
      const rssBefore = process.memoryUsage().rss;
      const heapBefore = process.memoryUsage().heapUsed;
      const t = performance.now();
      await search("vector", 0, false);
      const firstQueryMs = performance.now() - t;
      fullGc();
      indexBuild = {
        firstQueryMs: round(firstQueryMs, 1),
        buildMs: indexLog?.ms ?? null,
        vectors: indexLog?.vectors ?? null,
        rssBeforeMB: round(rssBefore / MB, 1),
        rssAfterMB: round(process.memoryUsage().rss / MB, 1),
        heapDeltaMB: round((process.memoryUsage().heapUsed - heapBefore) / MB, 1),
      };
      say(`  first vector query ${indexBuild.firstQueryMs} ms (index build ${indexBuild.buildMs} ms, ${indexBuild.vectors} vectors), heap +${indexBuild.heapDeltaMB} MB`);

      if (has("library")) {
        const classes = {} as Record<ClassName, ClassResult>;
        for (const cls of CLASSES) {
          const r = await measure(opts.queries, opts.warmup, totalQueries, async (i) => {
            const res = await search(cls, i, false);
            return { results: res.results.length, method: res.search_method };
          }, CLASS_INFO[cls].expect);
          const { raw: _raw, ...rest } = r;
          classes[cls] = rest;
          say(`  ${cls}: p50 ${r.ms.p50} ms, p99 ${r.ms.p99} ms, ${r.meanResults} results`);
        }
        const tracked = await measure(opts.queries, opts.warmup, totalQueries, async (i) => {
          const res = await search("hybrid-topic", i, true);
          return { results: res.results.length, method: res.search_method };
        }, "hybrid");
        const { raw: _r2, ...trackAccessHybrid } = tracked;
        say(`  hybrid-topic with trackAccess: p50 ${tracked.ms.p50} ms, p99 ${tracked.ms.p99} ms`);

        say(`recall@10 against an exact scan (${opts.recallQueries} queries)…`);
        const gt = loadGroundTruth(localPath, opts.dim);
        const recalls: number[] = [];
        const defaultOverlap: number[] = [];
        const scanMs: number[] = [];
        for (let i = 0; i < opts.recallQueries; i++) {
          const qv = queries.vectors[i]!;
          const t0 = performance.now();
          const exact = exactTopK(gt, qv, 10);
          scanMs.push(performance.now() - t0);
          // Pure vector order (importance and recency weights off): the index's own recall.
          const pure = await mem.search({ embedding: Array.from(qv), method: "vector", limit: 10, trackAccess: false, weights: { importance: 0, recency: 0 } });
          recalls.push(overlap(pure.results.map((r) => r.id), exact) / exact.length);
          const ranked = await mem.search({ embedding: Array.from(qv), method: "vector", limit: 10, trackAccess: false });
          defaultOverlap.push(overlap(ranked.results.map((r) => r.id), exact) / exact.length);
        }
        const meanRecall = recalls.reduce((a, b) => a + b, 0) / recalls.length;
        const rankingQueries = Math.min(50, opts.queries);
        const ftsRanking = {
          "fts-common": await ftsRankingCheck(localPath, mem, queries.common.slice(0, rankingQueries)),
          "topic-terms": await ftsRankingCheck(localPath, mem, queries.topicText.slice(0, rankingQueries)),
        };
        library = {
          ftsRanking,
          classes,
          trackAccessHybrid,
          recall: {
            queries: recalls.length,
            meanRecallAt10: round(meanRecall, 4),
            minRecallAt10: Math.min(...recalls),
            queriesBelow09: recalls.filter((r) => r < 0.9).length,
            defaultWeightsOverlapAt10: round(defaultOverlap.reduce((a, b) => a + b, 0) / defaultOverlap.length, 4),
            exactScanMs: distribution(scanMs),
          },
        };
        say(`  recall@10 ${library.recall.meanRecallAt10} (min ${library.recall.minRecallAt10}); exact JS scan p50 ${library.recall.exactScanMs.p50} ms`);
      }
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
          inProcess: (i: number) => mem.search({ ...libraryRequest(cls, queryOf(cls, queries, i), true), method: undefined }),
        })),
        { queries: opts.httpQueries, warmup: opts.warmup, apiKey: API_KEY },
        say,
      );
    }

    // 4. the master answering the same queries
    if (has("master")) {
      say(`master: the same queries on Postgres, loopback and through a ${opts.delayMs} ms proxy…`);
      proxy = await startDelayProxy(pgServer.port, opts.delayMs);
      const connect = async (port: number) => {
        const t = performance.now();
        const c = new pg.Client({ connectionString: pgServer!.url.replace(`:${pgServer!.port}/`, `:${port}/`) });
        c.on("error", () => undefined);
        clients.push(c);
        await c.connect();
        return { c, ms: performance.now() - t };
      };
      const direct = await connect(pgServer.port);
      const linked = await connect(proxy.port);
      const classes: Partial<Record<ClassName, MasterClassResult>> = {};
      // One unmeasured vector scan first: the table's pages into the cache for both paths.
      await masterQuery(direct.c, "vector", queryOf("vector", queries, totalQueries - 1));
      for (const cls of CLASSES) {
        const isVector = cls !== "fts-rare" && cls !== "fts-common";
        const n = isVector ? opts.pgVectorReps : opts.pgQueries;
        // Vector scans take seconds: the one scan above warmed the cache; no warm-up per class.
        const warm = isVector ? 0 : opts.warmup;
        const result: Partial<Record<"loopback" | "link", number[]>> = {};
        let rows = 0;
        for (const [pathName, client] of [["loopback", direct.c], ["link", linked.c]] as const) {
          for (let i = 0; i < warm; i++) await masterQuery(client, cls, queryOf(cls, queries, totalQueries - 1 - i));
          const ms: number[] = [];
          for (let i = 0; i < n; i++) {
            await immediate();
            const t0 = performance.now();
            const r = await masterQuery(client, cls, queryOf(cls, queries, i));
            ms.push(performance.now() - t0);
            rows += r.rowCount ?? 0;
          }
          result[pathName] = ms;
        }
        classes[cls] = { n, loopback: distribution(result.loopback!), link: distribution(result.link!), meanRows: round(rows / (2 * n), 2) };
        say(`  ${cls}: loopback p50 ${classes[cls]!.loopback.p50} ms, link p50 ${classes[cls]!.link.p50} ms`);
      }
      // The master's brute force is exact: check it against the exact scan here (sanity).
      let vectorRecall: number | null = null;
      if (has("library")) {
        const gt = loadGroundTruth(localPath, opts.dim);
        const rs: number[] = [];
        for (let i = 0; i < Math.min(3, opts.pgVectorReps); i++) {
          const r = await masterQuery(direct.c, "vector", queryOf("vector", queries, i));
          rs.push(overlap(r.rows.map((x: { id: string }) => x.id), exactTopK(gt, queries.vectors[i]!, 10)) / 10);
        }
        vectorRecall = round(rs.reduce((a, b) => a + b, 0) / rs.length, 3);
      }
      master = { classes, vectorRecallAt10: vectorRecall, linkSlackMs: proxy.stats().maxSlackMs, connectMs: { loopback: round(direct.ms, 1), link: round(linked.ms, 1) } };
      for (const c of clients.splice(0)) await c.end().catch(() => undefined);
      await proxy.close();
      proxy = undefined;
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

  // ---------------------------------------------------------------------------------------
  // report
  const machine = machineInfo(loadAtStart, git);
  const processMaxRssMB = round(process.resourceUsage().maxRSS / 1024, 1);
  const wallS = round((Date.now() - started) / 1000, 1);
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  const L: string[] = [];
  L.push(`embedded-memory search benchmark — ${machine.date}`);
  L.push(`node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemMB} MB RAM, ${machine.platform}`);
  L.push(`git ${git ? `${git.commit}${git.srcDirty ? " (src/ has uncommitted changes)" : ""}` : "n/a"}; load average at start ${loadAtStart.join(" ")}, at end ${machine.loadAtEnd.join(" ")}`);
  L.push(
    `corpus: ${opts.rows} rows × ${opts.dim}-d around ${opts.clusters} centroids (seed ${opts.seed}); ~${corpusStats.meanWordsPerRow} words a row; rare query matches ${corpusStats.rareMatchesMean} rows on average, common pair ${corpusStats.commonPairMatchesMean}, topic pair ${corpusStats.topicPairMatchesMedian} (median)`,
  );
  L.push(`seeding the master ${round(seedMs / 1000, 1)} s; master GIN index ${round(masterIndexMs / 1000, 1)} s; replica built by syncOnce in ${replicaBuild ? round(replicaBuild.ms / 1000, 1) : "-"} s (${replicaBuild?.rowsPerSec ?? "-"} rows/s in-process, file ${replicaBuild?.fileMB ?? "-"} MB)`);

  if (indexBuild) {
    const b = indexBuild;
    L.push("");
    L.push(`Vector index: built on the first vector query in ${b.buildMs ?? "?"} ms (${b.vectors ?? "?"} vectors; the first query took ${b.firstQueryMs} ms in all); heap +${b.heapDeltaMB} MB, RSS ${b.rssBeforeMB} → ${b.rssAfterMB} MB`);
  }
  if (library) {
    L.push("");
    L.push(`Library search in-process (${opts.queries} queries per class after ${opts.warmup} warm-up, limit 10, trackAccess false)`);
    const rows = CLASSES.map((cls) => {
      const r = library!.classes[cls];
      const target = CLASS_INFO[cls].target!;
      const ok = r.ms.p50 <= target;
      check(`library ${cls} p50 ≤ ${target} ms`, ok, `${r.ms.p50} ms`);
      return [cls, r.ms.p50, r.ms.p90, r.ms.p99, r.ms.max, r.ms.mean, r.meanResults, `${r.empty}/${r.unexpectedMethod}`, `p50 ≤ ${target} ${mark(ok)}`];
    });
    const t = library.trackAccessHybrid;
    rows.push(["hybrid-topic, trackAccess on", t.ms.p50, t.ms.p90, t.ms.p99, t.ms.max, t.ms.mean, t.meanResults, `${t.empty}/${t.unexpectedMethod}`, `+${round(t.ms.p50 - library.classes["hybrid-topic"].ms.p50, 3)} ms p50 for tracking`]);
    L.push(table(["ms", "p50", "p90", "p99", "max", "mean", "results", "empty/wrong method", "target"], rows));
    const rc = library.recall;
    const recallOk = rc.meanRecallAt10 >= TARGETS.recallAt10;
    check(`recall@10 ≥ ${TARGETS.recallAt10}`, recallOk, String(rc.meanRecallAt10));
    L.push(
      `recall@10 of vector search against an exact cosine scan (${rc.queries} queries, ranking weights importance = recency = 0): mean ${rc.meanRecallAt10}, min ${rc.minRecallAt10}, ${rc.queriesBelow09} queries below 0.9 (target ≥ ${TARGETS.recallAt10}: ${mark(recallOk)})`,
    );
    L.push(`  with the default ranking weights (importance 0.5, recency 0.25) the top 10 shares ${rc.defaultWeightsOverlapAt10} with the exact top 10 — by design, not an index loss`);
    L.push(`  for scale: an exact float32 scan of every vector in plain TypeScript takes p50 ${rc.exactScanMs.p50} ms, p99 ${rc.exactScanMs.p99} ms`);
    for (const [name, r] of Object.entries(library.ftsRanking)) {
      L.push(
        `FTS ranking, ${name} (${r.queries} queries, ~${r.meanMatches} matches each; BM25 among at most ${FTS_CANDIDATES} candidates): ${round(r.asGoodAsExact * 100, 1)}% of the top 10 is as good as the exact BM25 top 10 over all matches (exact query: p50 ${r.exactMs.p50} ms, p99 ${r.exactMs.p99} ms)`,
      );
    }
  }
  if (httpPart) {
    L.push("");
    L.push(
      `HTTP POST /memory/search on loopback (${httpPart.queries} queries per class and client; the client is a separate process, one keep-alive connection per server; each request paired with the same search in-process, the "twin" — the route always counts access and chooses the method, so the twin does too). added = HTTP − twin per pair; floor = a bare node:http server around the same search; instant = our app around a search that answers at once; server stack = headers parsed → answer written, minus search()`,
    );
    L.push(
      table(
        ["ms", "in-process p50", "node:http p50", "p99", "added p50", "floor added p50", "instant p50", "server stack p50", "fetch p50", "added p50", "floor added p50", `target: added ≤ ${TARGETS.httpAddedMs} ms (node:http)`],
        CLASSES.map((cls) => {
          const r = httpPart!.classes[cls]!;
          const n = r.clients.nodeHttp;
          const f = r.clients.fetch;
          const ok = n.added.p50 <= TARGETS.httpAddedMs;
          check(`HTTP ${cls} adds ≤ ${TARGETS.httpAddedMs} ms (node:http client)`, ok, `node:http +${n.added.p50} (a bare node:http server +${n.floorAdded.p50}), fetch +${f.added.p50}`);
          return [cls, n.twin.p50, n.http.p50, n.http.p99, n.added.p50, n.floorAdded.p50, n.instant.p50, n.serverStack.p50, f.http.p50, f.added.p50, f.floorAdded.p50, mark(ok)];
        }),
      ),
    );
  }
  if (master) {
    L.push("");
    L.push(
      `Master Postgres answering the same queries (GIN on to_tsvector('simple', content->>'text') + ts_rank; brute-force cosine over real[] in SQL; hybrid = both + RRF in one statement), loopback and through a proxy adding ${opts.delayMs} ms each way (timer slack up to ${master.linkSlackMs} ms); replica = in-process library, trackAccess off`,
    );
    const rows: (string | number)[][] = [];
    for (const cls of CLASSES) {
      const m = master.classes[cls];
      if (!m) continue;
      const rep = library?.classes[cls]?.ms;
      const ratio = (a: number, b: number | undefined) => (b ? round(a / b, 1) : "-");
      const okLoop = rep ? m.loopback.p50 / rep.p50 >= TARGETS.loopbackRatio : false;
      const okLink = rep ? m.link.p50 / rep.p50 >= TARGETS.linkRatio : false;
      if (rep) {
        check(`replica ≥ master on loopback (${cls})`, okLoop, `×${ratio(m.loopback.p50, rep.p50)}`);
        check(`replica ≥ ${TARGETS.linkRatio}× master over the link (${cls})`, okLink, `×${ratio(m.link.p50, rep.p50)}`);
      }
      rows.push([cls, m.n, rep?.p50 ?? "-", rep?.p99 ?? "-", m.loopback.p50, m.loopback.p99, ratio(m.loopback.p50, rep?.p50), m.link.p50, m.link.p99, ratio(m.link.p50, rep?.p50), rep ? `loopback ${mark(okLoop)}, link ${mark(okLink)}` : "-"]);
    }
    L.push(table(["ms", "master n", "replica p50", "p99", "master loopback p50", "p99", "× replica", "master via link p50", "p99", "× replica", "target ≥ 1× / ≥ 10×"], rows));
    if (httpPart) {
      L.push(
        `  replica over HTTP (node:http client) instead: ${CLASSES.filter((c) => master!.classes[c])
          .map((c) => `${c} ×${round(master!.classes[c]!.loopback.p50 / httpPart!.classes[c]!.clients.nodeHttp.http.p50, 1)} loopback / ×${round(master!.classes[c]!.link.p50 / httpPart!.classes[c]!.clients.nodeHttp.http.p50, 1)} link`)
          .join("; ")}`,
      );
    }
    L.push(`  master connect: loopback ${master.connectMs.loopback} ms, via link ${master.connectMs.link} ms (not in the figures); the master's vector top 10 vs the exact scan: recall ${master.vectorRecallAt10 ?? "-"}`);
  }
  if (snapshot) {
    const s = snapshot;
    L.push("");
    L.push(`Initial snapshot of this corpus (${opts.rows} rows; pages of ${opts.chunkRows}; each run in a fresh process; replica-nofts = the replica's file with its FTS triggers dropped before the copy)`);
    L.push(
      table(
        ["run", "rows/s", "time s", "cpu s", "RSS peak MB", "file MB"],
        s.runs.map((r) => [`${r.kind} #${r.iteration}`, r.rowsPerSec, round(r.ms / 1000, 2), round(r.cpuMs / 1000, 2), Math.max(r.memory.peakMB, r.processMaxRssMB ?? 0), r.fileMB]),
      ),
    );
    const m = s.medianRowsPerSec;
    L.push(
      `median rows/s: bare ${m.bare}, replica ${m.replica} (×${round(m.replica / m.bare, 2)} of bare), replica without FTS ${m["replica-nofts"]} (×${round(m["replica-nofts"] / m.bare, 2)}); FTS maintenance costs ${round((1 - m.replica / m["replica-nofts"]) * 100, 1)}% of the replica's throughput, +${round((s.medianCpuMs.replica - s.medianCpuMs["replica-nofts"]) / 1000, 2)} s CPU, +${round(s.fileMB.replica - s.fileMB["replica-nofts"], 1)} MB file`,
    );
  }
  L.push("");
  L.push(`targets: ${checks.filter((c) => c.ok).length}/${checks.length} met${checks.some((c) => !c.ok) ? `; missed: ${checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`).join("; ")}` : ""}`);
  if (warnings.length) L.push(`warnings logged by the library: ${warnings.length} (first: ${warnings[0]!.slice(0, 300)})`);
  L.push(`process maxRSS ${processMaxRssMB} MB; wall ${wallS} s`);
  process.stdout.write(`${L.join("\n")}\n`);

  const result = {
    benchmark: "embedded-memory search",
    machine,
    options: { ...opts, out: undefined },
    targets: TARGETS,
    corpus: { ...corpusStats, seedMs: round(seedMs, 0), masterIndexMs: round(masterIndexMs, 0) },
    replicaBuild,
    indexBuild: indexBuild ?? null,
    library: library ?? null,
    http: httpPart ?? null,
    master: master ?? null,
    snapshot: snapshot ?? null,
    checks,
    warnings,
    notes: [
      "latencies in ms, measured around `await memory.search(...)` (library), in a separate client process around http.request or fetch including JSON parsing of the answer (HTTP), around client.query with a named prepared statement (master)",
      "recall@10: the library's vector search with ranking weights importance = recency = 0 (pure cosine order) against an exact float32 cosine scan of every replica vector",
      "master vector SQL: bench_cosine(real[], real[]) = sum(x*y)/sqrt(sum(x*x)*sum(y*y)) over unnest, PARALLEL SAFE; ORDER BY … LIMIT 10",
      "link: a TCP proxy on 127.0.0.1 holding each chunk 5 ms in each direction (bench/delayProxy.ts)",
      "snapshot: bench/snapshot.ts runs (bare = plain SQLite table, one prepared INSERT); replica-nofts drops unified_ai_memory_fts_insert/update/delete on the benchmark's own file before the copy",
    ],
    processMaxRssMB,
    wallS,
  };
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
