/**
 * Waiting for the first complete copy (`EmbeddedMemory.waitForFirstSync`). The copy's end is
 * seen at the next machine transition after it (the snapshot actor records completion before
 * it resolves); stop() emits "stopping", which ends the wait with an error rather than a hang.
 */
import type { EventEmitter } from "node:events";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import { localTableName, type ReplicatedTableConfig } from "../schema/replicatedTables.ts";

export function waitForFirstCopy(events: EventEmitter, complete: () => boolean, stopping: boolean, signal?: AbortSignal): Promise<void> {
  if (complete()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (outcome: () => void) => {
      events.off("transition", onTransition);
      events.off("stopping", onStop);
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const onTransition = () => complete() && done(resolve);
    const onStop = () => done(() => reject(new Error("waitForFirstSync: the replica was stopped before its first copy completed")));
    const onAbort = () => done(() => reject(signal!.reason ?? new Error("waitForFirstSync: aborted")));
    if (stopping) return onStop();
    if (signal?.aborted) return onAbort();
    events.on("transition", onTransition);
    events.once("stopping", onStop);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The memory table's copy is complete, and so is every further table's as configured (a table
 * the file holds with another filter will be copied anew at connect: not complete yet).
 */
export function firstCopyComplete(store: LocalStoreShape, memory: TableDescriptor, further: readonly ReplicatedTableConfig[]): boolean {
  if (!store.syncState(memory).snapshotComplete) return false;
  if (further.length === 0) return true;
  const held = store.tables();
  return further.every((t) => {
    const d = held.find((h) => h.localName === localTableName(t.name) && h.masterTable === t.name && h.filter === t.filter);
    return d !== undefined && store.syncState(d).snapshotComplete;
  });
}
