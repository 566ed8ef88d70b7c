/**
 * Child-process entry for the fleet benchmark (bench/fleet.ts): one replica, running the
 * library as an agent process would, driven over IPC. It reports when it holds a watched row
 * or a row count, timestamped here with the system-wide monotonic clock
 * (`process.hrtime`, CLOCK_MONOTONIC on Linux) so the parent can subtract its own commit
 * times. It looks only after each pull (the sync machine's `done.*` events), not on a busy
 * poll: twenty polling processes on two cores would measure their own polling.
 */
import Database from "better-sqlite3";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { monotonicMs, rowWatcher, serveFleetCommands, type FleetCommand, type FleetReply } from "./fleetProtocol.ts";

let memory: EmbeddedMemory | undefined;
let reader: Database.Database | undefined;
let hasRow: ((id: string) => boolean) | undefined;
let rowCount: (() => number) | undefined;
let awaitedCount: number | null = null;
const rows = rowWatcher(() => hasRow);

const send = (reply: FleetReply) => process.send!(reply);

function look(): void {
  if (!hasRow || !rowCount) return;
  rows.look();
  if (awaitedCount !== null) {
    const n = rowCount();
    if (n >= awaitedCount) {
      awaitedCount = null;
      send({ kind: "counted", count: n, atMs: monotonicMs() });
    }
  }
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`replica ${process.pid}: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function handle(cmd: FleetCommand): Promise<FleetReply | null> {
  switch (cmd.kind) {
    case "init": {
      // The timer out of play: every pull here is one NOTIFY asked for.
      const m = new EmbeddedMemory(makeConfig({ syncIntervalMs: 3_600_000, logLevel: "silent", ...cmd.config }), { logger: createLogger({ level: "silent" }) });
      memory = m;
      // After each pull ("event" would do too, but listening for it switches on xstate's
      // inspection, which a replica does not run otherwise: machineEvents.ts).
      m.events.on("pulled", look);
      await m.start();
      await waitUntil(() => m.state() === "idle" && m.stats().change_feed.state === "listening", "idle with a proven change feed");
      reader = new Database(cmd.config.localPath, { readonly: true, fileMustExist: true });
      const one = reader.prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").pluck();
      const count = reader.prepare("SELECT count(*) FROM unified_ai_memory").pluck();
      hasRow = (id) => one.get(id) !== undefined;
      rowCount = () => count.get() as number;
      return { kind: "ready", pid: process.pid };
    }
    case "watch":
      return rows.watch(cmd.id);
    case "awaitCount":
      awaitedCount = cmd.count;
      look();
      return null;
    case "stats": {
      const s = memory!.stats();
      return { kind: "stats", totalPulls: s.sync_metadata.total_pulls, state: s.state, rows: rowCount!(), readFallbacks: s.standby?.fallbacks ?? null };
    }
    case "stop":
      reader?.close();
      await memory?.stop();
      return { kind: "stopped" };
  }
}

// The parent going away ends this replica too.
serveFleetCommands(handle, async () => {
  reader?.close();
  await memory?.stop();
});
