/** The fleet benchmark's replica processes (bench/fleetReplica.ts), driven together over IPC. */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { FleetCommand, FleetReply } from "./fleetProtocol.ts";

type Stats = Extract<FleetReply, { kind: "stats" }>;

interface Waiter {
  readonly match: (r: FleetReply) => boolean;
  readonly resolve: (r: FleetReply) => void;
  readonly reject: (e: Error) => void;
}

/** One replica process: commands out, replies matched to whoever waits for them. */
class ReplicaProcess {
  private readonly waiters: Waiter[] = [];
  private exited = false;
  constructor(
    readonly index: number,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (r: FleetReply) => {
      if (r.kind === "failed") return this.failAll(new Error(`replica ${index}: ${r.error}`));
      const i = this.waiters.findIndex((w) => w.match(r));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(r);
    });
    child.on("exit", (code) => {
      this.exited = true;
      this.failAll(new Error(`replica ${index} exited (code ${code})`));
    });
  }

  private failAll(e: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  /** Sends `cmd` (if any) after registering a wait for the first reply that matches. */
  ask<K extends FleetReply["kind"]>(cmd: FleetCommand | null, kind: K, timeoutMs: number, extra: (r: Extract<FleetReply, { kind: K }>) => boolean = () => true): Promise<Extract<FleetReply, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`replica ${this.index}: no ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      const w: Waiter = {
        match: (r) => r.kind === kind && extra(r as Extract<FleetReply, { kind: K }>),
        resolve: (r) => (clearTimeout(timer), resolve(r as Extract<FleetReply, { kind: K }>)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.waiters.push(w);
      if (cmd) this.child.send(cmd);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    await this.ask({ kind: "stop" }, "stopped", 20_000).catch(() => this.child.kill("SIGKILL"));
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

export interface Fleet {
  readonly size: number;
  readonly pids: readonly number[];
  /** Every replica watches for `id` (resolves once all have acknowledged). */
  watch(id: string): Promise<void>;
  /** When each replica first held `id` (monotonic ms), in replica order. */
  seen(id: string, timeoutMs: number): Promise<number[]>;
  /** When each replica first held at least `count` rows (monotonic ms). */
  counted(count: number, timeoutMs: number): Promise<number[]>;
  stats(): Promise<Stats[]>;
  stop(): Promise<void>;
}

type ReplicaConfig = Extract<FleetCommand, { kind: "init" }>["config"];

/**
 * Starts `n` replica processes and resolves once each is ready: for the library's
 * (fleetReplica.ts), idle with a proven change feed; for the floor (fleetFloor.ts), listening.
 */
export async function startFleet(benchDir: string, n: number, config: (i: number) => ReplicaConfig, entry: "fleetReplica.ts" | "fleetFloor.ts" = "fleetReplica.ts", startTimeoutMs = 120_000): Promise<Fleet> {
  const replicas = Array.from({ length: n }, (_, i) => {
    const child = fork(path.join(benchDir, "..", "bin", "run-ts.js"), [path.join(benchDir, entry)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new ReplicaProcess(i, child);
  });
  const all = <T>(f: (r: ReplicaProcess) => Promise<T>) => Promise.all(replicas.map(f));
  const fleet: Fleet = {
    size: n,
    pids: [],
    watch: async (id) => void (await all((r) => r.ask({ kind: "watch", id }, "watching", 10_000, (x) => x.id === id))),
    seen: (id, timeoutMs) => all((r) => r.ask(null, "seen", timeoutMs, (x) => x.id === id).then((x) => x.atMs)),
    counted: (count, timeoutMs) => all((r) => r.ask({ kind: "awaitCount", count }, "counted", timeoutMs).then((x) => x.atMs)),
    stats: () => all((r) => r.ask({ kind: "stats" }, "stats", 10_000)),
    stop: async () => void (await all((r) => r.stop())),
  };
  try {
    const ready = await all((r) => r.ask({ kind: "init", config: config(r.index) }, "ready", startTimeoutMs));
    return { ...fleet, pids: ready.map((r) => r.pid) };
  } catch (e) {
    await fleet.stop();
    throw e;
  }
}
