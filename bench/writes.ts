/**
 * Write-path benchmark (`node bin/run-ts.js bench/writes.ts`), on an embedded Postgres
 * started (and destroyed) here:
 *
 * 1. Local write latency: `await m.store(memory)` one at a time (yielding to the event loop
 *    between writes, so the upload machine runs alongside), with the master up, and again
 *    with the master down (a replica pointed at a port where nothing listens).
 * 2. Upload throughput: 10,000 writes queued while `embedded_memory.upload_receipts` is
 *    locked by another session, then the lock released and the time until the outbox is
 *    empty (`stats().outbox.pending === 0`), against the same number of rows INSERTed on the
 *    master one by one (one pg.Client, autocommit, same columns and parameter types as the
 *    uploader's upsert). Alternating runs, medians.
 * 3. Verification: the master holds every expected row exactly once (by content text, per
 *    run), and none of the master-down writes.
 *
 * Prints a table; writes bench/results/writes.json.
 *
 * Environment (all optional):
 *   BENCH_WRITES=2000         measured writes per latency series
 *   BENCH_WRITES_WARMUP=100   unmeasured writes before each series
 *   BENCH_DIM=384             embedding dimensions of the second latency series
 *   BENCH_UPLOAD_ROWS=10000   rows per upload run and per direct-INSERT run
 *   BENCH_UPLOAD_DIM=0        embedding dimensions of those rows (0: none)
 *   BENCH_UPLOAD_RUNS=2       runs of each (upload, direct, protocol, upload, direct, …)
 *   BENCH_PROTOCOL=1          also time the uploader's statement sequence from a plain pg
 *                             client (diagnostic: the floor its round trips set); 0 = skip
 *   BENCH_OUT=path            where the JSON goes (default bench/results/writes.json)
 *   BENCH_CPU_PROFILE=path    write a .cpuprofile of this process during upload drain #1
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import inspector from "node:inspector/promises";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory, type TransitionEvent } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { introspectColumnsSql, type MasterColumn } from "../src/master/columnsSql.ts";
import { qualified, receiptSql } from "../src/master/masterSql.ts";
import { TableQueries } from "../src/master/tableQueries.ts";
import { memoryTableDescriptor } from "../src/schema/tableDescriptor.ts";
import { createTestPostgres, freePort, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster } from "../test/support/seed.ts";
import { distribution, immediate, median, round, table, waitFor, type Distribution, machineInfo, benchSession, envInt } from "./util.ts";
import { directInsert, directRow, directValues, makeMemories, type BenchMemory } from "./writeData.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const TABLE = "unified_ai_memory";
/** Outbox entries per master transaction (the replica's default `uploadBatchSize`). */
const BATCH = makeConfig().uploadBatchSize;

const opts = {
  writes: envInt("BENCH_WRITES", 2_000),
  warmup: envInt("BENCH_WRITES_WARMUP", 100, 0),
  dim: envInt("BENCH_DIM", 384),
  uploadRows: envInt("BENCH_UPLOAD_ROWS", 10_000),
  uploadDim: envInt("BENCH_UPLOAD_DIM", 0, 0),
  runs: envInt("BENCH_UPLOAD_RUNS", 2),
  /** Also time the uploader's statement sequence from a plain client (diagnostic). */
  protocol: envInt("BENCH_PROTOCOL", 1, 0) !== 0,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "writes.json"),
  /** A .cpuprofile of this process during upload drain #1 (open in Chrome DevTools). */
  cpuProfile: process.env.BENCH_CPU_PROFILE?.trim() || undefined,
};

/** The V8 sampling profiler of this process, started and stopped around one timed section. */
async function startProfiler(): Promise<{ stop: (file: string) => Promise<void> }> {
  const session = new inspector.Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    stop: async (file) => {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      say(`  wrote the CPU profile of upload drain #1 to ${file}`);
    },
  };
}

const TARGETS = { writeP50Ms: 1 };
const say = (s: string) => process.stderr.write(`${s}\n`);
const mark = (ok: boolean) => (ok ? "ok" : "MISSED");


