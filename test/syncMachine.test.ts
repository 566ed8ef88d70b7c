/**
 * The sync machine alone: fake actors (deferred promises resolved from the test) and fake time.
 * No Postgres, no SQLite: xstate's `after` delays use the global setTimeout, which vitest fakes.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { createActor, fromCallback, fromPromise } from "xstate";
import type { AnyEventObject } from "xstate";
import { backoffDelayMs, FOLLOW_UP_BASE_MS, FOLLOW_UP_MAX_MS, PULL_SPREAD_MAX_MS, pullPacingMs, pullSpreadMs, syncMachine, type ConnectOutput, type PullInput, type PullOutput, type SnapshotInput, type SyncEmitted } from "../src/machines/syncMachine.ts";
import { connectDeadlineMs, ioDeadlineMs } from "../src/machines/deadlines.ts";

const BASE = 250;
const MAX = 30_000;

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets settled promises reach the machine (and runs timers that are already due). */
const flush = () => vi.advanceTimersByTimeAsync(0);
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);
const pulled = (applied: number, epochChanged = false): PullOutput => ({ applied, epochChanged });

interface HarnessOptions {
  readonly syncIntervalMs?: number;
  /** Defaults to syncIntervalMs, so tests about other things do not depend on feed health. */
  readonly pollIntervalMs?: number;
  /** Long by default (deadlines 65 s and 185 s), so tests about other things never meet them. */
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

function harness(o: HarnessOptions = {}) {
  const syncIntervalMs = o.syncIntervalMs ?? 60_000;
  const connects: Deferred<ConnectOutput>[] = [];
  const connectSignals: AbortSignal[] = [];
  const snapshots: { input: SnapshotInput; d: Deferred<number> }[] = [];
  const pulls: { signal: AbortSignal; input: PullInput; d: Deferred<PullOutput> }[] = [];
  let feed: ((event: AnyEventObject) => void) | undefined;
  const machine = syncMachine.provide({
    actors: {
      connect: fromPromise<ConnectOutput>(({ signal }) => {
        connectSignals.push(signal);
        const d = deferred<ConnectOutput>();
        connects.push(d);
        return d.promise;
      }),
      snapshot: fromPromise<number, SnapshotInput>(({ input }) => {
        const d = deferred<number>();
        snapshots.push({ input, d });
        return d.promise;
      }),
      pull: fromPromise<PullOutput, PullInput>(({ input, signal }) => {
        const d = deferred<PullOutput>();
        pulls.push({ signal, input, d });
        return d.promise;
      }),
      changeFeed: fromCallback<AnyEventObject>(({ sendBack }) => {
        feed = sendBack;
      }),
    },
  });
  const actor = createActor(machine, {
    input: {
      syncIntervalMs,
      pollIntervalMs: o.pollIntervalMs ?? syncIntervalMs,
      backoffBaseMs: BASE,
      backoffMaxMs: MAX,
      connectTimeoutMs: o.connectTimeoutMs ?? 60_000,
      statementTimeoutMs: o.statementTimeoutMs ?? 120_000,
      now: o.now ?? (() => Date.now()),
      random: o.random ?? (() => 0.5),
    },
  });
  const states: string[] = [];
  actor.subscribe((s) => {
    if (states[states.length - 1] !== s.value) states.push(String(s.value));
  });
  // Every pull answers `serving`, even when empty: keep only the emissions that answer requests.
  const done: Extract<SyncEmitted, { type: "forceSyncDone" }>[] = [];
  const failed: Extract<SyncEmitted, { type: "forceSyncFailed" }>[] = [];
  actor.on("forceSyncDone", (e) => void (e.requestIds.length && done.push(e)));
  actor.on("forceSyncFailed", (e) => void (e.requestIds.length && failed.push(e)));
  actor.start();
  const h = {
    actor,
    connects,
    connectSignals,
    snapshots,
    pulls,
    states,
    done,
    failed,
    state: () => actor.getSnapshot().value,
    ctx: () => actor.getSnapshot().context,
    sendFromFeed: (event: AnyEventObject) => feed!(event),
    lastPull: () => pulls[pulls.length - 1]!,
    async connect(out: ConnectOutput | Error) {
      const d = connects[connects.length - 1]!;
      if (out instanceof Error) d.reject(out);
      else d.resolve(out);
      await flush();
    },
    /** The pull in flight reads the CHANGEs counted so far, as the runtime's does just before it queries. */
    queried: () => pulls[pulls.length - 1]!.input.changesSeen(),
    async pull(out: PullOutput | Error) {
      const d = pulls[pulls.length - 1]!.d;
      if (out instanceof Error) d.reject(out);
      else d.resolve(out);
      await flush();
    },
    /** The running copy reports a chunk, as the runtime's snapshot actor does. */
    progress(rowsCopied: number) {
      snapshots[snapshots.length - 1]!.input.parent.send({ type: "SNAPSHOT_PROGRESS", rowsCopied });
    },
    async snapshot(count: number) {
      snapshots[snapshots.length - 1]!.d.resolve(count);
      await flush();
    },
    /** awaitingPool → syncing (complete snapshot) → idle. */
    async toIdle() {
      await h.connect({ snapshotComplete: true });
      await h.pull(pulled(0));
      expect(h.state()).toBe("idle");
    },
  };
  cleanup.push(() => actor.stop());
  return h;
}

const cleanup: (() => void)[] = [];
beforeEach(() => void vi.useFakeTimers());
afterEach(() => {
  for (const stop of cleanup.splice(0)) stop();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("sync machine: states", () => {
  test("Every state is reachable: awaitingPool first, then backoff, empty, syncing, idle, settling and stopped.", async () => {
    const h = harness();
    expect(h.state()).toBe("awaitingPool");
    expect(h.connects).toHaveLength(1);
    await h.connect(new Error("no route to host"));
    expect(h.state()).toBe("backoff");
    await advance(MAX);
    expect(h.state()).toBe("awaitingPool");
    await h.connect({ snapshotComplete: false });
    expect(h.state()).toBe("empty");
    expect(h.snapshots).toHaveLength(1);
    await h.snapshot(10);
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(1);
    await h.pull(pulled(2));
    expect(h.state()).toBe("idle");
    // A burst: changes during two pulls in a row pace the next one in settling.
    h.sendFromFeed({ type: "CHANGE" });
    expect(h.state()).toBe("syncing");
    h.sendFromFeed({ type: "CHANGE" });
    await h.pull(pulled(1));
    h.sendFromFeed({ type: "CHANGE" });
    await h.pull(pulled(1));
    expect(h.state()).toBe("settling");
    await advance(FOLLOW_UP_MAX_MS);
    await h.pull(pulled(1));
    h.actor.send({ type: "STOP" });
    expect(h.state()).toBe("stopped");
    expect(h.actor.getSnapshot().status).toBe("done");
    expect(h.states).toEqual(["awaitingPool", "backoff", "awaitingPool", "empty", "syncing", "idle", "syncing", "settling", "syncing", "idle", "stopped"]);
  });

  test("A pull that reports a changed epoch goes back to awaitingPool, and the new connect leads to a fresh copy.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    await h.pull(pulled(0, true));
    expect(h.state()).toBe("awaitingPool");
    expect(h.connects).toHaveLength(2);
    await h.connect({ snapshotComplete: false });
    expect(h.state()).toBe("empty");
    expect(h.snapshots[0]!.input.restart).toBe(false);
  });

  test("Stopping the actor, or sending STOP, while a pull is in flight aborts the pull's AbortSignal.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    const { signal } = h.lastPull();
    expect(signal.aborted).toBe(false);
    h.actor.stop();
    expect(signal.aborted).toBe(true);

    const h2 = harness();
    await h2.connect({ snapshotComplete: true });
    const second = h2.lastPull().signal;
    h2.actor.send({ type: "STOP" });
    expect(h2.state()).toBe("stopped");
    expect(second.aborted).toBe(true);
  });
});

describe("sync machine: failures and backoff", () => {
  test("With connect always failing the machine cycles between awaitingPool and backoff, and each backoff ends within its delay.", async () => {
    let random = 1; // the longest delay of every step
    const h = harness({ random: () => random });
    for (let attempt = 1; attempt <= 12; attempt++) {
      await h.connect(new Error(`refused #${attempt}`));
      expect(h.state()).toBe("backoff");
      expect(h.ctx()).toMatchObject({ attempt, lastError: `refused #${attempt}`, poolConnected: false });
      const delay = backoffDelayMs(attempt, BASE, MAX, 1);
      expect(delay).toBeLessThanOrEqual(MAX);
      await advance(delay - 1);
      expect(h.state()).toBe("backoff");
      await advance(1);
      expect(h.state()).toBe("awaitingPool");
      expect(h.connects).toHaveLength(attempt + 1);
    }
    random = 0.999; // any jitter: backoffMaxMs is always enough
    for (let attempt = 13; attempt <= 20; attempt++) {
      await h.connect(new Error("refused"));
      expect(h.ctx().attempt).toBe(attempt);
      await advance(MAX);
      expect(h.state()).toBe("awaitingPool");
    }
    expect(h.states).toEqual(Array.from({ length: 41 }, (_, i) => (i % 2 ? "backoff" : "awaitingPool")));
  });

  test("backoffDelayMs stays within half a step and a step, never exceeds the cap and is never zero.", () => {
    expect(backoffDelayMs(1, BASE, MAX, 0)).toBe(125);
    expect(backoffDelayMs(1, BASE, MAX, 1)).toBe(250);
    expect(backoffDelayMs(8, BASE, MAX, 0)).toBe(15_000);
    for (let attempt = 1; attempt <= 50; attempt++) {
      const step = Math.min(MAX, BASE * 2 ** (attempt - 1));
      for (const random of [0, 0.25, 0.5, 0.999, 1]) {
        const d = backoffDelayMs(attempt, BASE, MAX, random);
        expect(d).toBeGreaterThanOrEqual(step / 2);
        expect(d).toBeLessThanOrEqual(step);
        expect(d).toBeLessThanOrEqual(MAX);
        expect(d).toBeGreaterThan(0);
      }
    }
    expect(backoffDelayMs(5000, BASE, MAX, 1)).toBe(MAX);
  });

  test("After a failure and then a success, attempt returns to 0 and lastError to null once a pull succeeds.", async () => {
    const h = harness();
    await h.connect(new Error("boom"));
    expect(h.ctx()).toMatchObject({ attempt: 1, lastError: "boom", poolConnected: false });
    await advance(MAX);
    await h.connect({ snapshotComplete: true });
    expect(h.state()).toBe("syncing");
    expect(h.ctx().attempt).toBe(1); // not yet: only a successful sync resets it
    await h.pull(pulled(3));
    expect(h.state()).toBe("idle");
    expect(h.ctx()).toMatchObject({ attempt: 0, lastError: null, poolConnected: true, lastSyncAt: Date.now() });
  });

  test("A failing pull goes to backoff and counts the failure.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    await h.pull(new Error("connection reset"));
    expect(h.state()).toBe("backoff");
    expect(h.ctx()).toMatchObject({ attempt: 1, lastError: "connection reset", poolConnected: false });
  });

  test("FEED_CONNECTED in backoff goes to awaitingPool at once, without waiting for the delay.", async () => {
    const h = harness();
    await h.connect(new Error("down"));
    expect(h.state()).toBe("backoff");
    h.sendFromFeed({ type: "FEED_CONNECTED" });
    expect(h.state()).toBe("awaitingPool");
    expect(h.connects).toHaveLength(2);
    expect(h.ctx().feedConnected).toBe(true);
  });
});

