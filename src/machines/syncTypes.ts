/** The sync machine's types: its actors' outputs and inputs, its input and context, events and states (syncMachine.ts). */

export interface ConnectOutput {
  readonly snapshotComplete: boolean;
}
export interface SnapshotInput {
  readonly restart: boolean;
  /** The machine: the snapshot actor sends it SNAPSHOT_PROGRESS after each chunk. */
  readonly parent: { send: (event: { type: "SNAPSHOT_PROGRESS"; rowsCopied: number }) => void };
}
/**
 * `delayMs`: the fleet's spread, waited by the pull before it queries (0: at once).
 * `changesSeen`: the CHANGEs the machine has counted in `syncing`, read live by the pull just
 * before it queries: what it read then, its output's `changesAtQuery`, tells the machine which
 * of them the pull's snapshot already holds.
 */
export interface PullInput {
  readonly delayMs: number;
  readonly changesSeen: () => number;
}
export interface PullOutput {
  readonly applied: number;
  readonly epochChanged: boolean;
  /** `changesSeen()` just before the pull queried; absent: every CHANGE during the pull asks for another. */
  readonly changesAtQuery?: number;
}

export interface ForceRequest {
  readonly requestId: string;
  readonly full: boolean;
}

export interface SyncMachineInput {
  /** Idle → pull, while the change feed is proven healthy (NOTIFY is a wake-up, this the safety net). */
  readonly syncIntervalMs: number;
  /** Idle → pull, while it is not (unverified, unavailable, disconnected). */
  readonly pollIntervalMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** The pool's bounds; the steps' deadlines are derived from them (deadlines.ts). */
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** The clock (ms since epoch) and a random number in [0, 1): the runtime's, or a test's. */
  readonly now: () => number;
  readonly random: () => number;
}

export interface SyncContext extends SyncMachineInput {
  /** Consecutive failures; 0 after a successful pull. */
  readonly attempt: number;
  readonly lastError: string | null;
  readonly poolConnected: boolean;
  readonly feedConnected: boolean;
  /** The feed proved itself with a NOTIFY round trip (false until it does): idle uses syncIntervalMs, else pollIntervalMs. */
  readonly feedHealthy: boolean;
  /** The feed came or went during the pull in flight: pull again right after it. */
  readonly dirty: boolean;
  /** CHANGEs seen in `syncing` (a count that only grows), and its value when the pull in flight began. */
  readonly changes: number;
  readonly changesAtStart: number;
  /** Pulls in a row that the previous one's changes asked for: paces a long burst (0 once it is over). */
  readonly followUps: number;
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
  | { type: "FEED_HEALTHY" }
  | { type: "FEED_UNHEALTHY"; reason: string }
  | { type: "SNAPSHOT_PROGRESS"; rowsCopied: number }
  /** Raised by the machine itself when a copy made no progress within its deadline. */
  | { type: "COPY_STALLED" }
  | { type: "FORCE_SYNC"; requestId: string; full?: boolean }
  | { type: "STOP" };

export type SyncEmitted =
  | { type: "forceSyncDone"; requestIds: string[]; applied: number }
  | { type: "forceSyncFailed"; requestIds: string[]; error: string };

export type SyncStateName = "awaitingPool" | "empty" | "settling" | "syncing" | "idle" | "backoff" | "stopped";
