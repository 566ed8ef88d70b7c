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


/**
 * Serves the parent's commands in a child entry: each command's reply (if any) is sent back, a
 * failure as `failed`, and `stopped` ends the channel. The parent going away calls `gone`,
 * then the process exits. Call once, from the child entry itself.
 */
export function serveFleetCommands(handle: (cmd: FleetCommand) => Promise<FleetReply | null>, gone: () => Promise<void>): void {
  process.on("message", (cmd: FleetCommand) => {
    handle(cmd)
      .catch((e: unknown): FleetReply => ({ kind: "failed", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
      .then((reply) => {
        if (reply) process.send!(reply);
        if (reply?.kind === "stopped") process.disconnect();
      });
  });
  process.on("disconnect", () => void gone().finally(() => process.exit(0)));
}

/**
 * The ids a child watches for (the parent's `watch`): `watch` acknowledges and looks at once,
 * `look` (after each pull) reports every watched id the replica now holds as `seen`.
 */
export function rowWatcher(hasRow: () => ((id: string) => boolean) | undefined) {
  const watched = new Set<string>();
  const look = (): void => {
    const has = hasRow();
    if (!has) return;
    for (const id of watched) {
      if (!has(id)) continue;
      watched.delete(id);
      process.send!({ kind: "seen", id, atMs: monotonicMs() } satisfies FleetReply);
    }
  };
  const watch = (id: string): null => {
    watched.add(id);
    process.send!({ kind: "watching", id } satisfies FleetReply);
    look();
    return null;
  };
  return { watch, look };
}
