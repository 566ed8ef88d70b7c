/**
 * Retrieval-quality benchmark (`node bin/run-ts.js bench/retrieval.ts`): labelled queries
 * on a generated corpus, run through `memory.search` with the ranking before issue 11
 * (`legacy`) and the new one (`relevance`) in the same run; MRR@10, recall@10, nDCG@10,
 * "right memory first", the invariants and latency per kind, and what HTTP adds.
 * Prints one table and the seed; writes bench/results/retrieval.json.
 *
 * 1. An embedded Postgres master seeded with bench/retrievalData.ts's corpus (the search
 *    benchmark's, with realistic vectors, planted unique terms and tie groups), a replica
 *    synced from it (bench/retrievalSetup.ts).
 * 2. Queries labelled from what the replica stores (bench/retrievalQueries.ts): unique term,
 *    a memory's words shuffled and inflected, common + plural + rare, two common words,
 *    vector exact, vector near, hybrid, ties, nonsense.
 * 3. Each kind under each ranking, in-process (bench/retrievalMetrics.ts).
 * 4. HTTP on loopback for the FTS, vector and hybrid kinds: bench/searchHttp.ts's paired method.
 *
 * Environment (all optional):
 *   BENCH_RETRIEVAL_ROWS=100000        corpus rows
 *   BENCH_RETRIEVAL_QUERIES=200        labelled queries per kind
 *   BENCH_RETRIEVAL_DIM=384            embedding dimensions
 *   BENCH_RETRIEVAL_CLUSTERS=rows/100  vector clusters
 *   BENCH_RETRIEVAL_WARMUP=20          unmeasured queries before each kind × ranking
 *   BENCH_RETRIEVAL_HTTP_QUERIES=200   measured HTTP queries per kind and client (0: no HTTP part)
 *   BENCH_RETRIEVAL_SEED=42            corpus and query seed
 *   BENCH_RETRIEVAL_OUT=path           where the JSON goes (default bench/results/retrieval.json)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { httpBody } from "./searchClasses.ts";
import { runHttpPart, type HttpPart } from "./searchHttp.ts";
import { requestOf, runAllKinds, runIndexOnly, RANKINGS } from "./retrievalMetrics.ts";
import { KIND_INFO } from "./retrievalQueries.ts";
import { HTTP_KINDS, retrievalReport } from "./retrievalReport.ts";
import { buildRetrievalReplica, clustersFor, type RetrievalReplica } from "./retrievalSetup.ts";
import { benchSession, envInt } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);
const API_KEY = "bench-retrieval-key";

export function retrievalOptions() {
  const rows = envInt("BENCH_RETRIEVAL_ROWS", 100_000, 100);
  return {
    rows,
    queries: envInt("BENCH_RETRIEVAL_QUERIES", 200),
    dim: envInt("BENCH_RETRIEVAL_DIM", 384),
    clusters: envInt("BENCH_RETRIEVAL_CLUSTERS", clustersFor(rows)),
    warmup: envInt("BENCH_RETRIEVAL_WARMUP", 20, 0),
    httpQueries: envInt("BENCH_RETRIEVAL_HTTP_QUERIES", 200, 0),
    seed: envInt("BENCH_RETRIEVAL_SEED", 42, 0),
    out: process.env.BENCH_RETRIEVAL_OUT?.trim() || path.join(here, "results", "retrieval.json"),
  };
}
export type RetrievalOptions = ReturnType<typeof retrievalOptions>;

export async function runRetrievalBenchmark(opts: RetrievalOptions = retrievalOptions()): Promise<void> {
  let pg: TestPostgres | undefined;
  let replica: RetrievalReplica | undefined;
  const session = benchSession("em-retrieval-bench-", say, async () => {
    await replica?.memory.stop().catch(() => undefined);
    await pg?.destroy().catch((e) => say(`  destroy failed: ${(e as Error).message}`));
  });
  say(`retrieval benchmark, seed ${opts.seed}`);
  let report: ReturnType<typeof retrievalReport>;
  try {
    say(`starting embedded Postgres…`);
    pg = await createTestPostgres();
    replica = await buildRetrievalReplica(pg, session.dir, opts, say);
    const { memory, book } = replica;
    say(`in-process: ${RANKINGS.join(" and ")} rankings…`);
    const results = await runAllKinds(memory, book, RANKINGS, opts.warmup, say);
    const indexOnly = await runIndexOnly(memory, book, opts.warmup, say);
    let http: HttpPart | undefined;
    if (opts.httpQueries > 0) {
      say(`HTTP on loopback (client in a separate process)…`);
      http = await runHttpPart(
        memory,
        HTTP_KINDS.map((kind) => {
          const qs = book[kind];
          const at = (i: number) => qs[i % qs.length]!;
          return {
            name: kind,
            expect: KIND_INFO[kind].method,
            body: (i: number) => httpBody({ text: at(i).text, vector: at(i).embedding }),
            // The route counts access and uses the default (relevance) ranking: the in-process twin does the same.
            request: (i: number) => ({ ...requestOf(at(i)), trackAccess: true }),
          };
        }),
        { queries: opts.httpQueries, warmup: opts.warmup, apiKey: API_KEY },
        say,
      );
    }
    report = retrievalReport({ opts, session, timings: replica.timings, results, indexOnly, http });
  } finally {
    say("cleaning up…");
    await session.close();
  }
  process.stdout.write(`${report.text}\n`);
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(report.result, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), opts.out)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runRetrievalBenchmark().catch((e) => {
    say(`retrieval bench failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  });
}
