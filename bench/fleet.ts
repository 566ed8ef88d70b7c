/**
 * A fleet on one master (issue 13): 1, 5, 10 and 20 replicas, each its own process running the
 * library (bench/fleetReplica.ts), on one embedded Postgres; and the same fleet with its pulls
 * and first copies on a streaming hot standby of that master (DATABASE_READ_URL), side by side
 * in one table. For each size and each place pulls go, on a fresh database:
 *   commit → all replicas   single-row INSERT commits, one at a time, each after a random pause;
 *                           the time from the commit returning to the last replica holding it,
 *                           and the CPU each replica and the master spent per commit (/proc)
 *   burst                   FLEET_BURST single-row commits back to back on one connection;
 *                           pulls each replica made for it (sync_metadata.total_pulls), the
 *                           time until all hold it, and the cluster's CPU seconds meanwhile
 *   connections             the replicas' connections as pg_stat_activity counts them, on
 *                           the primary and on the standby separately: at rest, and the peak
 *                           sampled during the burst
 * CPU is counted per server: the primary (backends, WAL sender…) and the standby (replay and
 * the pulls it serves). The primary-only rows run on a plain cluster, the standby rows on a
 * primary + standby pair (test/support/standby.ts: a cold base copy streaming over loopback);
 * sizes alternate between the two so both see the same background load.
 * Targets (issue 13): 20 replicas p99 ≤ 50 ms, ≤ 20 pulls per replica for a 1,000-commit
 * burst, ≤ 3 connections per replica on the primary (MASTER_POOL_MAX 2 + the listener); with
 * a standby each replica also holds up to MASTER_POOL_MAX connections there.
 * The machine is small: with 20 replicas the replicas and the master share its cores, so the
 * load average is reported with every size.
 *
 *   FLEET_SIZES=1,5,10,20   replica counts, run in this order (the largest last)
 *   FLEET_COMMITS=100       measured lone commits per size (after FLEET_WARMUP=200 unmeasured
 *                           ones: a fleet's first seconds are not its steady state. With 5, at
 *                           20 replicas the 50th–60th measured commits were the slowest tenth in
 *                           most runs, whatever their pauses; after 200 or 400 the tenths are
 *                           level, and p99 61–89 ms became 56–65: BENCHMARKS.md, session 8)
 *   FLEET_BURST=1000        commits in the burst
 *   FLEET_PAUSE_MS=20       longest random pause between lone commits
 *   FLEET_SEED_ROWS=1000    rows on the master before the replicas start
 *   FLEET_SEED=<n>          the pauses' PRNG seed (printed)
 *   FLEET_FLOOR=1           also run the floor at each size (0: not): bare replicas
 *                           (bench/fleetFloor.ts) through the same lone commits, the same-run
 *                           baseline the library's latency and CPU are read against
 *   FLEET_PULLS_ON=both     where pulls go: `primary`, `standby` (each replica's databaseReadUrl
 *                           is the standby), or `both`, one after the other per size
 *   BENCH_OUT=path          default bench/results/fleet.json
 * Run: node bin/run-ts.js bench/fleet.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { createPrimaryAndStandby, type PrimaryAndStandby, type TestStandby } from "../test/support/standby.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { prng } from "../src/dev/prng.ts";
import { benchSession, envInt, loadavg, machineInfo, round } from "./util.ts";
import { awaitIdlePools, replicaConnections, watchServer, type WatchedServer } from "./fleetMaster.ts";
import { startFleet, type Fleet } from "./fleetProcesses.ts";
import { burst, lonesCommits } from "./fleetRuns.ts";
import { measureFloor, type FloorResult } from "./fleetBaseline.ts";
import { fleetTables, targetsMet, TARGETS, type PullsOn, type SizeResult } from "./fleetReport.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);

const sizes = (process.env.FLEET_SIZES ?? "1,5,10,20").split(",").map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1) throw new Error(`FLEET_SIZES must be whole numbers ≥ 1, got ${JSON.stringify(process.env.FLEET_SIZES)}`);
  return n;
});
const pullsOnEnv = process.env.FLEET_PULLS_ON?.trim() || "both";
const modes: PullsOn[] = pullsOnEnv === "both" ? ["primary", "standby"] : pullsOnEnv === "primary" || pullsOnEnv === "standby" ? [pullsOnEnv] : [];
if (modes.length === 0) throw new Error(`FLEET_PULLS_ON must be primary, standby or both, got ${JSON.stringify(pullsOnEnv)}`);
const opts = {
  sizes,
  commits: envInt("FLEET_COMMITS", 100),
  warmup: envInt("FLEET_WARMUP", 200, 0),
  burst: envInt("FLEET_BURST", 1_000),
  pauseMs: envInt("FLEET_PAUSE_MS", 20, 0),
  seedRows: envInt("FLEET_SEED_ROWS", 1_000, 0),
  seed: envInt("FLEET_SEED", Math.floor(Math.random() * 2 ** 31), 0),
  timeoutMs: envInt("FLEET_TIMEOUT_MS", 30_000),
  pullsOn: modes,
  floor: envInt("FLEET_FLOOR", 1, 0) === 1,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "fleet.json"),
};

/** The servers one kind of run uses: the master, and the standby its pulls read (if any). */
interface Servers {
  readonly primary: TestPostgres;
  readonly standby?: TestStandby;
}

