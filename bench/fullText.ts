/**
 * Full-text candidates (src/search/fullText.ts) against exact BM25, and their cost.
 *
 *   node bin/run-ts.js bench/fullText.ts [--rows 10000,100000] [--seed N] [--queries 100]
 *
 * Corpus per size, seeded: ~15–30 words a row — six common words (each in 1/6 of rows), a
 * 5,000-word Zipf background, rare words (each in 1–3 rows); every word is a made-up base
 * written inflected at random (base, +s, +ing, +ed: porter folds them to the base).
 * Query kinds: one rare word; two common words; common word + background plural + rare word
 * (the case); six words taken from one row. For each: agreement with exact BM25 top 10
 * (FTS5 `ORDER BY bm25` over an OR of every term, no candidate limit) — the share of the top 10
 * whose BM25 is at least the exact 10th (tie-proof) — for the new candidates and for the
 * previous ones (300 newest all-words matches, then 300 newest any-word matches), and latency.
 * Also the write cost of the index (CPU µs per inserted row), migration-4 schema vs now.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { prng } from "../src/dev/prng.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { LOCAL_MIGRATIONS } from "../src/store/migrations.ts";
import { makeFullText, FTS_CANDIDATES } from "../src/search/fullText.ts";
import { filterSql } from "../src/search/filters.ts";
import { ftsMatch, ftsTerms } from "../src/search/ftsQuery.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg("rows", "10000,100000").split(",").map(Number);
const SEED = Number(arg("seed", "20261201"));
const QUERIES = Number(arg("queries", "100"));
const TABLE = "unified_ai_memory";
const KINDS = ["rare", "twoCommon", "commonRare", "sixWords"] as const;
type Kind = (typeof KINDS)[number];

const SYL = [..."bdfglmnrstvz"].flatMap((c) => [..."aeiou"].map((v) => c + v));
const base = (prefix: string, i: number) => {
  let s = prefix;
  for (let n = i, k = 0; k < 3; k++, n = Math.floor(n / SYL.length)) s += SYL[n % SYL.length];
  return s + (i % 2 ? "k" : "p");
};
const SUFFIX = ["", "s", "ing", "ed"];

function corpus(rows: number, seed: number) {
  const rand = prng(seed);
  const inflect = (w: string) => w + SUFFIX[Math.floor(rand() * SUFFIX.length)];
  const common = Array.from({ length: 6 }, (_, i) => base("c", i));
  const background = Array.from({ length: 5000 }, (_, i) => base("b", i));
  const zipf = background.map((_, i) => (i + 1) ** -1.07);
  const total = zipf.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cdf = zipf.map((z) => (acc += z / total));
  const pick = () => {
    const x = rand();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return background[lo]!;
  };
  const rare = Array.from({ length: Math.floor(rows / 10) }, (_, i) => base("r", i) + "o" + base("", i));
  const rareIn = new Map<number, string[]>();
  for (const w of rare) for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
    const r = Math.floor(rand() * rows);
    rareIn.set(r, [...(rareIn.get(r) ?? []), w]);
  }
  const texts: string[][] = [];
  for (let r = 0; r < rows; r++) {
    const words = Array.from({ length: 12 + Math.floor(rand() * 14) }, pick);
    for (const c of common) if (rand() < 1 / 6) words.push(c);
    words.push(...(rareIn.get(r) ?? []));
    texts.push(words);
  }
  const rareRows = [...rareIn.keys()];
  const query = (kind: Kind): string[] => {
    const c = () => common[Math.floor(rand() * common.length)]!;
    const rr = () => rareIn.get(rareRows[Math.floor(rand() * rareRows.length)]!)![0]!;
    if (kind === "rare") return [inflect(rr())];
    if (kind === "twoCommon") {
      const a = c();
      let b = c();
      while (b === a) b = c();
      return [inflect(a), inflect(b)];
    }
    if (kind === "commonRare") return [inflect(c()), pick() + "s", inflect(rr())];
    const row = texts[Math.floor(rand() * rows)]!;
    return Array.from({ length: 6 }, () => inflect(row[Math.floor(rand() * row.length)]!));
  };
  return { texts: texts.map((w) => w.map(inflect).join(" ")), query };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3)) : 0;
};

function writeCost(file: string, texts: readonly string[], upTo: number): number {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  for (const m of LOCAL_MIGRATIONS.filter((x) => x.version <= upTo)) db.exec(m.sql);
  const ins = db.prepare(`INSERT INTO ${TABLE} (id, content, tags) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET content = excluded.content, tags = excluded.tags`);
  const tx = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) ins.run(`id-${String(i).padStart(8, "0")}`, JSON.stringify({ text: texts[i] }), '["bench"]');
  });
  const c0 = process.cpuUsage();
  for (let i = 0; i < texts.length; i += 1000) tx(i, Math.min(texts.length, i + 1000));
  const c = process.cpuUsage(c0);
  db.close();
  return (c.user + c.system) / texts.length;
}

const results: Record<string, unknown>[] = [];
console.log(`bench/fullText.ts seed ${SEED}, ${QUERIES} queries per kind`);
for (const rows of SIZES) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-fulltext-"));
  try {
    const { texts, query } = corpus(rows, SEED + rows);
    const writeRows = Math.min(rows, 20_000);
    const before = writeCost(path.join(dir, "v4.db"), texts.slice(0, writeRows), 4);
    const after = writeCost(path.join(dir, "now.db"), texts.slice(0, writeRows), LOCAL_MIGRATIONS.at(-1)!.version);
    const bare = writeCost(path.join(dir, "bare.db"), texts.slice(0, writeRows), 1);
    console.log(`\n${rows} rows — index write cost (CPU µs per inserted row, ${writeRows} rows): no FTS ${bare.toFixed(1)}, migration 4 ${before.toFixed(1)}, now ${after.toFixed(1)}`);

    const file = path.join(dir, "replica.db");
    const store = makeLocalStore(file);
    const db = store.unsafeHandle();
    const ins = db.prepare(`INSERT INTO ${TABLE} (id, content, tags) VALUES (?, ?, '["bench"]')`);
    db.transaction(() => texts.forEach((t, i) => ins.run(`id-${String(i).padStart(8, "0")}`, JSON.stringify({ text: t }))))();
    const ft = makeFullText(store, TABLE);
    const filter = filterSql({});
    const exact = db.prepare("SELECT -bm25(memory_fts, 1.0, 0.5) FROM memory_fts WHERE memory_fts MATCH ? ORDER BY bm25(memory_fts, 1.0, 0.5) LIMIT 10").pluck();
    const scoreOf = db.prepare("SELECT -bm25(memory_fts, 1.0, 0.5) FROM memory_fts WHERE memory_fts MATCH ? AND rowid = (SELECT rid FROM memory_rowids WHERE id = ?)").pluck();
    const oldList = db.prepare(
      `SELECT r.id AS id, -bm25(memory_fts, 1.0, 0.5) AS s FROM memory_fts JOIN memory_rowids r ON r.rid = memory_fts.rowid JOIN ${TABLE} m ON m.id = r.id
       WHERE memory_fts MATCH ? AND ${filter.where} ORDER BY memory_fts.rowid DESC LIMIT ${FTS_CANDIDATES}`,
    );
    const previous = (terms: string[]): string[] => {
      const top = (m: string) => (oldList.all(m, ...filter.params) as { id: string; s: number }[]).sort((a, b) => b.s - a.s).slice(0, 30).map((r) => r.id);
      const all = top(ftsMatch(terms, "all"));
      if (all.length >= 30 || terms.length === 1) return all;
      return [...all, ...top(ftsMatch(terms, "any")).filter((id) => !all.includes(id))];
    };
    const agreement = (match: string, ids: string[], tenth: number, n: number) =>
      ids.slice(0, n).filter((id) => ((scoreOf.get(match, id) as number | undefined) ?? -Infinity) >= tenth - 1e-9).length / n;

    for (const kind of KINDS) {
      const ms: number[] = [];
      const exactMs: number[] = [];
      const agreeNew: number[] = [];
      const agreeOld: number[] = [];
      for (let q = 0; q < QUERIES; q++) {
        const terms = ftsTerms(query(kind).join(" "));
        const t0 = performance.now();
        const hits = ft.search(terms, filter, 30);
        ms.push(performance.now() - t0);
        const match = ftsMatch(terms, "any");
        const t1 = performance.now();
        const best = exact.all(match) as number[];
        exactMs.push(performance.now() - t1);
        if (best.length === 0) continue;
        const n = best.length;
        agreeNew.push(agreement(match, hits.map((h) => h.id), best[n - 1]!, n));
        agreeOld.push(agreement(match, previous(terms), best[n - 1]!, n));
      }
      const mean = (xs: number[]) => Number((xs.reduce((a, b) => a + b, 0) / (xs.length || 1)).toFixed(3));
      const r = { rows, kind, queries: QUERIES, agreementTop10: mean(agreeNew), previousAgreementTop10: mean(agreeOld), p50Ms: pct(ms, 50), p99Ms: pct(ms, 99), exactP50Ms: pct(exactMs, 50), exactP99Ms: pct(exactMs, 99) };
      results.push(r);
    }
    results.push({ rows, kind: "writeCost", writeRows, cpuUsPerRow: { noFts: Number(bare.toFixed(2)), migration4: Number(before.toFixed(2)), now: Number(after.toFixed(2)) } });
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log("\n| rows | query | agreement@10 new | previous | p50 ms | p99 ms | exact p50 ms | exact p99 ms |\n|---|---|---|---|---|---|---|---|");
for (const r of results) if (r.kind !== "writeCost") console.log(`| ${r.rows} | ${r.kind} | ${r.agreementTop10} | ${r.previousAgreementTop10} | ${r.p50Ms} | ${r.p99Ms} | ${r.exactP50Ms} | ${r.exactP99Ms} |`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/fullText.json", JSON.stringify({ seed: SEED, queriesPerKind: QUERIES, results }, null, 2));
console.log("\nwritten bench/results/fullText.json");
