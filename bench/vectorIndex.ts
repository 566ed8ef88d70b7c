/**
 * Which vector index, measured: recall@10 against exact brute-force cosine, latency per query
 * (index part, in-process), build time and memory of each candidate (bench/vectorIndexMethods.ts)
 * on three distributions (bench/vectorIndexData.ts) at 100k × 384 and 30k × 1536 (100k × 1536
 * float32 would be 600 MB of raw floats in this process alone; 30k is 180 MB).
 *
 *   node bin/run-ts.js bench/vectorIndex.ts [--quick] [--seed N] [--sizes 100000x384,30000x1536]
 *
 * HNSW is measured when hnswlib-node is installed in HNSW_DIR (a throwaway folder: it needs a
 * native build, so it is not a dependency). The re-rank here reads floats from memory; what
 * reading `C` BLOBs from SQLite costs (vectorStore's look-up) is measured once, apart.
 * Writes bench/results/vectorIndex.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { prng } from "../src/dev/prng.ts";
import { DISTRIBUTIONS, makeDataSet, type DataSet, type DistName } from "./vectorIndexData.ts";
import { hnswMethod, int8Method, loadInt8Kernel, productionMethod, signMethod, type Method } from "./vectorIndexMethods.ts";
import { MB, distribution, fullGc, round } from "./util.ts";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const quick = process.argv.includes("--quick");
const seed = Number(arg("seed") ?? process.env.BENCH_SEED ?? 20_251);
const sizes = (arg("sizes") ?? (quick ? "20000x384,8000x1536" : "100000x384,30000x1536")).split(",").map((s) => s.split("x").map(Number) as [number, number]);
const HELD_OUT = 150;
const OWN = 50;
const K = 10;
const say = (s: string) => console.log(s);
/** `--only 0,3`: just those entries of methodsFor (a quicker look while tuning). */
const only = arg("only")?.split(",").map(Number);
const dists = (arg("dists")?.split(",") ?? DISTRIBUTIONS) as readonly DistName[];
let methodNo = 0;

/** The exact top K of each query (brute force; rows are unit vectors). */
function exactTop(ds: DataSet, q: Float32Array): number[] {
  const top: { i: number; s: number }[] = [];
  for (let i = 0; i < ds.n; i++) {
    let s = 0;
    const o = i * ds.dim;
    for (let d = 0; d < ds.dim; d++) s += ds.rows[o + d]! * q[d]!;
    if (top.length === K && s <= top[K - 1]!.s) continue;
    top.push({ i, s });
    top.sort((a, b) => b.s - a.s);
    if (top.length > K) top.pop();
  }
  return top.map((t) => t.i);
}

interface Row {
  readonly size: string;
  readonly dist: DistName;
  readonly method: string;
  readonly recallAt10: number;
  readonly minRecall: number;
  readonly ownFirst: string;
  readonly p50: number;
  readonly p99: number;
  readonly buildS: number;
  readonly indexMB: number;
}

function methodsFor(ds: DataSet): (() => Method | undefined)[] {
  return [
    () => signMethod(ds, false, 200),
    () => signMethod(ds, true, 200),
    () => signMethod(ds, true, 500),
    () => int8Method(ds, 50),
    () => int8Method(ds, 50, 2000),
    () => int8Method(ds, 50, 5000),
    () => productionMethod(ds, 200),
    () => hnswMethod(ds, process.env.HNSW_DIR, 100),
  ];
}

