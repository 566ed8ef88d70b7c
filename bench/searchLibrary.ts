/**
 * The library parts of the search benchmark (bench/search.ts), in-process on the replica:
 * the vector index's build on the first vector query, latency per query class (trackAccess
 * off, and hybrid-topic once with it on), recall@10 of vector search against an exact scan,
 * and FTS ranking against the exact BM25 top 10. Also `measure`, the timing loop they use.
 */
import { performance } from "node:perf_hooks";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import type { SearchOptions } from "./search.ts";
import { CLASSES, CLASS_INFO, libraryRequest, queryOf, searchArgs, type ClassName } from "./searchClasses.ts";
import type { QuerySet } from "./searchData.ts";
import { exactTopK, ftsRankingCheck, loadGroundTruth, overlap, type FtsRanking } from "./searchGroundTruth.ts";
import { MB, distribution, fullGc, immediate, round, type Distribution } from "./util.ts";

export interface ClassResult {
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
export async function measure(n: number, warmup: number, total: number, run: (i: number) => Promise<{ results: number; method?: string }>, expectMethod?: string): Promise<ClassResult & { raw: number[] }> {
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

/** Query i of a class, as the library is asked it. */
const searcher = (mem: EmbeddedMemory, queries: QuerySet) => (cls: ClassName, i: number, trackAccess: boolean) => mem.search(...searchArgs(libraryRequest(cls, queryOf(cls, queries, i), trackAccess)));

export interface IndexBuild {
  readonly firstQueryMs: number;
  readonly buildMs: number | null;
  readonly vectors: number | null;
  readonly rssBeforeMB: number;
  readonly rssAfterMB: number;
  readonly heapDeltaMB: number;
}

/**
 * The first vector query, which builds the vector index. `indexLog` reads what the library
 * logged about the build ("vector index built"), caught by the caller's logger.
 */
export async function measureIndexBuild(mem: EmbeddedMemory, queries: QuerySet, indexLog: () => { ms: number; vectors: number } | undefined, say: (s: string) => void): Promise<IndexBuild> {
  say(`vector index: first vector query (builds the index)…`);
  fullGc();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  await searcher(mem, queries)("vector", 0, false);
  const firstQueryMs = performance.now() - t;
  fullGc();
  const logged = indexLog();
  const indexBuild: IndexBuild = {
    firstQueryMs: round(firstQueryMs, 1),
    buildMs: logged?.ms ?? null,
    vectors: logged?.vectors ?? null,
    rssBeforeMB: round(rssBefore / MB, 1),
    rssAfterMB: round(process.memoryUsage().rss / MB, 1),
    heapDeltaMB: round((process.memoryUsage().heapUsed - heapBefore) / MB, 1),
  };
  say(`  first vector query ${indexBuild.firstQueryMs} ms (index build ${indexBuild.buildMs} ms, ${indexBuild.vectors} vectors), heap +${indexBuild.heapDeltaMB} MB`);
  return indexBuild;
}

export interface LibraryPart {
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
  readonly ftsRanking: Record<"fts-common" | "topic-terms", FtsRanking>;
}

/**
 * Latency per class, recall@10 and FTS ranking of the library on the replica at `localPath`
 * (the ground truth is read from that same file). `totalQueries` is the size of the query set.
 */
export async function runLibraryPart(mem: EmbeddedMemory, queries: QuerySet, localPath: string, opts: Pick<SearchOptions, "queries" | "warmup" | "recallQueries" | "dim">, totalQueries: number, say: (s: string) => void): Promise<LibraryPart> {
  const search = searcher(mem, queries);
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
    const pure = await mem.search({ embedding: Array.from(qv), limit: 10 }, { method: "vector", trackAccess: false, weights: { importance: 0, recency: 0 } });
    recalls.push(overlap(pure.results.map((r) => r.id), exact) / exact.length);
    const ranked = await mem.search({ embedding: Array.from(qv), limit: 10 }, { method: "vector", trackAccess: false });
    defaultOverlap.push(overlap(ranked.results.map((r) => r.id), exact) / exact.length);
  }
  const meanRecall = recalls.reduce((a, b) => a + b, 0) / recalls.length;
  const rankingQueries = Math.min(50, opts.queries);
  const ftsRanking = {
    "fts-common": await ftsRankingCheck(localPath, mem, queries.common.slice(0, rankingQueries)),
    "topic-terms": await ftsRankingCheck(localPath, mem, queries.topicText.slice(0, rankingQueries)),
  };
  const library: LibraryPart = {
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
  return library;
}
