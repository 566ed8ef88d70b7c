/**
 * Feeds the metrics from what the composition sees: machine transitions, pull
 * and upload results. Kept apart from the composition so it stays about wiring.
 */
import type { EventEmitter } from "node:events";
import type { Metrics } from "../observability/metrics.ts";
import type { TransitionEvent } from "./machineEvents.ts";
import type { PullResult } from "../sync/Replicator.ts";

export function instrumentMachines(events: EventEmitter, metrics: Metrics): void {
  events.on("transition", (e: TransitionEvent) => {
    if (e.machine === "sync") {
      metrics.setSyncState(e.to);
      if ((e.from === "syncing" || e.from === "empty") && e.to === "backoff") metrics.pulls.inc({ result: "error" });
    } else {
      metrics.setUploadState(e.to);
      if (e.from === "uploading" && e.to === "backoff") metrics.uploadErrors.inc();
    }
  });
}

export function recordPull(metrics: Metrics, r: PullResult, seconds: number): void {
  metrics.pulls.inc({ result: "ok" });
  metrics.pullDuration.observe(seconds);
  metrics.rowsApplied.inc(r.applied);
  for (const [table, n] of Object.entries(r.tables ?? {})) metrics.tableRowsApplied.inc({ table }, n);
  metrics.bytesPulled.inc(r.bytes);
  metrics.oldestOpenXact.set(r.oldestOpenXactSeconds);
  metrics.lastSync.set(Date.now() / 1000);
  if (r.oldestChangeAtMs !== null) metrics.lag.set(Math.max(0, (Date.now() - r.oldestChangeAtMs) / 1000));
}