function measure(size: string, dist: DistName, ds: DataSet, truth: number[][], queries: Float32Array[], make: () => Method | undefined, only: number[] | undefined): Row | undefined {
  if (only && !only.includes(methodNo++)) return undefined;
  fullGc();
  const t0 = performance.now();
  const m = make();
  const buildS = (performance.now() - t0) / 1000;
  if (!m) return undefined;
  for (let i = 0; i < 20; i++) m.search(queries[queries.length - 1 - i]!, K); // warm-up
  const ms: number[] = [];
  const recalls: number[] = [];
  let own = 0;
  queries.forEach((q, qi) => {
    const t = performance.now();
    const got = m.search(q, K);
    ms.push(performance.now() - t);
    const exact = new Set(truth[qi]);
    recalls.push(got.filter((i) => exact.has(i)).length / K);
    if (qi >= HELD_OUT && got[0] === ds.own[qi - HELD_OUT]) own++;
  });
  const d = distribution(ms);
  const row: Row = {
    size,
    dist,
    method: m.name,
    recallAt10: round(recalls.reduce((a, b) => a + b, 0) / recalls.length, 4),
    minRecall: Math.min(...recalls),
    ownFirst: `${own}/${OWN}`,
    p50: d.p50,
    p99: d.p99,
    buildS: round(buildS, 2),
    indexMB: round(m.bytes() / MB, 1),
  };
  say(`  ${m.name.padEnd(32)} recall@10 ${row.recallAt10.toFixed(3)} (min ${row.minRecall}) own-first ${row.ownFirst}  p50 ${row.p50} ms p99 ${row.p99} ms  build ${row.buildS} s  ${row.indexMB} MB`);
  return row;
}

/** What vectorStore's look-up (json_each IN, BLOBs from SQLite) costs for `c` ids at `dim`. */
function lookupCost(n: number, dim: number): Record<string, number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vecbench-"));
  const db = new Database(path.join(dir, "v.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE m (id TEXT PRIMARY KEY, embedding BLOB)");
    const ins = db.prepare("INSERT INTO m VALUES (?, ?)");
    const rand = prng(seed);
    db.transaction(() => {
      for (let i = 0; i < n; i++) ins.run(`id-${i}`, Buffer.from(Float32Array.from({ length: dim }, rand).buffer));
    })();
    const stmt = db.prepare("SELECT m.id AS id, m.embedding AS v FROM m WHERE m.id IN (SELECT value FROM json_each(?))");
    const out: Record<string, number> = {};
    for (const c of [50, 100, 200, 500]) {
      const ms: number[] = [];
      for (let r = 0; r < 60; r++) {
        const ids = Array.from({ length: c }, () => `id-${Math.floor(rand() * n)}`);
        const t = performance.now();
        for (const row of stmt.all(JSON.stringify(ids)) as { v: Buffer }[]) new Float32Array(row.v.buffer.slice(row.v.byteOffset, row.v.byteOffset + row.v.byteLength));
        if (r >= 10) ms.push(performance.now() - t);
      }
      out[`C=${c}`] = distribution(ms).p50;
    }
    return out;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

say(`vector index benchmark, seed ${seed}, sizes ${sizes.map(([n, d]) => `${n}x${d}`).join(", ")}${process.env.HNSW_DIR ? `, hnswlib-node from ${process.env.HNSW_DIR}` : " (HNSW_DIR unset: no hnsw)"}`);
await loadInt8Kernel();
const rows: Row[] = [];
const lookups: Record<string, Record<string, number>> = {};
for (const [n, dim] of sizes) {
  const size = `${n}x${dim}`;
  for (const dist of dists) {
    methodNo = 0;
    const t = performance.now();
    const ds = makeDataSet(dist, n, dim, HELD_OUT, OWN, seed + dim + DISTRIBUTIONS.indexOf(dist));
    const queries = [...ds.heldOut, ...ds.own.map((i) => ds.rows.slice(i * dim, (i + 1) * dim))];
    const truth = queries.map((q) => exactTop(ds, q));
    say(`${size} ${dist}: data + exact top ${K} of ${queries.length} queries in ${round((performance.now() - t) / 1000, 1)} s`);
    for (const make of methodsFor(ds)) {
      const r = measure(size, dist, ds, truth, queries, make, only);
      if (r) rows.push(r);
    }
  }
  lookups[size] = lookupCost(n, dim);
  say(`${size}: SQLite look-up of C BLOBs (p50 ms) ${JSON.stringify(lookups[size])}`);
}
console.table(rows);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/vectorIndex.json", JSON.stringify({ seed, sizes, heldOutQueries: HELD_OUT, ownQueries: OWN, k: K, rows, sqliteLookupP50Ms: lookups, rssMB: round(process.memoryUsage().rss / MB, 0) }, null, 2));
say("wrote bench/results/vectorIndex.json");
