/**
 * A fleet on one master (issue 13): 1, 5, 10 and 20 replicas, each its own process running the
 * library (bench/fleetReplica.ts), on one embedded Postgres. For each size, on a fresh
 * database:
 *   commit → all replicas   single-row INSERT commits, one at a time, each after a random pause;
 *                           the time from the commit returning to the last replica holding it
 *   burst                   FLEET_BURST single-row commits back to back on one connection;
 *                           pulls each replica made for it (sync_metadata.total_pulls), the
 *                           time until all hold it, and the cluster's CPU seconds meanwhile
 *   connections             the replicas' connections as pg_stat_activity counts them: at
 *                           rest, and the peak sampled during the burst
 * Targets (issue 13): 20 replicas p99 ≤ 50 ms, ≤ 20 pulls per replica for a 1,000-commit
 * burst, ≤ 3 connections per replica (MASTER_POOL_MAX 2 + the listener).
 * The machine is small: with 20 replicas the replicas and the master share its cores, so the
 * load average is reported with every size.
 *
 *   FLEET_SIZES=1,5,10,20   replica counts, run in this order (the largest last)
 *   FLEET_COMMITS=100       measured lone commits per size (after FLEET_WARMUP=5)
 *   FLEET_BURST=1000        commits in the burst
 *   FLEET_PAUSE_MS=20       longest random pause between lone commits
 *   FLEET_SEED_ROWS=1000    rows on the master before the replicas start
 *   FLEET_SEED=<n>          the pauses' PRNG seed (printed)
 *   FLEET_PULLS_ON=primary  where pulls go; `standby` is the hook for DATABASE_READ_URL (issue 13
 *                           item 2): a streaming standby of the cluster, passed to each replica's
 *                           config by `replicaConfig` below
 *   BENCH_OUT=path          default bench/results/fleet.json
 * Run: node bin/run-ts.js bench/fleet.ts
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { createTestDatabase, createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { prng } from "../src/dev/prng.ts";
import { benchSession, distribution, envInt, loadavg, machineInfo, round, table, type Distribution } from "./util.ts";
import { clusterCpuSeconds, postmasterPid, replicaConnections, sampleConnections, type Connections } from "./fleetMaster.ts";
import { startFleet, type Fleet } from "./fleetProcesses.ts";
import { monotonicMs } from "./fleetReplica.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);

const sizes = (process.env.FLEET_SIZES ?? "1,5,10,20").split(",").map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`FLEET_SIZES must be whole numbers ≥ 1, got ${JSON.stringify(process.env.FLEET_SIZES)}`);
  return n;
});
const pullsOn = process.env.FLEET_PULLS_ON?.trim() || "primary";
if (pullsOn !== "primary") throw new Error(`FLEET_PULLS_ON=${pullsOn}: only "primary" is built so far (the standby comes with DATABASE_READ_URL)`);
const opts = {
  sizes,
  commits: envInt("FLEET_COMMITS", 100),
  warmup: envInt("FLEET_WARMUP", 5, 0),
  burst: envInt("FLEET_BURST", 1_000),
  pauseMs: envInt("FLEET_PAUSE_MS", 20, 0),
  seedRows: envInt("FLEET_SEED_ROWS", 1_000, 0),
  seed: envInt("FLEET_SEED", Math.floor(Math.random() * 2 ** 31), 0),
  timeoutMs: envInt("FLEET_TIMEOUT_MS", 30_000),
  pullsOn,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "fleet.json"),
};
const TARGETS = { p99Ms: 50, pullsPerReplica: 20, connectionsPerReplica: 3 };

/** Each replica's configuration; the standby run adds its read URL here. */
const replicaConfig = (db: TestPostgres, dir: string, i: number) => ({ databaseUrl: db.url, localPath: path.join(dir, `replica-${i}.db`) });

const INSERT_SQL = `INSERT INTO unified_ai_memory (id, memory_type, content, source_system, source_agent, importance_score, tags, search_text)
  VALUES ($1, 'episodic', $2, 'bench', 'fleet-writer', 0.5, ARRAY['fleet'], $3)`;