const replica = (url: string, file: string) =>
  new EmbeddedMemory(makeConfig({ databaseUrl: url, localPath: file, syncIntervalMs: 3_600_000, logLevel: "silent" }), { logger: createLogger({ level: "silent" }) });

/** What the master must hold per label: row count and a digest of the sorted texts. */
interface Expected {
  readonly rows: number;
  readonly textsMd5: string;
  readonly withEmbedding: number;
}
const expected = new Map<string, Expected>();
/** Labels written only to a replica whose master was down: the master must not have them. */
const absent = new Set<string>();

const textsMd5 = (texts: string[]) => createHash("md5").update([...texts].sort().join("\n")).digest("hex");
const expect = (label: string, memories: readonly BenchMemory[]) =>
  expected.set(label, { rows: memories.length, textsMd5: textsMd5(memories.map((m) => m.content)), withEmbedding: memories.filter((m) => m.embedding).length });

/** A millisecond view of an event-loop delay histogram (ns). */
const loopDelay = (h: ReturnType<typeof monitorEventLoopDelay>) => ({ p99: round(h.percentile(99) / 1e6, 2), max: round(h.max / 1e6, 2) });

// ───────────────────────────── 1. local write latency ─────────────────────────────

interface SeriesResult {
  readonly series: string;
  readonly master: "up" | "down";
  readonly dim: number;
  readonly writes: number;
  readonly warmup: number;
  /** `await m.store(…)` call time (ms). */
  readonly latencyMs: Distribution;
  /** Measured writes ÷ wall time of the loop (which yields once per write). */
  readonly writesPerSec: number;
  /** Event-loop delay while the series ran (ms): what a request arriving mid-series could wait. */
  readonly loopDelayMs: { p99: number; max: number };
  /** Entries the master acknowledged while the measured writes ran (outbox before + writes − outbox after). */
  readonly uploadedDuring: number;
  /** Outbox entries pending when the last write returned. */
  readonly pendingAtEnd: number;
  /** Master up: last write returned → outbox empty (ms). */
  readonly drainMs: number | null;
}

async function writeSeries(m: EmbeddedMemory, series: string, master: "up" | "down", dim: number, seed: number): Promise<SeriesResult> {
  const memories = makeMemories(series, opts.warmup + opts.writes, dim, seed);
  if (master === "up") expect(series, memories);
  else absent.add(series);
  const lat: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  let started = 0;
  let pending0 = 0;
  for (let i = 0; i < memories.length; i++) {
    if (i === opts.warmup) {
      pending0 = m.stats().outbox.pending;
      h.enable();
      started = performance.now();
    }
    const t = performance.now();
    await m.store(memories[i]);
    const dt = performance.now() - t;
    if (i >= opts.warmup) lat.push(dt);
    // Let the upload machine (and everything else on the loop) run between writes.
    await immediate();
  }
  const wall = performance.now() - started;
  h.disable();
  const s = m.stats();
  let drainMs: number | null = null;
  if (master === "up") {
    const t0 = performance.now();
    await waitFor(`${series}: outbox drained`, () => m.stats().outbox.pending === 0, 120_000, 5);
    drainMs = round(performance.now() - t0, 1);
  }
  const r: SeriesResult = {
    series,
    master,
    dim,
    writes: opts.writes,
    warmup: opts.warmup,
    latencyMs: distribution(lat),
    writesPerSec: Math.round(opts.writes / (wall / 1000)),
    loopDelayMs: loopDelay(h),
    uploadedDuring: pending0 + opts.writes - s.outbox.pending,
    pendingAtEnd: s.outbox.pending,
    drainMs,
  };
  say(`  ${series}: p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; ${r.uploadedDuring} uploaded during, ${r.pendingAtEnd} pending at end`);
  return r;
}

