/** The fleet benchmark's table and targets (bench/fleet.ts), with the floor beside each size. */
import { round, table, type Distribution } from "./util.ts";
import type { FloorResult } from "./fleetBaseline.ts";
import type { Connections } from "./fleetMaster.ts";

export type PullsOn = "primary" | "standby";

export const TARGETS = { p99Ms: 50, pullsPerReplica: 20, connectionsPerReplica: 3 };

export interface SizeResult {
  readonly pullsOn: PullsOn;
  readonly replicas: number;
  /** Commit returned → the last replica holds it (ms), per lone commit. */
  readonly allReplicasMs: Distribution;
  /** Commit returned → one replica holds it (ms), every replica's every commit. */
  readonly eachReplicaMs: Distribution;
  /** CPU per lone commit (ms): all replicas, one replica on average, the master, the standby (null without), and their sum / cores. */
  readonly cpuPerLoneCommit: { readonly replicasMs: number; readonly perReplicaMs: number; readonly masterMs: number; readonly standbyMs: number | null; readonly overCoresMs: number };
  readonly burst: {
    readonly commits: number;
    readonly commitMs: number;
    /** The last commit returned → every replica holds the whole burst. */
    readonly catchUpMs: number;
    readonly pullsPerReplica: { readonly min: number; readonly mean: number; readonly max: number };
    /** The primary's CPU (the master's: the same server). */
    readonly masterCpuSeconds: number;
    readonly masterCpuSecondsPer1000Commits: number;
    readonly standbyCpuSeconds: number | null;
    readonly standbyCpuSecondsPer1000Commits: number | null;
  };
  /** The replicas' connections on the primary (with a standby: once the pools there idled out, awaitIdlePools). */
  readonly connectionsAtRest: Connections;
  readonly connectionsPeak: Connections;
  readonly connectionsPerReplicaPeak: number;
  /** …and on the standby (null when pulls read the primary). */
  readonly standbyConnectionsAtRest: Connections | null;
  readonly standbyConnectionsPeak: Connections | null;
  readonly standbyConnectionsPerReplicaPeak: number | null;
  /** Reads that went to the primary instead of the standby, all replicas, the whole size (null without a standby). */
  readonly readFallbacks: number | null;
  readonly loadavg: number[];
}

const mark = (ok: boolean) => (ok ? "ok" : "MISSED");
const dash = (v: number | null | undefined) => v ?? "–";
const ratio = (a: number, b: number | undefined) => (b ? round(a / b, 2) : "–");

export function targetsMet(modes: readonly PullsOn[], burst: number, results: readonly SizeResult[], floors: readonly FloorResult[]) {
  const met: Record<string, string> = {};
  for (const on of modes) {
    const rs = results.filter((r) => r.pullsOn === on);
    const largest = rs[rs.length - 1]!;
    const floor = floors.find((f) => f.replicas === largest.replicas);
    const floorSays = floor ? ` (the floor: p99 ${floor.allReplicasMs.p99} ms)` : "";
    met[`[pulls on the ${on}] p99 ≤ ${TARGETS.p99Ms} ms at ${largest.replicas} replicas${floorSays}`] = mark(largest.allReplicasMs.p99 <= TARGETS.p99Ms);
    met[`[pulls on the ${on}] ≤ ${TARGETS.pullsPerReplica} pulls per replica (${burst}-commit burst)`] = mark(rs.every((r) => r.burst.pullsPerReplica.max <= TARGETS.pullsPerReplica));
    met[`[pulls on the ${on}] ≤ ${TARGETS.connectionsPerReplica} primary connections per replica`] = mark(rs.every((r) => r.connectionsPerReplicaPeak <= TARGETS.connectionsPerReplica));
  }
  return met;
}

export function fleetTables(modes: readonly PullsOn[], burst: number, results: readonly SizeResult[], floors: readonly FloorResult[]): string {
  const main = table(
    ["pulls on", "replicas", "all p50 ms", "all p99 ms", "CPU ms/commit: replica", "master", "standby", "/cores", "burst s", "catch-up ms", "pulls/replica", "max", "primary CPU s/1k", "standby CPU s/1k", "primary conns peak", "/replica", "standby conns peak", "/replica", "fallbacks", "load 1m"],
    results.map((r) => [
      r.pullsOn,
      r.replicas,
      r.allReplicasMs.p50,
      r.allReplicasMs.p99,
      r.cpuPerLoneCommit.perReplicaMs,
      r.cpuPerLoneCommit.masterMs,
      dash(r.cpuPerLoneCommit.standbyMs),
      r.cpuPerLoneCommit.overCoresMs,
      round(r.burst.commitMs / 1000, 2),
      r.burst.catchUpMs,
      r.burst.pullsPerReplica.mean,
      r.burst.pullsPerReplica.max,
      r.burst.masterCpuSecondsPer1000Commits,
      dash(r.burst.standbyCpuSecondsPer1000Commits),
      r.connectionsPeak.total,
      r.connectionsPerReplicaPeak,
      dash(r.standbyConnectionsPeak?.total),
      dash(r.standbyConnectionsPerReplicaPeak),
      dash(r.readFallbacks),
      r.loadavg[0]!,
    ]),
  );
  let out = `\nfleet on one master, pulls on the ${modes.join(" / ")}: lone commits, a ${burst}-commit burst\n${main}`;
  if (floors.length) {
    const primary = (n: number) => results.find((r) => r.pullsOn === "primary" && r.replicas === n) ?? results.find((r) => r.replicas === n);
    const floorTable = table(
      ["replicas", "floor p50 ms", "floor p99 ms", "floor CPU ms/commit: replica", "master", "/cores", "ours/floor p50", "ours/floor p99", "ours/floor CPU: replica", "master", "load 1m"],
      floors.map((f) => {
        const r = primary(f.replicas);
        return [
          f.replicas,
          f.allReplicasMs.p50,
          f.allReplicasMs.p99,
          f.cpuPerLoneCommit.perReplicaMs,
          f.cpuPerLoneCommit.masterMs,
          f.cpuPerLoneCommit.overCoresMs,
          r ? ratio(r.allReplicasMs.p50, f.allReplicasMs.p50) : "–",
          r ? ratio(r.allReplicasMs.p99, f.allReplicasMs.p99) : "–",
          r ? ratio(r.cpuPerLoneCommit.perReplicaMs, f.cpuPerLoneCommit.perReplicaMs) : "–",
          r ? ratio(r.cpuPerLoneCommit.masterMs, f.cpuPerLoneCommit.masterMs) : "–",
          f.loadavg[0]!,
        ];
      }),
    );
    out += `\n\nthe floor (bench/fleetFloor.ts: one pg client, LISTEN, one query + one SQLite transaction per notification), same lone commits; ours = pulls on the ${results.some((r) => r.pullsOn === "primary") ? "primary" : modes[0]}\n${floorTable}`;
  }
  return out;
}
