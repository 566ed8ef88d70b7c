import path from "node:path";
import { EventEmitter } from "node:events";
import { describe, test as plain } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { buildCorpus, DIM, memoryRow, writeRows, type CorpusQuery } from "./support/corpus.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { makeSearch, type SearchService } from "../src/search/Search.ts";
import { createLogger } from "../src/observability/logger.ts";
import { memoryTableDescriptor } from "../src/schema/tableDescriptor.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { ftsMatch, ftsTerms } from "../src/search/ftsQuery.ts";
import { vectorToBlob } from "../src/search/vectors/VectorIndex.ts";
import { postRaw } from "./support/http.ts";
import { decodeInput, SearchRequest } from "../src/index.ts";

const silent = createLogger({ level: "silent" });
/** encodeURIComponent throws on a lone surrogate: send its (invalid) UTF-8 bytes raw instead. */
const safeEncode = (q: string) => {
  try {
    return encodeURIComponent(q);
  } catch {
    return "%ED%A0%80";
  }
};
const SEED = Number(process.env.SEARCH_SEED ?? 20261125);

function open(tmp: string, complete = true) {
  const store = makeLocalStore(path.join(tmp, "search.db"));
  const search = makeSearch({ store, table: "unified_ai_memory", embedder: undefined, status: () => ({ state: complete ? "idle" : "empty", complete }), logger: silent });
  return { store, search, close: () => (search.close(), store.close()) };
}

/** Mean reciprocal rank of the expected memory within the top 10 (0 when absent). */
async function mrr(search: SearchService, queries: CorpusQuery[], method: "fts" | "vector" | "auto"): Promise<{ mrr: number; firsts: number; recall5: number }> {
  let sum = 0;
  let firsts = 0;
  let recall5 = 0;
  for (const q of queries) {
    const r = await search.search({ query: q.text, embedding: Array.from(q.vector), limit: 10, method, trackAccess: false });
    const rank = r.results.findIndex((m) => m.id === q.expected) + 1;
    if (rank > 0) sum += 1 / rank;
    if (rank === 1) firsts++;
    if (rank > 0 && rank <= 5) recall5++;
  }
  return { mrr: sum / queries.length, firsts, recall5: recall5 / queries.length };
}

describe("relevance", () => {
  test(`On a seeded corpus the expected memory ranks first for keyword and for vector queries, and hybrid beats both single methods by MRR (seed ${SEED}).`, async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    try {
      const corpus = buildCorpus(store, SEED);
      const keyword = corpus.queries.filter((q) => q.kind === "keyword");
      const vector = corpus.queries.filter((q) => q.kind === "vector");
      expect(keyword.length).toBeGreaterThan(5);
      expect(vector.length).toBeGreaterThan(5);

      expect((await mrr(search, keyword, "fts")).firsts, "keyword queries, full-text").toBe(keyword.length);
      expect((await mrr(search, vector, "vector")).firsts, "vector queries, vectors").toBe(vector.length);

      const all = corpus.queries;
      const [ftsOnly, vecOnly, hybrid] = [await mrr(search, all, "fts"), await mrr(search, all, "vector"), await mrr(search, all, "auto")];
      console.info(`MRR@10 fts ${ftsOnly.mrr.toFixed(3)}, vector ${vecOnly.mrr.toFixed(3)}, hybrid ${hybrid.mrr.toFixed(3)}; recall@5 hybrid ${hybrid.recall5}`);
      expect(hybrid.mrr).toBeGreaterThan(ftsOnly.mrr + 0.2);
      expect(hybrid.mrr).toBeGreaterThan(vecOnly.mrr + 0.2);
      expect(hybrid.mrr).toBeGreaterThanOrEqual(0.95);
      expect(hybrid.recall5).toBeGreaterThanOrEqual(0.95);
      const one = await search.search({ query: keyword[0]!.text, embedding: Array.from(keyword[0]!.vector), trackAccess: false });
      expect(one.search_method).toBe("hybrid");
    } finally {
      close();
    }
  });

  test("Importance and recency lift a memory among otherwise equal matches.", async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    try {
      const now = new Date().toISOString().replace("Z", "000Z");
      const low = memoryRow({ content: JSON.stringify({ text: "gardening tips tomatoes" }), importance_score: 0.1, created_at: "2020-01-01T00:00:00.000000Z" });
      const important = memoryRow({ content: JSON.stringify({ text: "gardening tips tomatoes" }), importance_score: 0.95, created_at: "2020-01-01T00:00:00.000000Z" });
      const recent = memoryRow({ content: JSON.stringify({ text: "gardening tips tomatoes" }), importance_score: 0.1, created_at: now });
      writeRows(store, [low, important, recent]);
      const ids = (await search.search({ query: "gardening tomatoes", trackAccess: false })).results.map((r) => r.id);
      expect(ids[ids.length - 1]).toBe(low.id);
      expect(ids.slice(0, 2)).toEqual(expect.arrayContaining([important.id, recent.id]));
    } finally {
      close();
    }
  });
});