async function latencyMasterUp(pg: TestPostgres, dir: string): Promise<SeriesResult[]> {
  const m = replica(pg.url, path.join(dir, "latency-up.db"));
  try {
    await m.start();
    await waitFor("the master-up replica to be ready with an idle uploader", () => m.ready() && m.uploadState() === "idle", 60_000);
    const out = [await writeSeries(m, "lat-up-plain", "up", 0, 1), await writeSeries(m, `lat-up-emb${opts.dim}`, "up", opts.dim, 2)];
    const parked = m.stats().outbox.parked;
    if (parked !== 0) throw new Error(`master-up replica: ${parked} outbox entries parked (${m.stats().outbox.last_error})`);
    return out;
  } finally {
    await m.stop();
  }
}

async function latencyMasterDown(dir: string): Promise<{ series: SeriesResult[]; uploadState: string; pending: number }> {
  // Nothing listens on this port: every connection attempt is refused at once.
  const deadUrl = `postgres://postgres:unused@127.0.0.1:${await freePort()}/postgres`;
  const m = replica(deadUrl, path.join(dir, "latency-down.db"));
  try {
    await m.start();
    await waitFor("the master-down replica's uploader to give up connecting", () => m.uploadState() === "backoff", 30_000);
    const series = [await writeSeries(m, "lat-down-plain", "down", 0, 3), await writeSeries(m, `lat-down-emb${opts.dim}`, "down", opts.dim, 4)];
    const pending = m.stats().outbox.pending;
    const want = 2 * (opts.warmup + opts.writes);
    if (pending !== want) throw new Error(`master-down replica: ${pending} entries pending, expected ${want}`);
    return { series, uploadState: m.uploadState(), pending };
  } finally {
    await m.stop();
  }
}

// ───────────────────────────── 2. upload throughput ─────────────────────────────

interface ThroughputRun {
  readonly kind: "upload" | "protocol" | "direct";
  readonly iteration: number;
  readonly rows: number;
  readonly ms: number;
  readonly rowsPerSec: number;
  /** CPU this process spent (user + system) during the timed part. */
  readonly cpuMs: number;
  /** Upload: time to queue the rows locally (uploads blocked) and the per-write latency then. */
  readonly queueMs?: number;
  readonly queuedWriteMs?: Distribution;
  /** Upload: pulls the replica ran while draining (its own uploads come back as changes). */
  readonly pullsDuring?: number;
  readonly loopDelayMs?: { p99: number; max: number };
  /** Upload: `stats()` calls made to detect the end of the drain, and their mean cost. */
  readonly statsPolls?: number;
  readonly statsPollMeanMs?: number;
}

