/**
 * The sync machine: a pure statechart. Its actors (connect, snapshot, pull, changeFeed) are
 * placeholders here and are provided by the runtime (src/runtime/actors.ts), so tests
 * can drive it with fake actors and fake time.
 *
 *   awaitingPool ──connected──▶ empty (copying) ──▶ syncing ⇄ idle   (a lone change: syncing, after the spread)
 *        ▲                         │                 │ ⇅      │ change while a burst goes on
 *        │                         │                 │ settling ◀┘  (a burst's pace)
 *        └──── backoff ◀───────────┴─ error/deadline ┘
 *
 * Every step that waits on the master has a deadline (deadlines.ts); the copy's restarts on
 * each chunk (SNAPSHOT_PROGRESS). The machine reads the clock and randomness only through
 * its input (`now`, `random`), so a test with fake time is deterministic.
 */
import { assign, cancel, emit, fromCallback, fromPromise, raise, setup } from "xstate";
import type { AnyEventObject } from "xstate";
import { connectDeadlineMs, ioDeadlineMs, timedOutMessage, type TimedOutStep } from "./deadlines.ts";

export type { ConnectOutput, SnapshotInput, PullInput, PullOutput, ForceRequest, SyncMachineInput, SyncContext, SyncEvent, SyncEmitted, SyncStateName } from "./syncTypes.ts";
import type { ConnectOutput, SnapshotInput, PullInput, PullOutput, SyncMachineInput, SyncContext, SyncEvent, SyncEmitted } from "./syncTypes.ts";

export { FOLLOW_UP_BASE_MS, FOLLOW_UP_MAX_MS, PULL_SPREAD_MAX_MS, pullPacingMs, pullSpreadMs } from "./pacing.ts";
import { FOLLOW_UP_MAX_MS, pullPacingMs, pullSpreadMs } from "./pacing.ts";
export { backoffDelayMs, errorMessage } from "./backoff.ts";
import { backoffDelayMs, errorMessage } from "./backoff.ts";

const COPY_DEADLINE_ID = "copyDeadline";

const notProvided = (name: string) => () => Promise.reject(new Error(`actor ${name} was not provided`));

/**
 * Something the pull in flight did not read: the feed came or went, or a CHANGE arrived after
 * the pull queried (one seen before it, during the spread, is in the pull's snapshot).
 */
const changedDuring = (context: SyncContext, output: PullOutput) => context.dirty || context.changes > (output.changesAtQuery ?? context.changesAtStart);
const pullOutput = (event: unknown) => (event as { output: PullOutput }).output;