describe("filters and lifecycle", () => {
  test("A tenant-filtered search never returns another tenant's row, by any method; other filters are exact too.", async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    try {
      const [t1, t2] = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"];
      const v = vectorToBlob(Float32Array.from({ length: DIM }, (_, i) => (i % 2 ? 1 : -1)));
      const rows = [t1, t2, null].flatMap((tenant) =>
        Array.from({ length: 30 }, (_, i) =>
          memoryRow({ tenant_id: tenant, embedding: v, content: JSON.stringify({ text: `shared words everywhere ${i}` }), memory_type: i % 2 ? "episodic" : "semantic", source_agent: `a${i % 3}`, importance_score: (i % 10) / 10, tags: JSON.stringify(i % 4 === 0 ? ["red", "blue"] : ["red"]) }),
        ),
      );
      writeRows(store, rows);
      const vector = Array.from({ length: DIM }, (_, i) => (i % 2 ? 1 : -1));
      for (const method of ["fts", "vector", "auto"] as const) {
        const r = await search.search({ query: "shared words", embedding: vector, method, limit: 100, filters: { tenant_id: t1 }, trackAccess: false });
        expect(r.results.length).toBe(60);
        expect(r.results.every((m) => m.tenant_id === t1 || m.tenant_id === null)).toBe(true);
      }
      const f = await search.search({ query: "shared", limit: 100, filters: { tenant_id: t2, memory_type: "episodic", source_agent: "a1", min_importance: 0.5, tags: ["blue"] }, trackAccess: false });
      const expected = rows.filter((m) => (m.tenant_id === t2 || m.tenant_id === null) && m.memory_type === "episodic" && m.source_agent === "a1" && (m.importance_score as number) >= 0.5 && String(m.tags).includes("blue"));
      expect(f.results.map((m) => m.id).sort()).toEqual(expected.map((m) => String(m.id)).sort());
    } finally {
      close();
    }
  });

  test("Expired rows are never returned, and a search before the first copy completes says so.", async ({ tmp }) => {
    const { store, search, close } = open(tmp, false);
    try {
      writeRows(store, [
        memoryRow({ content: JSON.stringify({ text: "ephemeral fact" }), expires_at: "2000-01-01T00:00:00.000000Z" }),
        memoryRow({ content: JSON.stringify({ text: "durable fact" }) }),
      ]);
      const r = await search.search({ query: "fact" });
      expect(r.results.map((m) => (m.content as { text: string }).text)).toEqual(["durable fact"]);
      expect(r).toMatchObject({ complete: false, state: "empty", search_method: "fts" });
    } finally {
      close();
    }
  });

  test("Expired and archived rows among the most relevant candidates leave their places to the next ones, by every method.", async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    try {
      const base = Float32Array.from({ length: DIM }, (_, i) => Math.sin(i + 1));
      // Row i points further from `base` as i grows; the hidden rows are the nearest and hold the term most often.
      const near = (i: number) => vectorToBlob(Float32Array.from(base, (x, d) => x + 0.2 * i * Math.cos(3 * d + i)));
      const hidden = Array.from({ length: 6 }, (_, i) =>
        memoryRow({ content: JSON.stringify({ text: "lantern lantern lantern" }), embedding: near(i * 0.1), ...(i % 2 ? { archived: 1 } : { expires_at: "2000-01-01T00:00:00.000000Z" }) }),
      );
      const shown = Array.from({ length: 40 }, (_, i) => memoryRow({ content: JSON.stringify({ text: `lantern ${"filler ".repeat(1 + i)}` }), embedding: near(1 + i), importance_score: (i % 5) / 5 }));
      writeRows(store, [...hidden, ...shown]);
      const hiddenIds = new Set(hidden.map((r) => r.id));
      for (const request of [{ query: "lantern" }, { embedding: Array.from(base) }, { query: "lantern", embedding: Array.from(base) }]) {
        const top = await search.search({ ...request, limit: 3, trackAccess: false });
        const wide = await search.search({ ...request, limit: 40, trackAccess: false });
        expect(top.results).toHaveLength(3);
        expect(top.results.some((m) => hiddenIds.has(m.id))).toBe(false);
        expect(top.results).toEqual(wide.results.slice(0, 3));
      }
    } finally {
      close();
    }
  });

  test("Returned memories are counted as local access deltas, not rewrites of the synced row.", async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    try {
      const row = memoryRow({ content: JSON.stringify({ text: "counted thing" }), access_count: 7 });
      writeRows(store, [row]);
      await search.search({ query: "counted" });
      await search.search({ query: "counted" });
      await search.search({ query: "counted", trackAccess: false });
      expect(store.unsafeHandle().prepare("SELECT delta FROM access_deltas WHERE id = ?").pluck().get(row.id)).toBe(2);
      expect(store.unsafeHandle().prepare("SELECT access_count FROM unified_ai_memory WHERE id = ?").pluck().get(row.id)).toBe(7);
    } finally {
      close();
    }
  });
});

