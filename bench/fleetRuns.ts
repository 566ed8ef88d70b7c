/**
 * The two measured runs of bench/fleet.ts for one fleet: lone commits (commit → every replica,
 * and the CPU each costs) and a burst (pulls per replica, catch-up, CPU per server, connections).
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import { distribution, round } from "./util.ts";
import { processesCpuSeconds, sampleConnections, type WatchedServer } from "./fleetMaster.ts";
import type { Fleet } from "./fleetProcesses.ts";
import { monotonicMs } from "./fleetProtocol.ts";

/** What the runs read of bench/fleet.ts's options. */
export interface RunOptions {
  readonly warmup: number;
  readonly commits: number;
  readonly pauseMs: number;
  readonly burst: number;
  readonly timeoutMs: number;
}

const INSERT_SQL = `INSERT INTO unified_ai_memory (id, memory_type, content, source_system, source_agent, importance_score, tags, search_text)
  VALUES ($1, 'episodic', $2, 'bench', 'fleet-writer', 0.5, ARRAY['fleet'], $3)`;
export const insert = (writer: pg.Client, id: string, text: string) => writer.query(INSERT_SQL, [id, JSON.stringify({ text }), text]);

export async function lonesCommits(o: RunOptions, fleet: Fleet, writer: pg.Client, primary: WatchedServer, standby: WatchedServer | undefined, random: () => number) {
  const all: number[] = [];
  const each: number[] = [];
  let replicaCpu = 0;
  let masterCpu = 0;
  let standbyCpu = 0;
  for (let i = 0; i < o.warmup + o.commits; i++) {
    if (i === o.warmup) (replicaCpu = processesCpuSeconds(fleet.pids)), (masterCpu = primary.cpuSeconds()), (standbyCpu = standby?.cpuSeconds() ?? 0);
    const id = randomUUID();
    await fleet.watch(id);
    const seen = fleet.seen(id, o.timeoutMs);
    await insert(writer, id, `fleet lone commit ${i}`);
    const committed = monotonicMs();
    const at = await seen;
    if (i >= o.warmup) {
      all.push(Math.max(...at) - committed);
      each.push(...at.map((t) => t - committed));
    }
    await new Promise((r) => setTimeout(r, Math.floor(random() * (o.pauseMs + 1))));
  }
  // What one lone commit costs in CPU: every replica's (its pull, and the harness's two IPC
  // messages and its poll), the master's and the standby's. Over the machine's cores it is the
  // least time the last replica can take to hold the commit when all of them share the cores.
  const ms = (seconds: number) => (seconds * 1000) / o.commits;
  const replicasMs = ms(processesCpuSeconds(fleet.pids) - replicaCpu);
  const masterMs = ms(primary.cpuSeconds() - masterCpu);
  const standbyMs = standby ? ms(standby.cpuSeconds() - standbyCpu) : 0;
  const cpuPerLoneCommit = {
    replicasMs: round(replicasMs, 1),
    perReplicaMs: round(replicasMs / fleet.size, 2),
    masterMs: round(masterMs, 2),
    standbyMs: standby ? round(standbyMs, 2) : null,
    overCoresMs: round((replicasMs + masterMs + standbyMs) / os.cpus().length, 1),
  };
  return { allReplicasMs: distribution(all), eachReplicaMs: distribution(each), cpuPerLoneCommit };
}

const per1000 = (o: RunOptions, seconds: number) => round((seconds * 1000) / o.burst, 2);

export async function burst(o: RunOptions, fleet: Fleet, writer: pg.Client, primary: WatchedServer, standby: WatchedServer | undefined) {
  const before = await fleet.stats();
  const expected = before[0]!.rows + o.burst;
  const counted = fleet.counted(expected, o.timeoutMs * 4);
  const connections = sampleConnections(primary.client);
  const standbyConnections = standby && sampleConnections(standby.client);
  const cpu0 = primary.cpuSeconds();
  const standbyCpu0 = standby?.cpuSeconds();
  const t0 = monotonicMs();
  for (let i = 0; i < o.burst; i++) await insert(writer, randomUUID(), `fleet burst commit ${i}`);
  const t1 = monotonicMs();
  const at = await counted;
  const masterCpuSeconds = round(primary.cpuSeconds() - cpu0, 2);
  const standbyCpuSeconds = standby ? round(standby.cpuSeconds() - standbyCpu0!, 2) : null;
  const peak = await connections.stop();
  const standbyPeak = (await standbyConnections?.stop()) ?? null;
  const after = await fleet.stats();
  const pulls = after.map((s, i) => s.totalPulls - before[i]!.totalPulls);
  return {
    result: {
      commits: o.burst,
      commitMs: round(t1 - t0, 1),
      catchUpMs: round(Math.max(...at) - t1, 1),
      pullsPerReplica: { min: Math.min(...pulls), mean: round(pulls.reduce((a, b) => a + b, 0) / pulls.length, 1), max: Math.max(...pulls) },
      masterCpuSeconds,
      masterCpuSecondsPer1000Commits: per1000(o, masterCpuSeconds),
      standbyCpuSeconds,
      standbyCpuSecondsPer1000Commits: standbyCpuSeconds === null ? null : per1000(o, standbyCpuSeconds),
    },
    peak,
    standbyPeak,
    readFallbacks: standby ? after.reduce((a, s) => a + (s.readFallbacks ?? 0), 0) : null,
  };
}