const insert = (writer: pg.Client, id: string, text: string) => writer.query(INSERT_SQL, [id, JSON.stringify({ text }), text]);

interface SizeResult {
  readonly replicas: number;
  /** Commit returned → the last replica holds it (ms), per lone commit. */
  readonly allReplicasMs: Distribution;
  /** Commit returned → one replica holds it (ms), every replica's every commit. */
  readonly eachReplicaMs: Distribution;
  readonly burst: {
    readonly commits: number;
    readonly commitMs: number;
    /** The last commit returned → every replica holds the whole burst. */
    readonly catchUpMs: number;
    readonly pullsPerReplica: { readonly min: number; readonly mean: number; readonly max: number };
    readonly masterCpuSeconds: number;
    readonly masterCpuSecondsPer1000Commits: number;
  };
  readonly connectionsAtRest: Connections;
  readonly connectionsPeak: Connections;
  readonly connectionsPerReplicaPeak: number;
  readonly loadavg: number[];
}

async function lonesCommits(fleet: Fleet, writer: pg.Client, random: () => number) {
  const all: number[] = [];
  const each: number[] = [];
  for (let i = 0; i < opts.warmup + opts.commits; i++) {
    const id = randomUUID();
    await fleet.watch(id);
    const seen = fleet.seen(id, opts.timeoutMs);
    await insert(writer, id, `fleet lone commit ${i}`);
    const committed = monotonicMs();
    const at = await seen;
    if (i >= opts.warmup) {
      all.push(Math.max(...at) - committed);
      each.push(...at.map((t) => t - committed));
    }
    await new Promise((r) => setTimeout(r, Math.floor(random() * (opts.pauseMs + 1))));
  }
  return { allReplicasMs: distribution(all), eachReplicaMs: distribution(each) };
}

async function burst(fleet: Fleet, writer: pg.Client, sampler: pg.Client, postmaster: number) {
  const before = await fleet.stats();
  const expected = before[0]!.rows + opts.burst;
  const counted = fleet.counted(expected, opts.timeoutMs * 4);
  const connections = sampleConnections(sampler);
  const cpu0 = clusterCpuSeconds(postmaster);
  const t0 = monotonicMs();
  for (let i = 0; i < opts.burst; i++) await insert(writer, randomUUID(), `fleet burst commit ${i}`);
  const t1 = monotonicMs();
  const at = await counted;
  const cpu1 = clusterCpuSeconds(postmaster);
  const peak = await connections.stop();
  const after = await fleet.stats();
  const pulls = after.map((s, i) => s.totalPulls - before[i]!.totalPulls);
  const masterCpuSeconds = round(cpu1 - cpu0, 2);
  return {
    result: {
      commits: opts.burst,
      commitMs: round(t1 - t0, 1),
      catchUpMs: round(Math.max(...at) - t1, 1),
      pullsPerReplica: { min: Math.min(...pulls), mean: round(pulls.reduce((a, b) => a + b, 0) / pulls.length, 1), max: Math.max(...pulls) },
      masterCpuSeconds,
      masterCpuSecondsPer1000Commits: round((masterCpuSeconds * 1000) / opts.burst, 2),
    },
    peak,
  };
}