async function uploadRun(pg: TestPostgres, dir: string, iteration: number): Promise<ThroughputRun> {
  const label = `upload-${iteration}`;
  const memories = makeMemories(label, opts.uploadRows, opts.uploadDim, 100 + iteration);
  expect(label, memories);
  const m = replica(pg.url, path.join(dir, `${label}.db`));
  const blocker = await pg.client();
  try {
    await m.start();
    await waitFor(`${label}: replica ready with an idle uploader`, () => m.ready() && m.uploadState() === "idle", 120_000);
    // Uploads cannot commit while another session holds this lock: every write queues.
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE");
    const lat: number[] = [];
    const q0 = performance.now();
    for (let i = 0; i < memories.length; i++) {
      const t = performance.now();
      await m.store(memories[i]);
      lat.push(performance.now() - t);
      if (i % 100 === 99) await immediate();
    }
    const queueMs = performance.now() - q0;
    const s0 = m.stats();
    if (s0.outbox.pending !== opts.uploadRows) throw new Error(`${label}: ${s0.outbox.pending} pending after queueing, expected ${opts.uploadRows}`);
    // The uploader must be waiting on the lock (not in a backoff, which would add its delay).
    const waiting = async () =>
      Number((await pg.sql<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'embedded-memory' AND wait_event_type = 'Lock'"))[0]!.n);
    for (let t = Date.now(); (await waiting()) === 0; await sleep(10)) {
      if (Date.now() - t > 10_000) throw new Error(`${label}: the uploader is not waiting on the lock (upload state ${m.uploadState()}, last error ${m.stats().outbox.last_error})`);
    }
    if (m.uploadState() !== "uploading") throw new Error(`${label}: upload state ${m.uploadState()}, expected uploading`);

    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    // Done = stats().outbox.pending === 0. Checked whenever the upload machine goes idle
    // (it does so only when a run leaves nothing behind) and every 250 ms as a fallback:
    // stats() scans the outbox, so polling it often would slow the drain it measures.
    let polls = 0;
    let pollMs = 0;
    let t1 = 0;
    let wake: () => void = () => undefined;
    const drained = () => {
      const p0 = performance.now();
      const s = m.stats();
      pollMs += performance.now() - p0;
      polls++;
      if (s.outbox.pending === 0) t1 ||= p0;
      return s;
    };
    const onTransition = (e: TransitionEvent) => {
      if (e.machine === "upload" && e.to === "idle" && drained().outbox.pending === 0) wake();
    };
    m.events.on("transition", onTransition);
    const profiler = iteration === 1 && opts.cpuProfile ? await startProfiler() : undefined;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      await blocker.query("ROLLBACK");
      for (;;) {
        const s = drained();
        if (t1) break;
        if (performance.now() - t0 > 600_000) throw new Error(`${label}: outbox not drained after 600 s (${s.outbox.pending} pending, state ${s.outbox.state})`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      m.events.off("transition", onTransition);
    }
    if (profiler) await profiler.stop(opts.cpuProfile!);
    const ms = t1 - t0;
    const cpu = process.cpuUsage(cpu0);
    h.disable();
    const s1 = m.stats();
    if (s1.outbox.parked !== 0) throw new Error(`${label}: ${s1.outbox.parked} entries parked (${s1.outbox.last_error})`);
    if (s1.outbox.uploaded - s0.outbox.uploaded !== opts.uploadRows) throw new Error(`${label}: ${s1.outbox.uploaded - s0.outbox.uploaded} acknowledged, expected ${opts.uploadRows}`);
    return {
      kind: "upload",
      iteration,
      rows: opts.uploadRows,
      ms: round(ms, 1),
      rowsPerSec: Math.round(opts.uploadRows / (ms / 1000)),
      cpuMs: round((cpu.user + cpu.system) / 1000, 0),
      queueMs: round(queueMs, 1),
      queuedWriteMs: distribution(lat),
      pullsDuring: s1.sync_metadata.total_pulls - s0.sync_metadata.total_pulls,
      loopDelayMs: loopDelay(h),
      statsPolls: polls,
      statsPollMeanMs: round(pollMs / polls, 3),
    };
  } finally {
    await blocker.query("ROLLBACK").catch(() => undefined);
    await blocker.end().catch(() => undefined);
    await m.stop();
  }
}

async function directRun(pg: TestPostgres, columns: readonly MasterColumn[], iteration: number): Promise<ThroughputRun> {
  const label = `direct-${iteration}`;
  const memories = makeMemories(label, opts.uploadRows, opts.uploadDim, 200 + iteration);
  expect(label, memories);
  const insert = directInsert(new TableQueries(memoryTableDescriptor(TABLE), columns, undefined), columns);
  const values = memories.map((m) => directValues(m, insert.columns));
  const client = await pg.client();
  try {
    for (let i = 0; i < 20; i++) await client.query("SELECT 1");
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const v of values) await client.query(insert.text, v);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { kind: "direct", iteration, rows: values.length, ms: round(ms, 1), rowsPerSec: Math.round(values.length / (ms / 1000)), cpuMs: round((cpu.user + cpu.system) / 1000, 0) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Diagnostic: the uploader's statement sequence without the replica: one plain pg.Client
 * sends, per batch of 100, BEGIN, then per entry SAVEPOINT, the receipt INSERT, the upsert
 * (`TableQueries.upsert`) and RELEASE, then COMMIT. The floor this protocol sets on a
 * single connection, so the upload's gap to it is the replica's own cost.
 */
async function protocolRun(pg: TestPostgres, columns: readonly MasterColumn[], iteration: number): Promise<ThroughputRun> {
  const label = `protocol-${iteration}`;
  const memories = makeMemories(label, opts.uploadRows, opts.uploadDim, 300 + iteration);
  expect(label, memories);
  const tq = new TableQueries(memoryTableDescriptor(TABLE), columns, undefined);
  const rows = memories.map(directRow);
  const upsert = tq.upsert(Object.keys(rows[0]!));
  const values = rows.map((r) => upsert.columns.map((c) => r[c.name] ?? null));
  const replicaId = randomUUID();
  const client = await pg.client();
  try {
    for (let i = 0; i < 20; i++) await client.query("SELECT 1");
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let b = 0; b < values.length; b += BATCH) {
      await client.query("BEGIN");
      for (let i = b; i < Math.min(values.length, b + BATCH); i++) {
        await client.query("SAVEPOINT entry");
        const receipt = await client.query(receiptSql, [replicaId, i + 1]);
        if (receipt.rowCount === 1) await client.query(upsert.text, values[i]);
        await client.query("RELEASE SAVEPOINT entry");
      }
      await client.query("COMMIT");
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { kind: "protocol", iteration, rows: values.length, ms: round(ms, 1), rowsPerSec: Math.round(values.length / (ms / 1000)), cpuMs: round((cpu.user + cpu.system) / 1000, 0) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ───────────────────────────── 3. verification ─────────────────────────────

interface Verification {
  readonly ok: boolean;
  readonly masterRows: number;
  readonly labels: { label: string; rows: number; distinctTexts: number; withEmbedding: number; expectedRows: number; textsMatch: boolean }[];
  readonly problems: string[];
}

async function verify(pg: TestPostgres): Promise<Verification> {
  const rows = await pg.sql<{ label: string; n: number; d: number; e: number; md5: string }>(
    `SELECT split_part(content->>'text', '#', 1) AS label, count(*)::int AS n, count(DISTINCT content->>'text')::int AS d,
            count(embedding)::int AS e, md5(string_agg(content->>'text', E'\\n' ORDER BY content->>'text' COLLATE "C")) AS md5
     FROM ${qualified(TABLE)} GROUP BY 1 ORDER BY 1`,
  );
  const problems: string[] = [];
  const seen = new Map(rows.map((r) => [r.label, r]));
  const labels = [];
  for (const [label, want] of expected) {
    const got = seen.get(label);
    const textsMatch = got?.md5 === want.textsMd5;
    if (!got) problems.push(`${label}: no rows on the master (expected ${want.rows})`);
    else {
      if (got.n !== want.rows) problems.push(`${label}: ${got.n} rows on the master, expected ${want.rows}`);
      if (got.d !== got.n) problems.push(`${label}: ${got.n - got.d} duplicated texts`);
      if (!textsMatch) problems.push(`${label}: the texts differ from those written`);
      if (got.e !== want.withEmbedding) problems.push(`${label}: ${got.e} rows with an embedding, expected ${want.withEmbedding}`);
    }
    labels.push({ label, rows: got?.n ?? 0, distinctTexts: got?.d ?? 0, withEmbedding: got?.e ?? 0, expectedRows: want.rows, textsMatch });
  }
  for (const r of rows) {
    if (absent.has(r.label)) problems.push(`${r.label}: ${r.n} rows reached the master, though its replica never could`);
    else if (!expected.has(r.label)) problems.push(`${r.label}: ${r.n} unexpected rows on the master`);
  }
  return { ok: problems.length === 0, masterRows: rows.reduce((a, r) => a + r.n, 0), labels, problems };
}

// ───────────────────────────── main ─────────────────────────────

async function main(): Promise<void> {
  let pg: TestPostgres | undefined;
  const session = benchSession("em-bench-writes-", say, async () => {
    await pg?.destroy().catch((e) => say(`  destroy failed: ${(e as Error).message}`));
  });
  const { dir, started, git, loadAtStart } = session;
  let up: SeriesResult[];
  let down: Awaited<ReturnType<typeof latencyMasterDown>>;
  const runs: ThroughputRun[] = [];
  let verification: Verification;
  let pgVersion: string;
  try {
    say("starting embedded Postgres…");
    pg = await createTestPostgres();
    pgVersion = (await pg.sql<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]!.v;
    say(`  Postgres ${pgVersion} on 127.0.0.1:${pg.port}`);
    await installMaster(pg);
    const columns = await pg.sql<MasterColumn>(introspectColumnsSql, [qualified(TABLE)]);

    say(`local write latency, master up (${opts.warmup} warm-up + ${opts.writes} writes per series)…`);
    up = await latencyMasterUp(pg, dir);
    say(`local write latency, master down…`);
    down = await latencyMasterDown(dir);

    say(`upload throughput: ${opts.uploadRows} rows${opts.uploadDim ? ` × ${opts.uploadDim}-d embeddings` : ""}, ${opts.runs} runs each, alternating…`);
    for (let i = 1; i <= opts.runs; i++) {
      const u = await uploadRun(pg, dir, i);
      runs.push(u);
      say(`  upload #${i}: ${u.rowsPerSec} rows/s (${round(u.ms / 1000, 2)} s, cpu ${round(u.cpuMs / 1000, 2)} s, ${u.pullsDuring} pulls; queued in ${round(u.queueMs! / 1000, 2)} s)`);
      const d = await directRun(pg, columns, i);
      runs.push(d);
      say(`  direct #${i}: ${d.rowsPerSec} rows/s (${round(d.ms / 1000, 2)} s, cpu ${round(d.cpuMs / 1000, 2)} s)`);
      if (opts.protocol) {
        const p = await protocolRun(pg, columns, i);
        runs.push(p);
        say(`  protocol #${i}: ${p.rowsPerSec} rows/s (${round(p.ms / 1000, 2)} s, cpu ${round(p.cpuMs / 1000, 2)} s)`);
      }
    }

    say("verifying the master's rows…");
    verification = await verify(pg);
  } finally {
    say("stopping Postgres…");
    await session.close();
  }

  const machine = machineInfo(loadAtStart, git);
  const of = (kind: ThroughputRun["kind"]) => runs.filter((r) => r.kind === kind);
  const medianOf = (kind: ThroughputRun["kind"]) => (of(kind).length ? Math.round(median(of(kind).map((r) => r.rowsPerSec))) : null);
  const medianRowsPerSec = { upload: medianOf("upload")!, direct: medianOf("direct")!, protocol: medianOf("protocol") };
  const ratio = round(medianRowsPerSec.upload / medianRowsPerSec.direct, 3);
  const series = [...up, ...down.series];
  const processMaxRssMB = round(process.resourceUsage().maxRSS / 1024, 1);
  const wallS = round((Date.now() - started) / 1000, 1);

  const lines: string[] = [];
  lines.push(`embedded-memory write benchmark — ${machine.date}`);
  lines.push(`node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemMB} MB RAM, ${machine.platform}, Postgres ${pgVersion}`);
  lines.push(`git ${git ? `${git.commit}${git.srcDirty ? " (src/ has uncommitted changes)" : ""}` : "n/a"}; load average at start ${loadAtStart.join(" ")}, at end ${machine.loadAtEnd.join(" ")}`);
  lines.push("");
  lines.push(`Local write latency: await m.store(memory), ${opts.writes} writes per series after ${opts.warmup} warm-up, one event-loop turn between writes`);
  lines.push(
    table(
      ["ms", "p50", "p90", "p99", "max", "mean", "writes/s", "loop delay p99/max", "uploaded during", "drain ms", "target"],
      [
        ...series.map((s) => [
          `master ${s.master}, ${s.dim ? `${s.dim}-d embedding` : "no embedding"}`,
          s.latencyMs.p50,
          s.latencyMs.p90,
          s.latencyMs.p99,
          s.latencyMs.max,
          s.latencyMs.mean,
          s.writesPerSec,
          `${s.loopDelayMs.p99}/${s.loopDelayMs.max}`,
          s.uploadedDuring,
          s.drainMs ?? "-",
          `p50 ≤ ${TARGETS.writeP50Ms} ${mark(s.latencyMs.p50 <= TARGETS.writeP50Ms)}`,
        ]),
        ...of("upload").map((r) => {
          const q = r.queuedWriteMs!;
          return [`queued (uploads blocked) #${r.iteration}`, q.p50, q.p90, q.p99, q.max, q.mean, Math.round(r.rows / (r.queueMs! / 1000)), "-", 0, "-", ""];
        }),
      ],
    ),
  );
  lines.push(`master down: upload machine in ${down.uploadState}, ${down.pending} entries pending at stop (none can reach the master)`);
  lines.push("");
  lines.push(`Upload throughput: ${opts.uploadRows} rows${opts.uploadDim ? ` × ${opts.uploadDim}-d embeddings` : " (no embedding)"} per run`);
  lines.push("  upload: queued behind a lock on upload_receipts, timed from releasing it to stats().outbox.pending === 0 (checked when the upload machine goes idle)");
  lines.push("  direct: one pg.Client, one autocommit INSERT per row, same columns and parameter casts as the uploader's upsert");
  if (opts.protocol) lines.push("  protocol (diagnostic): one pg.Client sending exactly the uploader's statement sequence, no replica");
  lines.push(
    table(
      ["run", "rows/s", "time s", "cpu s", "pulls", "loop delay p99/max ms"],
      runs.map((r) => [`${r.kind} #${r.iteration}`, r.rowsPerSec, round(r.ms / 1000, 2), round(r.cpuMs / 1000, 2), r.pullsDuring ?? "-", r.loopDelayMs ? `${r.loopDelayMs.p99}/${r.loopDelayMs.max}` : "-"]),
    ),
  );
  lines.push(`median rows/s: upload ${medianRowsPerSec.upload}, direct ${medianRowsPerSec.direct}; upload / direct = ${ratio}`);
  if (medianRowsPerSec.protocol !== null) {
    lines.push(
      `diagnostic: the uploader's statements (SAVEPOINT, receipt, upsert, RELEASE per entry; ${BATCH} per transaction) from a plain client: ${medianRowsPerSec.protocol} rows/s = ${round(medianRowsPerSec.protocol / medianRowsPerSec.direct, 3)} × direct; upload / that = ${round(medianRowsPerSec.upload / medianRowsPerSec.protocol, 3)}`,
    );
  }
  lines.push("");
  lines.push(
    verification.ok
      ? `verification: ok — the master holds ${verification.masterRows} rows; every expected row exactly once (${verification.labels.length} labelled sets, texts match by md5), none of the master-down writes`
      : `verification: FAILED — ${verification.problems.join("; ")}`,
  );
  lines.push(`process maxRSS ${processMaxRssMB} MB; wall ${wallS} s`);
  process.stdout.write(`${lines.join("\n")}\n`);

  const result = {
    benchmark: "embedded-memory writes",
    machine,
    options: { ...opts, out: undefined },
    targets: TARGETS,
    latency: { series, masterDown: { uploadState: down.uploadState, pendingAtStop: down.pending }, meetsTarget: series.every((s) => s.latencyMs.p50 <= TARGETS.writeP50Ms) },
    upload: {
      runs,
      medianRowsPerSec,
      ratioUploadOverDirect: ratio,
      notes: [
        "latency: a fresh replica per master state; await m.store() timed with performance.now(); setImmediate between writes so the upload machine and sync run concurrently",
        "master down: DATABASE_URL points at a free loopback port where nothing listens",
        "upload: fresh replica (fresh file, snapshot of the master first, not timed); writes queued while another session holds LOCK TABLE embedded_memory.upload_receipts IN ACCESS EXCLUSIVE MODE; timed from sending ROLLBACK to stats().outbox.pending === 0, checked on every upload-machine transition to idle (and every 250 ms)",
        "direct: pg.Client, unnamed statements, one INSERT per row in autocommit; no replica running meanwhile",
        "protocol (diagnostic): pg.Client sending the uploader's statements (BEGIN; per entry SAVEPOINT, receipt INSERT, TableQueries.upsert, RELEASE; COMMIT per 100 entries); no replica running meanwhile",
        "Postgres: embedded, fsync=off, synchronous_commit=off, full_page_writes=off (test/support/postgres.ts)",
      ],
    },
    verification,
    processMaxRssMB,
    wallS,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), opts.out)}`);
  if (!verification.ok) process.exitCode = 1;
}

main().catch((e) => {
  say(`bench failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