describe("sync machine: when it pulls", () => {
  test("A CHANGE during a pull makes the machine pull once more right after it.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    h.sendFromFeed({ type: "CHANGE", table: "unified_ai_memory" });
    await h.pull(pulled(1));
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(2);
    await h.pull(pulled(1));
    expect(h.state()).toBe("idle");
    expect(h.pulls).toHaveLength(2);
  });

  test("A burst of CHANGE events during one pull coalesces into exactly one extra pull.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    for (let i = 0; i < 5; i++) h.sendFromFeed({ type: "CHANGE" });
    await h.pull(pulled(0));
    expect(h.pulls).toHaveLength(2);
    await h.pull(pulled(5));
    await advance(1000);
    expect(h.state()).toBe("idle");
    expect(h.pulls).toHaveLength(2);
  });

  test("A CHANGE in idle starts a pull that waits the fleet's spread, and FEED_CONNECTED in idle starts a catch-up pull at once.", async () => {
    const h = harness();
    await h.toIdle();
    h.sendFromFeed({ type: "CHANGE" });
    expect(h.state()).toBe("syncing");
    expect(h.lastPull().input.delayMs).toBe(pullSpreadMs(0.5));
    await h.pull(pulled(1));
    expect(h.pulls).toHaveLength(2);
    h.sendFromFeed({ type: "FEED_CONNECTED" });
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(3);
    expect(h.lastPull().input.delayMs).toBe(0);
    expect(h.ctx().feedConnected).toBe(true);
  });

  test("In idle the sync interval starts a pull after exactly syncIntervalMs, and nothing happens before.", async () => {
    const h = harness({ syncIntervalMs: 1000, pollIntervalMs: 50 });
    h.sendFromFeed({ type: "FEED_HEALTHY" });
    await h.toIdle();
    await advance(999);
    expect(h.state()).toBe("idle");
    expect(h.pulls).toHaveLength(1);
    await advance(1);
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(2);
  });
});