async function measureSize(cluster: TestPostgres, dir: string, n: number, random: () => number): Promise<SizeResult> {
  const db = await createTestDatabase(cluster);
  await installMaster(db);
  if (opts.seedRows) await seedMemories(db, opts.seedRows);
  const sizeDir = path.join(dir, `fleet-${n}`);
  mkdirSync(sizeDir, { recursive: true });
  let fleet: Fleet | undefined;
  const writer = await db.client();
  const sampler = await db.client();
  try {
    const started = Date.now();
    fleet = await startFleet(here, n, (i) => replicaConfig(db, sizeDir, i));
    say(`  ${n} replicas up in ${round((Date.now() - started) / 1000, 1)} s`);
    const postmaster = await postmasterPid(sampler);
    const lone = await lonesCommits(fleet, writer, random);
    const atRest = await replicaConnections(sampler);
    const b = await burst(fleet, writer, sampler, postmaster);
    const r: SizeResult = {
      replicas: n,
      ...lone,
      burst: b.result,
      connectionsAtRest: atRest,
      connectionsPeak: b.peak,
      connectionsPerReplicaPeak: round(b.peak.total / n, 2),
      loadavg: loadavg(),
    };
    say(
      `  ${n} replicas: all-replicas p50 ${r.allReplicasMs.p50} p99 ${r.allReplicasMs.p99} ms; burst ${r.burst.commitMs} ms + ${r.burst.catchUpMs} ms catch-up, ` +
        `pulls/replica ${r.burst.pullsPerReplica.mean} (max ${r.burst.pullsPerReplica.max}), master ${r.burst.masterCpuSeconds} CPU s; connections ${atRest.total} at rest, ${b.peak.total} peak; load ${r.loadavg[0]}`,
    );
    return r;
  } finally {
    await fleet?.stop();
    await writer.end().catch(() => undefined);
    await sampler.end().catch(() => undefined);
    await db.destroy();
  }
}

const mark = (ok: boolean) => (ok ? "ok" : "MISSED");

async function main(): Promise<void> {
  let cluster: TestPostgres | undefined;
  const session = benchSession("em-fleet-", say, async () => {
    await cluster?.destroy();
  });
  try {
    cluster = await createTestPostgres();
    say(`fleet: sizes ${opts.sizes.join(", ")}; ${opts.commits} lone commits and a ${opts.burst}-commit burst per size; seed ${opts.seed}; ${os.cpus().length} cores; load ${loadavg().join(" ")}`);
    const random = prng(opts.seed);
    const results: SizeResult[] = [];
    for (const n of opts.sizes) results.push(await measureSize(cluster, session.dir, n, random));
    console.log(
      `\nfleet on one master (pulls on the ${opts.pullsOn}): ${opts.commits} lone commits, a ${opts.burst}-commit burst\n` +
        table(
          ["replicas", "all p50 ms", "all p99 ms", "burst s", "catch-up ms", "pulls/replica", "max", "master CPU s/1k", "conns rest", "conns peak", "peak/replica", "load 1m"],
          results.map((r) => [
            r.replicas,
            r.allReplicasMs.p50,
            r.allReplicasMs.p99,
            round(r.burst.commitMs / 1000, 2),
            r.burst.catchUpMs,
            r.burst.pullsPerReplica.mean,
            r.burst.pullsPerReplica.max,
            r.burst.masterCpuSecondsPer1000Commits,
            r.connectionsAtRest.total,
            r.connectionsPeak.total,
            r.connectionsPerReplicaPeak,
            r.loadavg[0]!,
          ]),
        ),
    );
    const largest = results[results.length - 1]!;
    const targets = {
      [`p99 ≤ ${TARGETS.p99Ms} ms at ${largest.replicas} replicas`]: mark(largest.allReplicasMs.p99 <= TARGETS.p99Ms),
      [`≤ ${TARGETS.pullsPerReplica} pulls per replica (${opts.burst}-commit burst)`]: mark(results.every((r) => r.burst.pullsPerReplica.max <= TARGETS.pullsPerReplica)),
      [`≤ ${TARGETS.connectionsPerReplica} connections per replica`]: mark(results.every((r) => r.connectionsPerReplicaPeak <= TARGETS.connectionsPerReplica)),
    };
    for (const [k, v] of Object.entries(targets)) console.log(`${v.padEnd(6)} ${k}`);
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(
      opts.out,
      JSON.stringify({ benchmark: "fleet on one master: commit → all replicas, burst pulls, master connections and CPU", options: opts, targets: TARGETS, met: targets, results, machine: machineInfo(session.loadAtStart, session.git) }, null, 2),
    );
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
