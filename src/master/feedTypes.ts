/**
 * The change feed's contract: what a subscriber is told (FeedHandlers), what it gets back, and
 * the options a feed is made from. Its own module so that the listener (feedListener.ts) and the
 * service with its layers (ChangeFeed.ts, which re-exports these) share them without a cycle.
 */
import type { ChangeFeedStatus } from "./feedHealth.ts";
import type { Logger } from "../observability/logger.ts";

export interface FeedHandlers {
  readonly connected: () => void;
  readonly disconnected: (error?: string) => void;
  readonly change: (table: string) => void;
  /** The feed became verified (a NOTIFY round trip arrived). Called on the change, not on every heartbeat. */
  readonly healthy?: (verifiedAt: string) => void;
  /** NOTIFY is not delivering, or the listener is reconnecting: pulls must poll. Called on the change. */
  readonly unhealthy?: (reason: string) => void;
}

export interface FeedSubscription {
  readonly close: () => Promise<void>;
}

export interface ChangeFeedShape {
  readonly subscribe: (handlers: FeedHandlers) => FeedSubscription;
  /** The newest open subscription's health (`connecting`, "change feed not started", when there is none). */
  readonly status: () => ChangeFeedStatus;
}

export interface ChangeFeedOptions {
  /** LISTEN_DATABASE_URL when set, else DATABASE_URL. */
  readonly databaseUrl: string;
  /** Where the self-test NOTIFY is sent from: DATABASE_URL (the pulls' URL). Defaults to `databaseUrl`. */
  readonly notifyUrl?: string;
  /**
   * Sends the self-test NOTIFY on a connection the replica already has (the pulls' pool), so the
   * feed adds no connection: each replica holds MASTER_POOL_MAX + 1. Without it, a short-lived
   * connection to `notifyUrl` is opened per self-test.
   */
  readonly sendNotify?: (channel: string, payload: string) => Promise<void>;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** How often the listener proves itself with a NOTIFY round trip (and, when unavailable, is re-tested). */
  readonly heartbeatMs: number;
  /** How long that round trip (and the self-test on each connect) may take. */
  readonly notifyTimeoutMs: number;
  readonly logger: Logger;
  /** Told the committing transaction's id a notification carries (a standby read waits for it). */
  readonly onCommit?: (xid: string) => void;
}