describe("sync machine: forced syncs", () => {
  test("FORCE_SYNC in idle is answered with its request id and the rows applied by the pull it started.", async () => {
    const h = harness();
    await h.toIdle();
    h.actor.send({ type: "FORCE_SYNC", requestId: "r1" });
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(2);
    expect(h.done).toEqual([]);
    await h.pull(pulled(7));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["r1"], applied: 7 }]);
    expect(h.state()).toBe("idle");
  });

  test("FORCE_SYNC during a pull is answered only by a new pull that starts after it.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: true });
    h.actor.send({ type: "FORCE_SYNC", requestId: "r2" });
    await h.pull(pulled(3));
    expect(h.done).toEqual([]);
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(2);
    await h.pull(pulled(5));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["r2"], applied: 5 }]);
    expect(h.state()).toBe("idle");
  });

  test("A full FORCE_SYNC in idle restarts the copy and is answered with the snapshot count plus the pull count.", async () => {
    const h = harness();
    await h.toIdle();
    h.actor.send({ type: "FORCE_SYNC", requestId: "r3", full: true });
    expect(h.state()).toBe("empty");
    expect(h.snapshots).toHaveLength(1);
    expect(h.snapshots[0]!.input.restart).toBe(true);
    await h.snapshot(100);
    expect(h.done).toEqual([]);
    expect(h.state()).toBe("syncing");
    await h.pull(pulled(4));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["r3"], applied: 104 }]);
    expect(h.ctx().restartSnapshot).toBe(false);
  });

  test("FEED_DISCONNECTED in idle checks the master at once: awaitingPool, then backoff when it is gone.", async () => {
    const h = harness();
    await h.toIdle();
    h.sendFromFeed({ type: "FEED_DISCONNECTED", error: "connection lost" });
    expect(h.state()).toBe("awaitingPool");
    expect(h.ctx().feedConnected).toBe(false);
    await h.connect(new Error("master not reachable"));
    expect(h.state()).toBe("backoff");
    expect(h.ctx().poolConnected).toBe(false);
  });

  test("A full FORCE_SYNC that arrives during a copy restarts the copy, and is answered only after the restarted copy and its pull.", async () => {
    const h = harness();
    await h.connect({ snapshotComplete: false });
    expect(h.snapshots[0]!.input.restart).toBe(false);
    h.actor.send({ type: "FORCE_SYNC", requestId: "full", full: true });
    expect(h.snapshots[0]!.d).toBeDefined();
    expect(h.snapshots).toHaveLength(2);
    expect(h.snapshots[1]!.input.restart).toBe(true);
    await h.snapshot(40);
    expect(h.done).toEqual([]);
    await h.pull(pulled(1));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["full"], applied: 41 }]);
    expect(h.ctx().restartSnapshot).toBe(false);
  });

  test("When connect fails while a FORCE_SYNC waits, forceSyncFailed carries the request id and the error message.", async () => {
    const h = harness();
    h.actor.send({ type: "FORCE_SYNC", requestId: "r4" });
    await h.connect(new Error("password authentication failed"));
    expect(h.state()).toBe("backoff");
    expect(h.failed).toEqual([{ type: "forceSyncFailed", requestIds: ["r4"], error: "password authentication failed" }]);
    expect(h.done).toEqual([]);
    expect(h.ctx().pending).toEqual([]);
  });

  test("FORCE_SYNC in backoff goes to awaitingPool at once and is answered by the sync that follows.", async () => {
    const h = harness();
    await h.connect(new Error("down"));
    h.actor.send({ type: "FORCE_SYNC", requestId: "r5" });
    expect(h.state()).toBe("awaitingPool");
    expect(h.connects).toHaveLength(2);
    await h.connect({ snapshotComplete: true });
    await h.pull(pulled(2));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["r5"], applied: 2 }]);
  });
});

