/**
 * The change feed's health as the outside sees it (`change_feed` in stats, the
 * `embedded_memory_notify_healthy` gauge, the machine's FEED_HEALTHY / FEED_UNHEALTHY), kept
 * in one place so that the handlers are called on changes of health only, and the warning
 * about transaction pooling is logged once rather than on every re-test.
 */
import type { Logger } from "../observability/logger.ts";

/** What `/memory/stats` shows as `change_feed` (CONTRACT.md). */
export interface ChangeFeedStatus {
  readonly state: "listening" | "connecting" | "unavailable";
  readonly reason: string | null;
  readonly verified_at: string | null;
  /** When the last NOTIFY round trip was tried (passed or not): each heartbeat moves it. */
  readonly checked_at: string | null;
}

export const NOT_SUBSCRIBED: ChangeFeedStatus = { state: "connecting", reason: "change feed not started", verified_at: null, checked_at: null };

export interface HealthHandlers {
  readonly healthy?: (verifiedAt: string) => void;
  readonly unhealthy?: (reason: string) => void;
}

/** The reason shown while LISTEN is up but its self-test NOTIFY does not come back. */
export const undeliveredReason = (timeoutMs: number): string =>
  `no NOTIFY round trip within ${timeoutMs} ms (a transaction-mode pooler? set LISTEN_DATABASE_URL to a direct or session-mode URL)`;

export function feedHealth(h: HealthHandlers, log: Logger, describeListenUrl: string) {
  let status: ChangeFeedStatus = { state: "connecting", reason: null, verified_at: null, checked_at: null };
  // Reset when the feed is verified again, so a later loss of delivery warns again.
  let warned = false;

  const set = (state: ChangeFeedStatus["state"], reason: string | null, verifiedAt?: string, checked = false) => {
    const prev = status;
    status = { state, reason, verified_at: verifiedAt ?? prev.verified_at, checked_at: checked ? new Date().toISOString() : prev.checked_at };
    if (state === "listening") {
      warned = false;
      if (prev.state !== "listening") h.healthy?.(status.verified_at!);
    } else if (prev.state === "listening" || (state === "unavailable" && prev.state !== "unavailable")) {
      h.unhealthy?.(reason ?? state);
    }
  };

  return {
    status: (): ChangeFeedStatus => status,
    verified: () => set("listening", null, new Date().toISOString(), true),
    connecting: (reason: string | null) => set("connecting", reason),
    /** LISTEN is up but a NOTIFY did not come back: the likely cause is a pooler. */
    undelivered: (timeoutMs: number) => {
      if (!warned) {
        warned = true;
        log.warn(
          { listen: describeListenUrl, notifyTimeoutMs: timeoutMs },
          "change feed unavailable: LISTEN succeeded but its NOTIFY self-test never arrived. The likely cause is transaction pooling " +
            "(PgBouncer pool_mode=transaction, Supavisor port 6543), which does not deliver notifications. Fix: set LISTEN_DATABASE_URL " +
            "to a direct or session-mode URL. Until a later self-test passes, pulls run every POLL_INTERVAL_MS.",
        );
      }
      set("unavailable", undeliveredReason(timeoutMs), undefined, true);
    },
    /** The self-test could not even be sent (the pulls' URL is unreachable): nothing is proven. */
    unsent: (error: string) => {
      log.debug({ error }, "change feed self-test NOTIFY could not be sent");
      set("unavailable", `NOTIFY self-test could not be sent: ${error}`, undefined, true);
    },
  };
}
