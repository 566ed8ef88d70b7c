/**
 * A search never waits on an embeddings endpoint that is silent or down: the query's embedding
 * has a short deadline, the search answers by full text, and the next searches skip the endpoint
 * at once until a cool-down has passed — then it is tried again. A small real OpenAI-compatible
 * server on loopback plays the endpoint (it can go silent: requests read, never answered).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { makeSearch } from "../src/search/Search.ts";
import { makeEmbedder } from "../src/search/embedding/Embedder.ts";
import { createLogger } from "../src/observability/logger.ts";
import { buildCorpus, DIM } from "./support/corpus.ts";
import { startFakeOpenAi, type FakeOpenAi } from "./support/fakeOpenAi.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(fake: FakeOpenAi, clock: { now: number }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "embedder-down-"));
  const store = makeLocalStore(path.join(dir, "replica.db"));
  const embedder = makeEmbedder({ provider: "openai", baseUrl: fake.baseUrl, model: "m", dim: DIM })!;
  const search = makeSearch({
    store,
    table: "unified_ai_memory",
    embedder,
    status: () => ({ state: "idle", complete: true }),
    logger: createLogger({ level: "silent" }),
    queryEmbedding: { timeoutMs: 300, cooldownMs: 10_000, now: () => clock.now },
  });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => store.close(), () => search.close());
  const corpus = buildCorpus(store, 7, 2, 10);
  return { search, corpus };
}

describe("an embeddings endpoint that is silent or down", () => {
  test("The first search waits only the query deadline and answers by full text; the next ones skip the endpoint until the cool-down has passed, then use it again.", async () => {
    const fake = await startFakeOpenAi(DIM);
    cleanups.push(() => fake.close());
    const clock = { now: 1_000_000 };
    const { search, corpus } = await setUp(fake, clock);
    const query = corpus.queries.find((q) => q.kind === "keyword")!.text;
    fake.silence(true);

    const started = performance.now();
    const first = await search.search({ query, limit: 5 });
    const firstMs = performance.now() - started;
    expect(fake.calls).toHaveLength(1); // the endpoint was asked (and never answered)
    expect(firstMs).toBeGreaterThanOrEqual(250);
    expect(firstMs).toBeLessThan(5_000);
    expect(first.search_method).toBe("fts");
    expect(first.results.length).toBeGreaterThan(0);

    for (let i = 0; i < 5; i++) expect((await search.search({ query, limit: 5 })).search_method).toBe("fts");
    expect(fake.calls).toHaveLength(1); // skipped at once during the cool-down

    fake.silence(false);
    clock.now += 10_001;
    const after = await search.search({ query, limit: 5 });
    expect(fake.calls).toHaveLength(2);
    expect(after.search_method).toBe("hybrid");
  });
});
