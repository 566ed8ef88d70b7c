/**
 * The upload machine alone: fake actors (deferred promises resolved from the test) and fake
 * time (xstate's delays use the global setTimeout, which vitest fakes).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { createActor, fromPromise } from "xstate";
import { uploadMachine, type UploadOutput } from "../src/machines/uploadMachine.ts";
import { backoffDelayMs } from "../src/machines/backoff.ts";
import { connectDeadlineMs, ioDeadlineMs } from "../src/machines/deadlines.ts";

const BASE = 250;
const MAX = 30_000;
const SHORT = { connectTimeoutMs: 500, statementTimeoutMs: 1_000 };

interface Call<T> {
  readonly signal: AbortSignal;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function calls<T>() {
  const list: Call<T>[] = [];
  const actor = fromPromise<T>(
    ({ signal }) =>
      new Promise<T>((resolve, reject) => {
        list.push({ signal, resolve, reject });
      }),
  );
  return { list, actor, last: () => list[list.length - 1]! };
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);
const out = (uploaded: number, remaining = 0): UploadOutput => ({ uploaded, parked: 0, remaining });

const stops: (() => void)[] = [];
beforeEach(() => void vi.useFakeTimers());
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function harness(random: () => number = () => 0.5) {
  const connects = calls<void>();
  const uploads = calls<UploadOutput>();
  const machine = uploadMachine.provide({ actors: { connect: connects.actor, upload: uploads.actor } });
  const actor = createActor(machine, { input: { uploadIntervalMs: 60_000, backoffBaseMs: BASE, backoffMaxMs: MAX, ...SHORT, random } });
  actor.start();
  stops.push(() => actor.stop());
  return { actor, connects, uploads, state: () => actor.getSnapshot().value, ctx: () => actor.getSnapshot().context };
}

describe("upload machine: deadlines", () => {
  test("A connect that never answers fails into backoff at its deadline and aborts its signal.", async () => {
    const h = harness();
    const deadline = connectDeadlineMs(SHORT);
    await advance(deadline - 1);
    expect(h.state()).toBe("awaitingPool");
    await advance(1);
    expect(h.state()).toBe("backoff");
    expect(h.connects.list[0]!.signal.aborted).toBe(true);
    expect(h.ctx()).toMatchObject({ attempt: 1, lastError: `connect timed out after ${deadline} ms (master not answering)` });
  });

  test("An upload run that never answers fails into backoff at its deadline, and the next run after the backoff starts over.", async () => {
    const h = harness();
    h.connects.last().resolve();
    await flush();
    expect(h.state()).toBe("uploading");
    const deadline = ioDeadlineMs(SHORT);
    await advance(deadline - 1);
    expect(h.state()).toBe("uploading");
    await advance(1);
    expect(h.state()).toBe("backoff");
    expect(h.uploads.list[0]!.signal.aborted).toBe(true);
    expect(h.ctx().lastError).toBe(`upload timed out after ${deadline} ms (master not answering)`);
    // Answering late changes nothing; the backoff still leaves, and a working master clears the error.
    h.uploads.list[0]!.resolve(out(5));
    await flush();
    expect(h.ctx().uploaded).toBe(0);
    await advance(MAX);
    expect(h.state()).toBe("awaitingPool");
    h.connects.last().resolve();
    await flush();
    h.uploads.last().resolve(out(3));
    await flush();
    expect(h.state()).toBe("idle");
    expect(h.ctx()).toMatchObject({ attempt: 0, lastError: null, uploaded: 3 });
  });

  test("Each run of a long backlog gets its own deadline: runs that each finish in time never time out.", async () => {
    const h = harness();
    h.connects.last().resolve();
    await flush();
    for (let run = 0; run < 5; run++) {
      await advance(ioDeadlineMs(SHORT) - 10);
      h.uploads.last().resolve(out(100, 500 - run * 100));
      await flush();
      expect(h.state()).toBe("uploading");
    }
    h.uploads.last().resolve(out(0));
    await flush();
    expect(h.state()).toBe("idle");
    expect(h.ctx()).toMatchObject({ uploaded: 500, lastError: null });
  });

  test("The backoff delay comes from the injected random: the same value gives the same delay, and Math.random is never called.", async () => {
    const random = vi.spyOn(Math, "random");
    const h = harness(() => 1);
    h.connects.last().reject(new Error("refused"));
    await flush();
    expect(h.state()).toBe("backoff");
    await advance(backoffDelayMs(1, BASE, MAX, 1) - 1);
    expect(h.state()).toBe("backoff");
    await advance(1);
    expect(h.state()).toBe("awaitingPool");
    expect(random).not.toHaveBeenCalled();
  });
});
