/**
 * The runtime's pull actor (src/runtime/actors.ts) alone, with a fake replicator and fake time:
 * it waits the spread the machine drew before it queries, reads the machine's CHANGE count just
 * before it queries (what the machine's follow-up decision relies on), and a pull stopped during
 * its spread never queries.
 */
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { createActor, type AnyActorLogic } from "xstate";
import * as Effect from "effect/Effect";
import { provideSyncActors, type RunEffect } from "../src/runtime/actors.ts";
import { NOTHING_PULLED, type PullResult, type ReplicatorShape } from "../src/sync/replicatorShape.ts";
import type { ChangeFeedShape } from "../src/master/ChangeFeed.ts";
import type { PullInput, PullOutput } from "../src/machines/syncMachine.ts";

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

const run: RunEffect = (effect, signal) => Effect.runPromise(effect, { signal });

function pullActor(onPull: () => void) {
  const result: PullResult = { ...NOTHING_PULLED, epochChanged: false, applied: 1 };
  const replicator = { pull: () => Effect.sync(() => (onPull(), result)) } as unknown as ReplicatorShape;
  const machine = provideSyncActors({ replicator, feed: {} as ChangeFeedShape, run });
  return machine.implementations.actors.pull as AnyActorLogic;
}

test("A pull given a spread queries only after it, and reports the CHANGE count it read just before querying.", async () => {
  let changes = 3;
  const queriedAt: number[] = [];
  const actor = createActor(pullActor(() => queriedAt.push(changes)), { input: { delayMs: 4, changesSeen: () => changes } satisfies PullInput });
  const done = new Promise<PullOutput>((resolve) => actor.subscribe((s) => void (s.status === "done" && resolve(s.output as PullOutput))));
  actor.start();
  await vi.advanceTimersByTimeAsync(3);
  expect(queriedAt).toEqual([]);
  changes = 7; // seen during the spread: before the query, so in its snapshot
  await vi.advanceTimersByTimeAsync(1);
  const out = await done;
  expect(queriedAt).toEqual([7]);
  expect(out).toMatchObject({ applied: 1, changesAtQuery: 7 });
});

test("A pull stopped during its spread never queries.", async () => {
  let pulled = 0;
  const actor = createActor(pullActor(() => pulled++), { input: { delayMs: 5, changesSeen: () => 0 } satisfies PullInput });
  actor.start();
  await vi.advanceTimersByTimeAsync(2);
  actor.stop();
  await vi.advanceTimersByTimeAsync(10);
  expect(pulled).toBe(0);
});

test("A pull with no spread queries on its first turn, without a timer.", async () => {
  let pulled = 0;
  const actor = createActor(pullActor(() => pulled++), { input: { delayMs: 0, changesSeen: () => 0 } satisfies PullInput });
  actor.start();
  expect(vi.getTimerCount()).toBe(0);
  await vi.advanceTimersByTimeAsync(0);
  expect(pulled).toBe(1);
});
