/**
 * The retrieval benchmark's set-up, shared with its small twin (test/retrieval.test.ts):
 * the master objects on a Postgres, the corpus seeded on it (bench/searchData.ts's seeding,
 * bench/retrievalData.ts's rows), a replica filled by `syncOnce()`, then the labelled
 * queries made from what the replica stores.
 */
import path from "node:path";
import { performance } from "node:perf_hooks";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { TestPostgres } from "../test/support/postgres.ts";
import { installMaster } from "../test/support/seed.ts";
import { seedCorpus } from "./searchData.ts";
import { RetrievalCorpus } from "./retrievalData.ts";
import { makeLabelledQueries, type QueryBook } from "./retrievalQueries.ts";
import { loadStored } from "./retrievalStored.ts";

export interface RetrievalSetupOptions {
  readonly rows: number;
  readonly dim: number;
  readonly clusters: number;
  readonly queries: number;
  readonly seed: number;
}

export interface RetrievalReplica {
  readonly memory: EmbeddedMemory;
  readonly localPath: string;
  readonly book: QueryBook;
  readonly timings: { readonly seedMs: number; readonly syncMs: number; readonly labelMs: number; readonly indexBuildMs: number };
}

/** Default sizes derived from the row count (clusters ≈ rows / 100, as the search benchmark's 1,000 at 100k). */
export const clustersFor = (rows: number) => Math.max(10, Math.round(rows / 100));

/**
 * Seeds `pg` (an empty database), builds the replica at `dir/retrieval.db` and labels the
 * queries. The caller stops `memory` (also when this throws after making it: it is stopped here then).
 */
export async function buildRetrievalReplica(pg: TestPostgres, dir: string, o: RetrievalSetupOptions, say: (s: string) => void): Promise<RetrievalReplica> {
  await installMaster(pg);
  // Enough tie groups for a full set of tie queries, one row in 20 with a planted unique term.
  const corpus = new RetrievalCorpus({ rows: o.rows, dim: o.dim, clusters: o.clusters, seed: o.seed }, { tieGroups: Math.min(o.queries, Math.floor(o.rows / 30)), uniqueEvery: 20 });
  say(`seeding ${o.rows} rows × ${o.dim}-d (anisotropic, offset vectors) around ${o.clusters} centroids, seed ${o.seed}…`);
  const client = await pg.client();
  let seedMs: number;
  try {
    seedMs = await seedCorpus(client, corpus, say);
  } finally {
    await client.end();
  }
  const localPath = path.join(dir, "retrieval.db");
  const memory = new EmbeddedMemory(makeConfig({ databaseUrl: pg.url, localPath, syncIntervalMs: 3_600_000, logLevel: "silent" }), { logger: createLogger({ level: "silent" }) });
  try {
    say(`building the replica (syncOnce)…`);
    let t = performance.now();
    const synced = await memory.syncOnce();
    const syncMs = performance.now() - t;
    if (synced.total_memories !== o.rows) throw new Error(`the replica holds ${synced.total_memories} rows, expected ${o.rows}`);
    say(`labelling ${o.queries} queries per kind from the replica's rows…`);
    t = performance.now();
    const stored = loadStored(localPath, o.dim);
    let book: QueryBook;
    try {
      book = makeLabelledQueries(stored, o.queries, o.seed + 1);
    } finally {
      stored.stemmer.close();
    }
    const labelMs = performance.now() - t;
    // The first vector query builds the vector index: outside every measured figure.
    t = performance.now();
    await memory.search({ embedding: Array.from(book["vector-exact"][0]!.embedding!), limit: 1 }, { trackAccess: false });
    const indexBuildMs = performance.now() - t;
    return { memory, localPath, book, timings: { seedMs, syncMs, labelMs, indexBuildMs } };
  } catch (e) {
    await memory.stop().catch(() => undefined);
    throw e;
  }
}