async function measureSize(on: PullsOn, servers: Servers, dir: string, n: number, random: () => number): Promise<SizeResult> {
  const db = await createTestDatabase(servers.primary);
  await installMaster(db);
  if (opts.seedRows) await seedMemories(db, opts.seedRows);
  // The standby holds every database of its primary, under the same name.
  const readUrl = servers.standby?.url(new URL(db.url).pathname.slice(1));
  // A first copy on the standby before it replayed the seed would start from an older table.
  await servers.standby?.caughtUp(60_000);
  const sizeDir = path.join(dir, `fleet-${on}-${n}`);
  mkdirSync(sizeDir, { recursive: true });
  let fleet: Fleet | undefined;
  const writer = await db.client();
  // The test clusters run synchronous_commit=off, under which a commit's WAL waits up to
  // wal_writer_delay (200 ms) to be flushed, and a WAL sender streams only flushed WAL: the
  // standby would lag by that much. The writer commits as a production master does (fsync is
  // off, so the flush is cheap), in both kinds of run alike.
  await writer.query("SET synchronous_commit = on");
  let primary: WatchedServer | undefined;
  let standby: WatchedServer | undefined;
  try {
    primary = await watchServer(db.url);
    standby = readUrl === undefined ? undefined : await watchServer(readUrl);
    const started = Date.now();
    fleet = await startFleet(here, n, (i) => ({ databaseUrl: db.url, localPath: path.join(sizeDir, `replica-${i}.db`), ...(readUrl === undefined ? {} : { databaseReadUrl: readUrl }) }));
    say(`  ${n} replicas (pulls on the ${on}) up in ${round((Date.now() - started) / 1000, 1)} s`);
    const lone = await lonesCommits(opts, fleet, writer, primary, standby, random);
    const settled = standby ? await awaitIdlePools(primary.client) : undefined;
    if (settled) say(`  the replicas' pools on the primary idled out ${round(settled.waitedMs / 1000, 1)} s after the lone commits`);
    const atRest = settled?.connections ?? (await replicaConnections(primary.client));
    const standbyAtRest = standby ? await replicaConnections(standby.client) : null;
    const b = await burst(opts, fleet, writer, primary, standby);
    const r: SizeResult = {
      pullsOn: on,
      replicas: n,
      ...lone,
      burst: b.result,
      connectionsAtRest: atRest,
      connectionsPeak: b.peak,
      connectionsPerReplicaPeak: round(b.peak.total / n, 2),
      standbyConnectionsAtRest: standbyAtRest,
      standbyConnectionsPeak: b.standbyPeak,
      standbyConnectionsPerReplicaPeak: b.standbyPeak ? round(b.standbyPeak.total / n, 2) : null,
      readFallbacks: b.readFallbacks,
      loadavg: loadavg(),
    };
    const onStandby = standby ? `; standby ${r.burst.standbyCpuSeconds} CPU s, connections ${standbyAtRest!.total} at rest, ${b.standbyPeak!.total} peak, ${r.readFallbacks} reads fell back to the primary` : "";
    say(
      `  ${n} replicas (${on}): all-replicas p50 ${r.allReplicasMs.p50} p99 ${r.allReplicasMs.p99} ms; CPU per lone commit ${r.cpuPerLoneCommit.perReplicaMs} ms a replica, ${r.cpuPerLoneCommit.masterMs} ms the master${standby ? `, ${r.cpuPerLoneCommit.standbyMs} ms the standby` : ""} (${r.cpuPerLoneCommit.overCoresMs} ms over the cores); burst ${r.burst.commitMs} ms + ${r.burst.catchUpMs} ms catch-up, ` +
        `pulls/replica ${r.burst.pullsPerReplica.mean} (max ${r.burst.pullsPerReplica.max}), primary ${r.burst.masterCpuSeconds} CPU s; primary connections ${atRest.total} at rest, ${b.peak.total} peak${onStandby}; load ${r.loadavg[0]}`,
    );
    return r;
  } finally {
    await fleet?.stop();
    await writer.end().catch(() => undefined);
    await primary?.close();
    await standby?.close();
    await db.destroy();
  }
}

