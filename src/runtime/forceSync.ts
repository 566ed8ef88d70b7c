/**
 * Force-sync (CONTRACT: POST /memory/force-sync): a sync that starts after the request and
 * answers when it ends. The machine settles the request by id (wireMachines.ts); the counts are
 * read from the file before and after.
 */
import { randomUUID } from "node:crypto";
import type { Actor } from "xstate";
import type { SyncMachine } from "../machines/syncMachine.ts";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Outcome } from "./wireMachines.ts";
import type { ForceSyncResult, MemoryStats } from "./stats.ts";

export interface ForceSyncParts {
  readonly actor: Actor<SyncMachine>;
  readonly store: LocalStoreShape;
  readonly descriptor: TableDescriptor;
  /** Where the machine's answer for a request id is awaited. */
  readonly waiters: Map<string, (r: Outcome) => void>;
  readonly stats: () => MemoryStats;
}

export async function forceSync(p: ForceSyncParts, full: boolean): Promise<ForceSyncResult> {
  const { store, descriptor: d } = p;
  const before = store.count(d);
  // Rows applied between the request and the answer, by whichever pulls applied them
  // (a pull already in flight may apply the rows a caller is waiting for).
  const appliedBefore = store.syncState(d).totalApplied;
  const requestId = randomUUID();
  const outcome = await new Promise<Outcome>((resolve) => {
    p.waiters.set(requestId, resolve);
    p.actor.send({ type: "FORCE_SYNC", requestId, full });
  });
  const stats = p.stats();
  return {
    success: outcome.ok,
    before_count: before,
    after_count: stats.total_memories,
    synced_count: outcome.ok ? store.syncState(d).totalApplied - appliedBefore : 0,
    last_sync: stats.last_sync,
    pool_connected: stats.pool_connected,
    state: String(p.actor.getSnapshot().value) as ForceSyncResult["state"],
    ...(outcome.ok ? {} : { error: outcome.error }),
  };
}