describe("sync machine: deadlines", () => {
  // connect 500 ms, statement 1 s → the connect step's deadline is 1 s, a pull's or a chunk's 2 s.
  const SHORT = { connectTimeoutMs: 500, statementTimeoutMs: 1_000 };
  const CONNECT = connectDeadlineMs(SHORT);
  const IO = ioDeadlineMs(SHORT);

  test("The deadlines follow the documented series: 15 s and 45 s with the default timeouts, 1 s and 2 s with short ones.", () => {
    expect([connectDeadlineMs({ connectTimeoutMs: 10_000, statementTimeoutMs: 30_000 }), ioDeadlineMs({ connectTimeoutMs: 10_000, statementTimeoutMs: 30_000 })]).toEqual([15_000, 45_000]);
    expect([CONNECT, IO]).toEqual([1_000, 2_000]);
  });

  test("A connect that never answers fails into backoff at its deadline, aborts its signal and answers a waiting force-sync with the reason.", async () => {
    const h = harness(SHORT);
    h.actor.send({ type: "FORCE_SYNC", requestId: "f1" });
    await advance(CONNECT - 1);
    expect(h.state()).toBe("awaitingPool");
    expect(h.connectSignals[0]!.aborted).toBe(false);
    await advance(1);
    expect(h.state()).toBe("backoff");
    expect(h.connectSignals[0]!.aborted).toBe(true);
    const message = `connect timed out after ${CONNECT} ms (master not answering)`;
    expect(h.ctx()).toMatchObject({ attempt: 1, lastError: message, poolConnected: false });
    expect(h.failed).toEqual([{ type: "forceSyncFailed", requestIds: ["f1"], error: message }]);
    // The connect answering late changes nothing.
    h.connects[0]!.resolve({ snapshotComplete: true });
    await flush();
    expect(h.state()).toBe("backoff");
  });

  test("A pull that never answers fails into backoff at its deadline, with pool_connected false and the force-sync waiting on it answered.", async () => {
    const h = harness(SHORT);
    await h.connect({ snapshotComplete: true });
    expect(h.ctx().poolConnected).toBe(true);
    h.actor.send({ type: "FORCE_SYNC", requestId: "f2" });
    const { signal } = h.lastPull();
    await advance(IO - 1);
    expect(h.state()).toBe("syncing");
    await advance(1);
    expect(h.state()).toBe("backoff");
    expect(signal.aborted).toBe(true);
    const message = `pull timed out after ${IO} ms (master not answering)`;
    expect(h.ctx()).toMatchObject({ lastError: message, poolConnected: false });
    expect(h.failed).toEqual([{ type: "forceSyncFailed", requestIds: ["f2"], error: message }]);
  });

  test("Each pull gets its own deadline: back-to-back pulls that each finish in time never time out.", async () => {
    const h = harness(SHORT);
    await h.connect({ snapshotComplete: true });
    for (let i = 0; i < 5; i++) {
      h.sendFromFeed({ type: "CHANGE" });
      await advance(IO - 10);
      await h.pull(pulled(1));
      // Past the first follow-up a burst is paced in settling; that wait is no pull's deadline.
      if (i > 0) expect(h.state()).toBe("settling");
      await advance(pullPacingMs(h.ctx().followUps, 0.5));
      expect(h.state()).toBe("syncing");
    }
    await h.pull(pulled(0));
    expect(h.state()).toBe("idle");
    expect(h.ctx().lastError).toBeNull();
  });

  test("The copy's deadline restarts on every chunk: a long copy that keeps progressing never times out, a stalled one does.", async () => {
    const h = harness(SHORT);
    await h.connect({ snapshotComplete: false });
    expect(h.state()).toBe("empty");
    // Ten chunks, each just inside the deadline: five deadlines' worth of copying in all.
    for (let chunk = 1; chunk <= 10; chunk++) {
      await advance(IO - 1);
      expect(h.state()).toBe("empty");
      h.progress(chunk * 2_000);
    }
    expect(h.snapshots).toHaveLength(1); // the same copy all along: progress does not restart it
    await advance(IO - 1);
    expect(h.state()).toBe("empty");
    await advance(1);
    expect(h.state()).toBe("backoff");
    expect(h.ctx().lastError).toBe(`copy made no progress for ${IO} ms (master not answering)`);
  });

  test("A copy that completes leaves no deadline behind, and a full force-sync during a copy starts its restarted copy with a fresh deadline.", async () => {
    const h = harness(SHORT);
    await h.connect({ snapshotComplete: false });
    await advance(IO - 100);
    h.actor.send({ type: "FORCE_SYNC", requestId: "full", full: true });
    expect(h.snapshots).toHaveLength(2);
    await advance(IO - 1);
    expect(h.state()).toBe("empty");
    await h.snapshot(10);
    await h.pull(pulled(0));
    expect(h.state()).toBe("idle");
    await advance(IO * 3);
    expect(h.state()).toBe("idle");
    expect(h.ctx().lastError).toBeNull();
  });
});

