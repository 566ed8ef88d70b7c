/**
 * Waiting for the first complete copy (`EmbeddedMemory.waitForFirstSync`). The copy's end is
 * seen at the next machine transition after it (the snapshot actor records completion before
 * it resolves); stop() emits "stopping", which ends the wait with an error rather than a hang.
 */
import type { EventEmitter } from "node:events";

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
