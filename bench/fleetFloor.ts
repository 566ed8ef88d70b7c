/**
 * Child-process entry for the fleet benchmark's floor (bench/fleet.ts, bench/fleetBaseline.ts):
 * one bare replica (bench/floorReplica.ts) per process, measured beside the library's replicas
 * on the same machine in the same run. It speaks the fleet's IPC protocol (watch → seen, stats,
 * stop) as fleetReplica.ts does and looks after each pull alike, so the two are timed the same way.
 */
import { startFloorReplica, type FloorReplica } from "./floorReplica.ts";
import { rowWatcher, serveFleetCommands, type FleetCommand, type FleetReply } from "./fleetProtocol.ts";

let floor: FloorReplica | undefined;
const { watch, look } = rowWatcher(() => floor?.hasRow);

const send = (reply: FleetReply) => process.send!(reply);

async function handle(cmd: FleetCommand): Promise<FleetReply | null> {
  switch (cmd.kind) {
    case "init":
      floor = await startFloorReplica({ databaseUrl: cmd.config.databaseUrl, localPath: cmd.config.localPath, onPulled: look, onError: (e) => send({ kind: "failed", error: e.message }) });
      return { kind: "ready", pid: process.pid };
    case "watch":
      return watch(cmd.id);
    case "awaitCount":
      return { kind: "failed", error: "the floor replica makes no copy: it cannot count rows" };
    case "stats":
      return { kind: "stats", totalPulls: floor!.pulls(), state: floor!.pulling() ? "pulling" : "idle", rows: floor!.rows(), readFallbacks: null };
    case "stop":
      await floor?.stop();
      return { kind: "stopped" };
  }
}

serveFleetCommands(handle, async () => floor?.stop());