describe("sync machine: feed health and purity", () => {
  test("Idle polls every pollIntervalMs until the feed proves itself, then waits syncIntervalMs, and polls again once it is unhealthy.", async () => {
    const h = harness({ syncIntervalMs: 30_000, pollIntervalMs: 2_000 });
    expect(h.ctx().feedHealthy).toBe(false);
    await h.toIdle();
    await advance(2_000);
    expect(h.pulls).toHaveLength(2); // unverified feed: poll
    await h.pull(pulled(0));
    h.sendFromFeed({ type: "FEED_HEALTHY" });
    expect(h.ctx().feedHealthy).toBe(true);
    await advance(2_000); // the timer armed while unhealthy still fires once
    await h.pull(pulled(0));
    await advance(29_999);
    expect(h.pulls).toHaveLength(3);
    await advance(1);
    expect(h.pulls).toHaveLength(4);
    await h.pull(pulled(0));
    // Unhealthy in idle: a catch-up pull at once, then polling.
    h.sendFromFeed({ type: "FEED_UNHEALTHY", reason: "no NOTIFY within 3000 ms" });
    expect(h.state()).toBe("syncing");
    expect(h.pulls).toHaveLength(5);
    await h.pull(pulled(0));
    await advance(2_000);
    expect(h.pulls).toHaveLength(6);
  });

  test("A lost feed during a pull lets the pull finish, pulls once more right after, and leaves the feed unhealthy.", async () => {
    const h = harness({ syncIntervalMs: 30_000, pollIntervalMs: 2_000 });
    h.sendFromFeed({ type: "FEED_CONNECTED" });
    h.sendFromFeed({ type: "FEED_HEALTHY" });
    await h.connect({ snapshotComplete: true });
    const { signal } = h.lastPull();
    h.sendFromFeed({ type: "FEED_DISCONNECTED", error: "connection lost" });
    expect(h.state()).toBe("syncing");
    expect(signal.aborted).toBe(false);
    expect(h.ctx()).toMatchObject({ feedConnected: false, feedHealthy: false });
    await h.pull(pulled(1));
    expect(h.pulls).toHaveLength(2);
    await h.pull(pulled(0));
    expect(h.state()).toBe("idle");
    await advance(2_000);
    expect(h.pulls).toHaveLength(3);
  });

  test("The backoff delay and lastSyncAt come from the injected random and clock, not from Math.random or Date.now.", async () => {
    // (xstate's scheduler reads Date.now for its own bookkeeping: only Math.random is spied on.)
    const random = vi.spyOn(Math, "random");
    const h = harness({ random: () => 0, now: () => 1_234_567 });
    await h.connect(new Error("down"));
    await advance(backoffDelayMs(1, BASE, MAX, 0) - 1); // 125 ms: the shortest delay, exactly
    expect(h.state()).toBe("backoff");
    await advance(1);
    expect(h.state()).toBe("awaitingPool");
    await h.connect({ snapshotComplete: true });
    await h.pull(pulled(0));
    expect(h.ctx().lastSyncAt).toBe(1_234_567);
    expect(random).not.toHaveBeenCalled();
  });
});

