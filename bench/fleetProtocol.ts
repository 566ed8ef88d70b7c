/**
 * What the fleet benchmark's parent (bench/fleet.ts, fleetProcesses.ts) and its replica processes
 * (fleetReplica.ts: the library; fleetFloor.ts: the bare floor) say to each other over IPC, and
 * the clock they share. A module without side effects: each child entry registers its own
 * message handler, so nothing may import a child entry (a floor that imported fleetReplica.ts
 * once ran the library's replica beside its own and answered with whichever saw a row first).
 */
import type { ConfigInput } from "../src/schema/config.ts";

export type FleetCommand =
  | { readonly kind: "init"; readonly config: ConfigInput & { databaseUrl: string; localPath: string } }
  | { readonly kind: "watch"; readonly id: string }
  | { readonly kind: "awaitCount"; readonly count: number }
  | { readonly kind: "stats" }
  | { readonly kind: "stop" };

export type FleetReply =
  | { readonly kind: "ready"; readonly pid: number }
  | { readonly kind: "watching"; readonly id: string }
  | { readonly kind: "seen"; readonly id: string; readonly atMs: number }
  | { readonly kind: "counted"; readonly count: number; readonly atMs: number }
  | {
      readonly kind: "stats";
      readonly totalPulls: number;
      readonly state: string;
      readonly rows: number;
      /** With a read standby: reads that went to the primary instead (null without one). */
      readonly readFallbacks: number | null;
    }
  | { readonly kind: "stopped" }
  | { readonly kind: "failed"; readonly error: string };

/** Milliseconds on the system-wide monotonic clock, comparable across processes. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

