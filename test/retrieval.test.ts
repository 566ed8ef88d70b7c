/**
 * The retrieval benchmark's small twin (bench/retrieval.ts): the same corpus, the same
 * labelled queries, on a few thousand synced rows; the invariants of issue 11 asserted at
 * 100 % for the `relevance` ranking. Each test reports the failing rate and the first
 * failing queries, so a miss says by how much.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestPostgres, type TestPostgres } from "./support/postgres.ts";
import { buildRetrievalReplica, clustersFor, type RetrievalReplica } from "../bench/retrievalSetup.ts";
import { runAllKinds, type KindResult, type RetrievalResults } from "../bench/retrievalMetrics.ts";
import type { Kind } from "../bench/retrievalQueries.ts";

const ROWS = Number(process.env.RETRIEVAL_TEST_ROWS ?? 3_000);
const QUERIES = Number(process.env.RETRIEVAL_TEST_QUERIES ?? 40);
const SEED = Number(process.env.RETRIEVAL_TEST_SEED ?? 7);

let pg: TestPostgres | undefined;
let dir: string | undefined;
let replica: RetrievalReplica | undefined;
let results: RetrievalResults;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "em-retrieval-"));
  pg = await createTestPostgres();
  replica = await buildRetrievalReplica(pg, dir, { rows: ROWS, dim: 384, clusters: clustersFor(ROWS), queries: QUERIES, seed: SEED }, () => undefined);
  results = await runAllKinds(replica.memory, replica.book, ["relevance", "legacy"], 2, () => undefined);
}, 240_000);

afterAll(async () => {
  await replica?.memory.stop();
  await pg?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The relevance ranking's figures for a kind, with the legacy ranking's beside them (for the message). */
function figures(kind: Kind): { r: KindResult; detail: string } {
  const r = results[kind].relevance;
  const l = results[kind].legacy;
  const detail = `${kind}: invariant ${r.invariantFailures}/${r.queries} failed (rate ${r.invariantRate}; legacy ${l.invariantRate}), first ${r.firstRate}, MRR@10 ${r.mrrAt10} (legacy ${l.mrrAt10}), mean results ${r.meanResults}; first failures ${JSON.stringify(r.failed)}`;
  return { r, detail };
}

function expectInvariant(kind: Kind): void {
  const { r, detail } = figures(kind);
  expect(r.queries, `${kind}: queries generated`).toBeGreaterThanOrEqual(Math.min(QUERIES, 10));
  expect(r.unexpectedMethod, `${kind}: answered with another search_method`).toBe(0);
  expect(r.invariantRate, detail).toBe(1);
}

describe(`retrieval invariants on ${ROWS} synced rows (seed ${SEED}, ${QUERIES} queries per kind)`, () => {
  test("A query vector equal to a stored embedding returns that memory first.", () => expectInvariant("vector-exact"));

  test("A term found in one memory only returns that memory first.", () => expectInvariant("unique-term"));

  test("A query of a common word, a plural and a term one memory holds returns that memory first.", () => expectInvariant("common-rare"));

  test("A memory's own words, shuffled and inflected, return it first when it is their only all-words match.", () => expectInvariant("reordered-inflected"));

  test("For two common words, every one of the top 10 results holds both words.", () => expectInvariant("common-pair"));

  test("Equally relevant memories come back more important first, then more recent first.", () => expectInvariant("tie"));

  test("A query made of words no memory contains returns no results.", () => {
    const { r, detail } = figures("nonsense");
    expect(r.queriesWithResults, detail).toBe(0);
  });
});