describe("sync machine: pacing a fleet", () => {
  test("pullPacingMs adds a spread of 0 to PULL_SPREAD_MAX_MS to every wait, and paces follow-ups from the second one, doubling up to the cap.", () => {
    expect([pullPacingMs(0, 0), pullPacingMs(0, 0.999_999), pullPacingMs(1, 0)]).toEqual([0, PULL_SPREAD_MAX_MS, 0]);
    const gaps = Array.from({ length: 10 }, (_, k) => pullPacingMs(k + 2, 0));
    expect(gaps.slice(0, 3)).toEqual([FOLLOW_UP_BASE_MS, 2 * FOLLOW_UP_BASE_MS, 4 * FOLLOW_UP_BASE_MS]);
    expect(Math.max(...gaps)).toBe(FOLLOW_UP_MAX_MS);
    for (const k of [0, 1, 2, 5, 50]) for (const r of [0, 0.3, 0.999_999]) expect(pullPacingMs(k, r) - pullPacingMs(k, 0)).toBeLessThanOrEqual(PULL_SPREAD_MAX_MS);
  });

  test("A CHANGE in idle gives its pull the spread drawn from the injected random, and changes seen before that pull queried are one pull.", async () => {
    const random = vi.spyOn(Math, "random");
    let r = 0.5;
    const h = harness({ random: () => r });
    await h.toIdle();
    r = 0.999_999; // the longest spread
    h.sendFromFeed({ type: "CHANGE" });
    expect([h.state(), h.pulls.length, h.lastPull().input.delayMs]).toEqual(["syncing", 2, PULL_SPREAD_MAX_MS]);
    // A burst during the spread: the pull, querying after it, reads them all.
    for (let i = 0; i < 20; i++) h.sendFromFeed({ type: "CHANGE" });
    const atQuery = h.queried();
    await h.pull({ ...pulled(21), changesAtQuery: atQuery });
    expect([h.state(), h.pulls.length]).toEqual(["idle", 2]);
    r = 0; // no spread
    h.sendFromFeed({ type: "CHANGE" });
    expect([h.state(), h.pulls.length, h.lastPull().input.delayMs]).toEqual(["syncing", 3, 0]);
    // One seen after the pull queried is not in its snapshot: a follow-up, at once.
    const before = h.queried();
    h.sendFromFeed({ type: "CHANGE" });
    await h.pull({ ...pulled(1), changesAtQuery: before });
    expect([h.state(), h.pulls.length, h.lastPull().input.delayMs]).toEqual(["syncing", 4, 0]);
    await h.pull({ ...pulled(1), changesAtQuery: h.queried() });
    expect(h.state()).toBe("idle");
    expect(random).not.toHaveBeenCalled();
  });

  test("A long burst costs one pull per pull's worth of changes: the first follow-up at once, then waits that double up to FOLLOW_UP_MAX_MS, kept through a short lull and reset by a quiet one.", async () => {
    const h = harness({ random: () => 0 });
    await h.toIdle();
    h.sendFromFeed({ type: "CHANGE" });
    await flush();
    expect(h.pulls).toHaveLength(2);
    const waits: number[] = [];
    for (let round = 0; round < 8; round++) {
      // Any number of changes during a pull…
      for (let i = 0; i < 50; i++) h.sendFromFeed({ type: "CHANGE" });
      const before = h.pulls.length;
      await h.pull(pulled(50));
      // …is exactly one follow-up, after the wait it measures here.
      let waited = 0;
      while (h.pulls.length === before) {
        expect(h.state()).toBe("settling");
        await advance(1);
        waited++;
      }
      expect(h.pulls).toHaveLength(before + 1);
      waits.push(waited);
    }
    // With the shipped constants: 0, 10, 20, 40, 80, 160, 320, 500 ms.
    expect(waits).toEqual([0, ...[0, 1, 2, 3, 4, 5, 6].map((j) => Math.min(FOLLOW_UP_MAX_MS, FOLLOW_UP_BASE_MS * 2 ** j))]);
    await h.pull(pulled(0));
    expect(h.state()).toBe("idle");
    // The burst pauses for less than a pace: it is the same burst, at the same pace.
    await advance(FOLLOW_UP_MAX_MS - 1);
    h.sendFromFeed({ type: "CHANGE" });
    await advance(FOLLOW_UP_MAX_MS - 1);
    expect([h.state(), h.pulls.length]).toEqual(["settling", 10]);
    await advance(1);
    await h.pull(pulled(1));
    // After a quiet pace, a commit is a lone commit again: no pacing.
    await advance(FOLLOW_UP_MAX_MS);
    h.sendFromFeed({ type: "CHANGE" });
    await flush();
    expect([h.state(), h.ctx().followUps]).toEqual(["syncing", 0]);
  });

  test("A burst whose pulls take turns catching a change and catching none is paced all the same: a change soon after a follow-up keeps the count.", async () => {
    const h = harness({ random: () => 0 });
    await h.toIdle();
    const start = h.pulls.length;
    const states: string[] = [];
    for (let cycle = 0; cycle < 6; cycle++) {
      h.sendFromFeed({ type: "CHANGE" });
      await flush();
      states.push(h.state());
      // A change lands during whichever pull comes next (at once, or after the pace)…
      while (h.pulls.length === start + 2 * cycle) await advance(1);
      h.sendFromFeed({ type: "CHANGE" });
      await h.pull(pulled(1));
      // …and the follow-up it asks for catches none: the machine is idle for a moment.
      while (h.pulls.length === start + 2 * cycle + 1) await advance(1);
      await h.pull(pulled(1));
      expect(h.state()).toBe("idle");
      await advance(1);
    }
    // The first cycle is a lone change; from the second the burst is paced (settling, not at once).
    expect(states[0]).toBe("syncing");
    expect(states.slice(2)).toEqual(["settling", "settling", "settling", "settling"]);
    expect(h.ctx().followUps).toBeGreaterThanOrEqual(6);
  });

  test("Lone changes are never paced, however often they come: each finds the machine idle and is pulled after the spread alone.", async () => {
    const h = harness({ random: () => 0 });
    await h.toIdle();
    for (let i = 0; i < 30; i++) {
      h.sendFromFeed({ type: "CHANGE" });
      await flush();
      expect(h.state()).toBe("syncing");
      await h.pull(pulled(1));
      expect(h.state()).toBe("idle");
      await advance(1);
    }
    expect(h.pulls).toHaveLength(31);
  });

  test("In settling a FORCE_SYNC pulls at once and is answered by that pull, and a lost feed checks the master at once.", async () => {
    const h = harness({ random: () => 0 });
    await h.toIdle();
    h.sendFromFeed({ type: "CHANGE" });
    await flush();
    h.sendFromFeed({ type: "CHANGE" });
    await h.pull(pulled(1)); // first follow-up: at once
    h.sendFromFeed({ type: "CHANGE" });
    await h.pull(pulled(1));
    expect(h.state()).toBe("settling");
    h.actor.send({ type: "FORCE_SYNC", requestId: "r1" });
    expect(h.state()).toBe("syncing");
    await h.pull(pulled(4));
    expect(h.done).toEqual([{ type: "forceSyncDone", requestIds: ["r1"], applied: 4 }]);
    expect(h.state()).toBe("idle");
    h.sendFromFeed({ type: "CHANGE" });
    h.sendFromFeed({ type: "FEED_DISCONNECTED", error: "connection lost" });
    expect(h.state()).toBe("awaitingPool");
    expect(h.ctx().feedConnected).toBe(false);
  });
});