export const syncMachine = setup({
  types: {
    context: {} as SyncContext,
    events: {} as SyncEvent,
    input: {} as SyncMachineInput,
    emitted: {} as SyncEmitted,
  },
  actors: {
    connect: fromPromise<ConnectOutput>(notProvided("connect")),
    snapshot: fromPromise<number, SnapshotInput>(notProvided("snapshot")),
    pull: fromPromise<PullOutput, PullInput>(notProvided("pull")),
    changeFeed: fromCallback<AnyEventObject>(() => undefined),
  },
  delays: {
    idleInterval: ({ context }) => (context.feedHealthy ? context.syncIntervalMs : context.pollIntervalMs),
    backoff: ({ context }) => backoffDelayMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs, context.random()),
    connectDeadline: ({ context }) => connectDeadlineMs(context),
    ioDeadline: ({ context }) => ioDeadlineMs(context),
    pullPacing: ({ context }) => pullPacingMs(context.followUps, context.random()),
  },
  guards: {
    hasCompleteSnapshot: ({ context, event }) => (event as unknown as { output: ConnectOutput }).output.snapshotComplete && !context.restartSnapshot,
    epochChanged: ({ event }) => (event as unknown as { output: PullOutput }).output.epochChanged,
    restartRequested: ({ context }) => context.restartSnapshot,
    forceWaiting: ({ context }) => context.pending.length > 0,
    changedMeanwhile: ({ context, event }) => changedDuring(context, pullOutput(event)),
    firstFollowUp: ({ context, event }) => changedDuring(context, pullOutput(event)) && context.followUps === 0,
    // Paced already (≥ 2 follow-ups in a row) and the last pull ended less than a pace ago.
    burstGoesOn: ({ context }) => context.followUps >= 2 && context.lastSyncAt !== null && context.now() - context.lastSyncAt < FOLLOW_UP_MAX_MS,
    // A follow-up ran (a change came during a pull) and the last pull ended less than a pace ago.
    burstMayGoOn: ({ context }) => context.followUps >= 1 && context.lastSyncAt !== null && context.now() - context.lastSyncAt < FOLLOW_UP_MAX_MS,
    isFull: ({ event }) => event.type === "FORCE_SYNC" && event.full === true,
  },
  actions: {
    enqueueForce: assign(({ context, event }) =>
      event.type === "FORCE_SYNC"
        ? {
            pending: [...context.pending, { requestId: event.requestId, full: event.full === true }],
            restartSnapshot: context.restartSnapshot || event.full === true,
          }
        : {},
    ),
    markDirty: assign({ dirty: true }),
    countChange: assign({ changes: ({ context }) => context.changes + 1 }),
    countFollowUp: assign({ followUps: ({ context }) => context.followUps + 1 }),
    resetFollowUps: assign({ followUps: 0 }),
    startServing: assign(({ context }) => ({
      serving: [...context.serving, ...context.pending],
      pending: [],
      dirty: false,
      changesAtStart: context.changes,
      servedApplied: context.serving.length ? context.servedApplied : 0,
    })),
    connected: assign({ poolConnected: true, lastError: null }),
    countApplied: assign(({ context, event }) => {
      const out = (event as unknown as { output: number | PullOutput }).output;
      return { servedApplied: context.servedApplied + (typeof out === "number" ? out : out.applied) };
    }),
    snapshotDone: assign({ restartSnapshot: false, attempt: 0 }),
    pullDone: assign({ attempt: 0, lastError: null, poolConnected: true, lastSyncAt: ({ context }) => context.now() }),
    answerServed: emit(({ context }) => ({
      type: "forceSyncDone" as const,
      requestIds: context.serving.map((r) => r.requestId),
      applied: context.servedApplied,
    })),
    clearServed: assign({ serving: [], servedApplied: 0 }),
    failed: assign(({ context, event }) => ({
      attempt: context.attempt + 1,
      lastError: errorMessage((event as unknown as { error: unknown }).error),
      poolConnected: false,
    })),
    timedOut: assign(({ context }, params: { step: TimedOutStep }) => ({
      attempt: context.attempt + 1,
      lastError: timedOutMessage(params.step, params.step === "connect" ? connectDeadlineMs(context) : ioDeadlineMs(context)),
      poolConnected: false,
    })),
    // The copy's deadline is a delayed event rather than an `after`, so that it can restart on
    // each chunk while the state (and its snapshot actor) stays as it is.
    armCopyDeadline: raise({ type: "COPY_STALLED" }, { id: COPY_DEADLINE_ID, delay: "ioDeadline" }),
    disarmCopyDeadline: cancel(COPY_DEADLINE_ID),
    feedLost: assign({ feedConnected: false, feedHealthy: false }),
    answerFailed: emit(({ context }) => ({
      type: "forceSyncFailed" as const,
      requestIds: [...context.serving, ...context.pending].map((r) => r.requestId),
      error: context.lastError ?? "sync failed",
    })),
    clearAll: assign({ serving: [], pending: [], servedApplied: 0 }),
  },
}).createMachine({
  id: "sync",
  initial: "awaitingPool",
  context: ({ input }) => ({
    ...input,
    attempt: 0,
    lastError: null,
    poolConnected: false,
    feedConnected: false,
    feedHealthy: false,
    dirty: false,
    changes: 0,
    changesAtStart: 0,
    followUps: 0,
    restartSnapshot: false,
    pending: [],
    serving: [],
    servedApplied: 0,
    lastSyncAt: null,
  }),
  // The change feed lives as long as the machine: it reconnects by itself and reports.
  invoke: { id: "changeFeed", src: "changeFeed" },
  on: {
    FEED_CONNECTED: { actions: [assign({ feedConnected: true }), "markDirty"] },
    FEED_DISCONNECTED: { actions: "feedLost" },
    FEED_HEALTHY: { actions: assign({ feedHealthy: true }) },
    FEED_UNHEALTHY: { actions: assign({ feedHealthy: false }) },
    FORCE_SYNC: { actions: "enqueueForce" },
    STOP: ".stopped",
  },
  states: {
    awaitingPool: {
      entry: "resetFollowUps",
      invoke: {
        src: "connect",
        onDone: [
          { guard: "hasCompleteSnapshot", target: "syncing", actions: "connected" },
          { target: "empty", actions: "connected" },
        ],
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
      after: { connectDeadline: { target: "backoff", actions: [{ type: "timedOut", params: { step: "connect" } }, "answerFailed", "clearAll"] } },
    },
    empty: {
      entry: ["startServing", "armCopyDeadline", "resetFollowUps"],
      exit: "disarmCopyDeadline",
      on: {
        // A full sync asked for during a copy restarts the copy: the one running began earlier.
        FORCE_SYNC: [{ guard: "isFull", target: "empty", reenter: true, actions: "enqueueForce" }, { actions: "enqueueForce" }],
        SNAPSHOT_PROGRESS: { actions: ["disarmCopyDeadline", "armCopyDeadline"] },
        COPY_STALLED: { target: "backoff", actions: [{ type: "timedOut", params: { step: "copy" } }, "answerFailed", "clearAll"] },
      },
      invoke: {
        src: "snapshot",
        input: ({ context, self }) => ({ restart: context.restartSnapshot, parent: self }),
        onDone: { target: "syncing", actions: ["countApplied", "snapshotDone"] },
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
    },
    syncing: {
      entry: "startServing",
      on: {
        CHANGE: { actions: "countChange" },
        // The pull in flight keeps running under its own deadline (a silent master fails it
        // into backoff); the feed may have dropped notifications on its way down, so pull once
        // more right after, and poll until the feed proves itself again.
        FEED_DISCONNECTED: { actions: ["feedLost", "markDirty"] },
      },
      after: { ioDeadline: { target: "backoff", actions: [{ type: "timedOut", params: { step: "pull" } }, "answerFailed", "clearAll"] } },
      invoke: {
        src: "pull",
        // A lone change waits the fleet's spread here, in the pull, before it queries; every
        // other way in (a follow-up, a timer, a force-sync, a paced burst's settling) at once.
        input: ({ context, event, self }) => ({
          delayMs: event.type === "CHANGE" ? pullSpreadMs(context.random()) : 0,
          changesSeen: () => self.getSnapshot().context.changes,
        }),
        onDone: [
          { guard: "epochChanged", target: "awaitingPool", actions: "countApplied" },
          { guard: "restartRequested", target: "empty", actions: ["countApplied", "pullDone"] },
          // A force-sync asked for during the pull is answered by a pull that starts now.
          { guard: "forceWaiting", target: "syncing", reenter: true, actions: ["countApplied", "pullDone", "answerServed", "clearServed"] },
          { guard: "firstFollowUp", target: "syncing", reenter: true, actions: ["countApplied", "pullDone", "answerServed", "clearServed", "countFollowUp"] },
          { guard: "changedMeanwhile", target: "settling", actions: ["countApplied", "pullDone", "answerServed", "clearServed", "countFollowUp"] },
          { target: "idle", actions: ["countApplied", "pullDone", "answerServed", "clearServed"] },
        ],
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
    },
    // Waits pullPacingMs before a paced pull of a long burst (the spread included). Changes
    // arriving meanwhile need nothing: the pull to come reads them.
    settling: {
      after: { pullPacing: "syncing" },
      on: {
        FEED_DISCONNECTED: { target: "awaitingPool", actions: "feedLost" },
        FORCE_SYNC: [
          { guard: "isFull", target: "empty", actions: "enqueueForce" },
          { target: "syncing", actions: "enqueueForce" },
        ],
      },
    },
    idle: {
      after: { idleInterval: { target: "syncing", actions: "resetFollowUps" } },
      on: {
        // A paced burst goes on through a short lull (its pulls caught up for a moment);
        // otherwise this is a lone change, pulled after the spread alone (inside the pull).
        // Soon after a follow-up it is pulled at once too, but the count goes on: a burst whose
        // pulls take turns catching a change and catching none is paced from its next dirty
        // pull, rather than costing one pull per two commits (it reset here before).
        CHANGE: [
          { guard: "burstGoesOn", target: "settling", actions: "countFollowUp" },
          { guard: "burstMayGoOn", target: "syncing" },
          { target: "syncing", actions: "resetFollowUps" },
        ],
        FEED_CONNECTED: { target: "syncing", actions: [assign({ feedConnected: true }), "resetFollowUps"] },
        // The listener lost its connection: most likely the master went away. Check now
        // rather than at the next timer pull, so the state (and pool_connected) says so.
        FEED_DISCONNECTED: { target: "awaitingPool", actions: "feedLost" },
        // Notifications were not arriving: catch up now, then poll (idleInterval).
        FEED_UNHEALTHY: { target: "syncing", actions: [assign({ feedHealthy: false }), "resetFollowUps"] },
        FORCE_SYNC: [
          { guard: "isFull", target: "empty", actions: ["enqueueForce", "resetFollowUps"] },
          { target: "syncing", actions: ["enqueueForce", "resetFollowUps"] },
        ],
      },
    },
    backoff: {
      // Always leaves: after the delay, or at once when the feed says the master is back
      // or someone asks for a sync.
      after: { backoff: "awaitingPool" },
      on: {
        FEED_CONNECTED: { target: "awaitingPool", actions: assign({ feedConnected: true }) },
        FORCE_SYNC: { target: "awaitingPool", actions: "enqueueForce" },
      },
    },
    stopped: { type: "final" },
  },
});

export type SyncMachine = typeof syncMachine;