describe("hostile input", () => {
  plain("User text becomes quoted terms: FTS syntax is searched as words, never parsed.", () => {
    expect(ftsTerms('title:"x" AND (y* OR NEAR(z w)) NOT q')).toEqual(["title", "x", "and", "y", "or", "near", "z", "w", "not", "q"]);
    expect(ftsMatch(["a", "or"], "any")).toBe('"a" OR "or"');
    expect(ftsTerms("🙂🔥 \u0000\u001f")).toEqual([]);
    expect(ftsTerms("x ".repeat(5000)).length).toBe(1);
    expect(ftsTerms("naïve café 東京").length).toBe(3);
  });

  test("Hostile queries over HTTP answer 200 with results or none, or a 4xx naming the field — never a 5xx.", async ({ tmp }) => {
    const { store, search, close } = open(tmp);
    const unused = async () => { throw new Error("not used by this test"); };
    const api = { search: (r: SearchRequest) => search.search(decodeInput(SearchRequest, r)), stats: () => ({}) as never, ready: () => true, state: () => "idle" as const, forceSync: unused, store: unused, get: unused, remove: unused, table: () => ({ name: "", get: unused, list: unused }), events: new EventEmitter(), machines: () => ({ sync: { state: "idle", attempt: 0, lastError: null }, upload: { state: "idle", attempt: 0, lastError: null } }) };
    const server = await startHttpServer(createHttpApp(api, { apiKeys: ["k"], logger: silent }), "127.0.0.1", 0);
    try {
      buildCorpus(store, 7, 2, 10);
      const hostile = ['"', '""', "*", "a*", "AND", "OR OR", "NOT x", "NEAR(a b)", "(", ")", "body:code", "col:val", "'; DROP TABLE unified_ai_memory; --", "SELECT * FROM memory_fts", "x".repeat(10_000), "\u0000\u0001\u001f", "🙂🔥", "naïve café 東京", "\u202eRTL", "\ud800", "%00", "a\"b'c"];
      for (const q of hostile) {
        for (const res of [
          await fetch(`${server.url}/memory/search?q=${safeEncode(q)}`, { headers: { "x-api-key": "k" } }),
          await fetch(`${server.url}/memory/search`, { method: "POST", headers: { "x-api-key": "k", "content-type": "application/json" }, body: JSON.stringify({ query: q }) }),
        ]) {
          expect(res.status, JSON.stringify(q.slice(0, 20))).toBe(200);
          const body = (await res.json()) as { results: unknown[]; search_method: string };
          expect(Array.isArray(body.results)).toBe(true);
        }
      }
      const post = (body: unknown) => fetch(`${server.url}/memory/search`, { method: "POST", headers: { "x-api-key": "k", "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
      const bad: [unknown, string][] = [
        ["{not json", "body"],
        [[1, 2], "body"],
        [{ query: 5 }, "query"],
        [{ limit: "ten" }, "limit"],
        [{ embedding: [1, 2, 3] }, "embedding"],
        [{ embedding: ["a"] }, "embedding"],
        [{ filters: { tenant_id: "nope" } }, "tenant_id"],
        [{ filters: { min_importance: 7 } }, "min_importance"],
        [{ filters: { colour: "red" } }, "filters.colour"],
        [{ surprise: true }, "surprise"],
      ];
      for (const [body, field] of bad) {
        const res = await post(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(((await res.json()) as { error: string }).error).toContain(field);
      }
      const wrongDim = (await (await post({ embedding: [1, 2, 3] })).json()) as { error: string };
      expect(wrongDim.error).toMatch(/has 3 dimensions, the replica's vectors have 32/);
      expect(await postRaw(`${server.url}/memory/search`, { "x-api-key": "k", "content-type": "application/json" }, "x".repeat(3 * 1024 * 1024))).toBe(413);
      const clamped = (await (await fetch(`${server.url}/memory/search?q=code&limit=100000`, { headers: { "x-api-key": "k" } })).json()) as { results: unknown[] };
      expect(clamped.results.length).toBeLessThanOrEqual(100);
      expect((await fetch(`${server.url}/memory/search?q=code&limit=abc`, { headers: { "x-api-key": "k" } })).status).toBe(400);
      expect((await fetch(`${server.url}/memory/search?q=code`)).status).toBe(401);
    } finally {
      await server.close();
      close();
    }
  });
});

void memoryTableDescriptor;
