/**
 * The sync machine: a pure statechart. Its actors (connect, snapshot, pull, changeFeed) are
 * placeholders here and are provided by the composition module (src/index.ts), so tests
 * can drive it with fake actors and fake time.
 *
 *   awaitingPool ──connected──▶ empty (copying) ──▶ syncing ⇄ idle
 *        ▲                         │                 │
 *        └──── backoff ◀───────────┴──── error ──────┘
 */
import { assign, emit, fromCallback, fromPromise, setup } from "xstate";
import type { AnyEventObject } from "xstate";

export interface ConnectOutput {
  readonly snapshotComplete: boolean;
}
export interface SnapshotInput {
  readonly restart: boolean;
}
export interface PullOutput {
  readonly applied: number;
  readonly epochChanged: boolean;
}

export interface ForceRequest {
  readonly requestId: string;
  readonly full: boolean;
}

export interface SyncMachineInput {
  readonly syncIntervalMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface SyncContext extends SyncMachineInput {
  /** Consecutive failures; 0 after a successful pull. */
  readonly attempt: number;
  readonly lastError: string | null;
  readonly poolConnected: boolean;
  readonly feedConnected: boolean;
  /** Something changed during the pull in flight: pull again right after it. */
  readonly dirty: boolean;
  /** The next copy starts from scratch (forced full sync). */
  readonly restartSnapshot: boolean;
  /** Force-sync requests waiting for a sync that starts after them. */
  readonly pending: readonly ForceRequest[];
  /** Requests the sync in flight will answer. */
  readonly serving: readonly ForceRequest[];
  /** Rows applied by the syncs since `serving` was filled (copy + pull). */
  readonly servedApplied: number;
  readonly lastSyncAt: number | null;
}

export type SyncEvent =
  | { type: "CHANGE"; table?: string }
  | { type: "FEED_CONNECTED" }
  | { type: "FEED_DISCONNECTED"; error?: string }
  | { type: "FORCE_SYNC"; requestId: string; full?: boolean }
  | { type: "STOP" };

export type SyncEmitted =
  | { type: "forceSyncDone"; requestIds: string[]; applied: number }
  | { type: "forceSyncFailed"; requestIds: string[]; error: string };

export type SyncStateName = "awaitingPool" | "empty" | "syncing" | "idle" | "backoff" | "stopped";

export { backoffDelayMs, errorMessage } from "./backoff.ts";
import { backoffDelayMs, errorMessage } from "./backoff.ts";

const notProvided = (name: string) => () => Promise.reject(new Error(`actor ${name} was not provided`));

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
    pull: fromPromise<PullOutput>(notProvided("pull")),
    changeFeed: fromCallback<AnyEventObject>(() => undefined),
  },
  delays: {
    syncInterval: ({ context }) => context.syncIntervalMs,
    backoff: ({ context }) => backoffDelayMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs, Math.random()),
  },
  guards: {
    hasCompleteSnapshot: ({ context, event }) => (event as unknown as { output: ConnectOutput }).output.snapshotComplete && !context.restartSnapshot,
    epochChanged: ({ event }) => (event as unknown as { output: PullOutput }).output.epochChanged,
    restartRequested: ({ context }) => context.restartSnapshot,
    moreToPull: ({ context }) => context.dirty || context.pending.length > 0,
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
    startServing: assign(({ context }) => ({
      serving: [...context.serving, ...context.pending],
      pending: [],
      dirty: false,
      servedApplied: context.serving.length ? context.servedApplied : 0,
    })),
    connected: assign({ poolConnected: true, lastError: null }),
    countApplied: assign(({ context, event }) => {
      const out = (event as unknown as { output: number | PullOutput }).output;
      return { servedApplied: context.servedApplied + (typeof out === "number" ? out : out.applied) };
    }),
    snapshotDone: assign({ restartSnapshot: false, attempt: 0 }),
    pullDone: assign({ attempt: 0, lastError: null, poolConnected: true, lastSyncAt: () => Date.now() }),
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
    dirty: false,
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
    FEED_DISCONNECTED: { actions: assign({ feedConnected: false }) },
    FORCE_SYNC: { actions: "enqueueForce" },
    STOP: ".stopped",
  },
  states: {
    awaitingPool: {
      invoke: {
        src: "connect",
        onDone: [
          { guard: "hasCompleteSnapshot", target: "syncing", actions: "connected" },
          { target: "empty", actions: "connected" },
        ],
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
    },
    empty: {
      entry: "startServing",
      // A full sync asked for during a copy restarts the copy: the one running began earlier.
      on: { FORCE_SYNC: [{ guard: "isFull", target: "empty", reenter: true, actions: "enqueueForce" }, { actions: "enqueueForce" }] },
      invoke: {
        src: "snapshot",
        input: ({ context }) => ({ restart: context.restartSnapshot }),
        onDone: { target: "syncing", actions: ["countApplied", "snapshotDone"] },
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
    },
    syncing: {
      entry: "startServing",
      on: { CHANGE: { actions: "markDirty" } },
      invoke: {
        src: "pull",
        onDone: [
          { guard: "epochChanged", target: "awaitingPool", actions: "countApplied" },
          { guard: "restartRequested", target: "empty", actions: ["countApplied", "pullDone"] },
          { guard: "moreToPull", target: "syncing", reenter: true, actions: ["countApplied", "pullDone", "answerServed", "clearServed"] },
          { target: "idle", actions: ["countApplied", "pullDone", "answerServed", "clearServed"] },
        ],
        onError: { target: "backoff", actions: ["failed", "answerFailed", "clearAll"] },
      },
    },
    idle: {
      after: { syncInterval: "syncing" },
      on: {
        CHANGE: "syncing",
        FEED_CONNECTED: { target: "syncing", actions: assign({ feedConnected: true }) },
        // The listener lost its connection: most likely the master went away. Check now
        // rather than at the next timer pull, so the state (and pool_connected) says so.
        FEED_DISCONNECTED: { target: "awaitingPool", actions: assign({ feedConnected: false }) },
        FORCE_SYNC: [
          { guard: "isFull", target: "empty", actions: "enqueueForce" },
          { target: "syncing", actions: "enqueueForce" },
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