async function main(): Promise<void> {
  let plain: TestPostgres | undefined;
  let pair: PrimaryAndStandby | undefined;
  const session = benchSession("em-fleet-", say, async () => {
    await plain?.destroy();
    await pair?.destroy();
  });
  try {
    const servers: Partial<Record<PullsOn, Servers>> = {};
    if (modes.includes("primary")) servers.primary = { primary: (plain = await createTestPostgres()) };
    if (modes.includes("standby")) {
      pair = await createPrimaryAndStandby();
      servers.standby = { primary: pair.primary, standby: pair.standby };
    }
    say(
      `fleet: sizes ${opts.sizes.join(", ")}; pulls on ${modes.join(" and ")}; ${opts.commits} lone commits and a ${opts.burst}-commit burst per size; seed ${opts.seed}; ${os.cpus().length} cores; load ${loadavg().join(" ")}`,
    );
    const random = prng(opts.seed);
    const results: SizeResult[] = [];
    const floors: FloorResult[] = [];
    for (const n of opts.sizes) {
      // The floor first at each size, on the plain cluster when there is one: the same machine
      // minutes apart from the runs it is the baseline of.
      if (opts.floor) {
        floors.push(await measureFloor(opts, plain ?? pair!.primary, here, session.dir, n, random));
        const f = floors[floors.length - 1]!;
        say(`  ${n} floor replicas: all-replicas p50 ${f.allReplicasMs.p50} p99 ${f.allReplicasMs.p99} ms; CPU per lone commit ${f.cpuPerLoneCommit.perReplicaMs} ms a replica, ${f.cpuPerLoneCommit.masterMs} ms the master; load ${f.loadavg[0]}`);
      }
      for (const on of modes) results.push(await measureSize(on, servers[on]!, session.dir, n, random));
    }
    console.log(fleetTables(modes, opts.burst, results, floors));
    const met = targetsMet(modes, opts.burst, results, floors);
    for (const [k, v] of Object.entries(met)) console.log(`${v.padEnd(6)} ${k}`);
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(
      opts.out,
      JSON.stringify(
        { benchmark: "fleet on one master, pulls on the primary and on a streaming standby: commit → all replicas, burst pulls, connections and CPU per server; and the floor (bench/fleetFloor.ts) at each size", options: opts, targets: TARGETS, met, results, floors, machine: machineInfo(session.loadAtStart, session.git) },
        null,
        2,
      ),
    );
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
