/**
 * The change feed: LISTEN on a dedicated connection (pg-listen), turned into three events
 * for the sync machine — connected, disconnected, change. A notification is only a
 * wake-up; the pull reads the data. Notifications sent while disconnected are lost, which
 * is why every (re)connect is reported: the machine pulls on each one.
 *
 * pg-listen traps handled here (see LIBS.md): a failed *first* connect starts an internal
 * reconnect loop that `close()` does not stop, so the first connection is probed with a
 * plain client; and its retry interval function throws once the feed is closed, which is
 * the only way to end a reconnect loop in flight.
 */
import pg from "pg";
import pgListen from "pg-listen";
import * as Context from "effect/Context";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import { CHANGE_CHANNEL } from "./masterSql.ts";
import type { Logger } from "../observability/logger.ts";

const createSubscriber = pgListen.default;

export interface FeedHandlers {
  readonly connected: () => void;
  readonly disconnected: (error?: string) => void;
  readonly change: (table: string) => void;
  /** A NOTIFY round trip on this connection arrived (self-test on connect, or a heartbeat). */
  readonly healthy?: (verifiedAt: string) => void;
  /** NOTIFY is not delivering on this connection (e.g. a transaction-mode pooler): pulls must poll. */
  readonly unhealthy?: (reason: string) => void;
}

/** What `/memory/stats` shows as `change_feed` (CONTRACT.md). */
export interface ChangeFeedStatus {
  readonly state: "listening" | "connecting" | "unavailable";
  readonly reason: string | null;
  readonly verified_at: string | null;
}

export interface FeedSubscription {
  readonly close: () => Promise<void>;
}

export interface ChangeFeedShape {
  readonly subscribe: (handlers: FeedHandlers) => FeedSubscription;
}

export class ChangeFeed extends Context.Service<ChangeFeed, ChangeFeedShape>()("embedded-memory/ChangeFeed") {}

/**
 * Delay between attempts to reach the master for LISTEN, by attempt:
 * 100, 200, 400, 800, 1600, 3200, 5000, 5000… ms.
 */
export const FEED_RETRY_MS = (attempt: number): number => Math.min(5_000, 100 * 2 ** attempt);

export interface ChangeFeedOptions {
  /** LISTEN_DATABASE_URL when set, else DATABASE_URL. */
  readonly databaseUrl: string;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** How often the listener proves itself with a NOTIFY round trip. */
  readonly heartbeatMs: number;
  /** How long that round trip (and the self-test on each connect) may take. */
  readonly notifyTimeoutMs: number;
  readonly logger: Logger;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function makeChangeFeed(o: ChangeFeedOptions): ChangeFeedShape & { closeAll(): Promise<void> } {
  const log = o.logger.child({ module: "feed" });
  const open = new Set<FeedSubscription>();
  const connection = { connectionString: o.databaseUrl, connectionTimeoutMillis: o.connectTimeoutMs, application_name: "embedded-memory-feed" };

  const subscribe = (h: FeedHandlers): FeedSubscription => {
    let closed = false;
    let attempt = 0;
    let timer: NodeJS.Timeout | undefined;
    let subscriber: { s: ReturnType<typeof createSubscriber>; dead: boolean } | undefined;

    const probe = async () => {
      const client = new pg.Client(connection);
      client.on("error", () => undefined);
      try {
        await client.connect();
      } finally {
        await client.end().catch(() => undefined);
      }
    };

    const retryLater = (error: unknown) => {
      if (closed) return;
      h.disconnected(message(error));
      const delay = FEED_RETRY_MS(attempt++);
      log.debug({ delayMs: delay, error: message(error) }, "change feed not connected; retrying");
      timer = setTimeout(() => void start(), delay);
    };

    // A torn-down subscriber is marked dead, so its own reconnect loop (if any) ends.
    const teardown = async () => {
      const current = subscriber;
      subscriber = undefined;
      if (!current) return;
      current.dead = true;
      await current.s.close().catch(() => undefined);
    };

    const start = async () => {
      if (closed) return;
      try {
        await probe();
      } catch (error) {
        return retryLater(error);
      }
      if (closed) return;
      const self = { s: undefined as unknown as ReturnType<typeof createSubscriber>, dead: false };
      const s = createSubscriber(connection, {
        retryTimeout: 0, // 0 = no limit: pg-listen's default gives up for good after 3 s
        retryInterval: (n: number) => {
          if (closed || self.dead) throw new Error("change feed closed");
          return FEED_RETRY_MS(n);
        },
        parse: (payload: string) => payload,
        paranoidChecking: 10_000,
      });
      self.s = s;
      subscriber = self;
      let established = false;
      s.events.on("reconnect", (n: number) => {
        if (n === 1) {
          log.warn("change feed connection lost; reconnecting");
          h.disconnected("connection lost");
        }
      });
      s.events.on("connected", () => {
        if (closed || self.dead) return void s.close().catch(() => undefined); // a reconnect that won a race with close()
        if (!established) return; // the first connect is reported once LISTEN is in place
        log.info("change feed reconnected");
        h.connected();
      });
      s.events.on("error", (error: Error) => {
        if (closed || self.dead) return;
        // pg-listen gave up on this connection (e.g. LISTEN failed after a reconnect): start over.
        log.warn({ err: error }, "change feed failed; starting over");
        void teardown().then(() => retryLater(error));
      });
      s.notifications.on(CHANGE_CHANNEL, (payload: string) => h.change(payload));
      try {
        await s.connect();
        await s.listenTo(CHANGE_CHANNEL);
        established = true;
        attempt = 0;
        if (closed) return void teardown();
        log.info("change feed listening");
        h.connected();
      } catch (error) {
        // Ends pg-listen's own loop (retryInterval throws once dead) before ours retries.
        await teardown();
        retryLater(error);
      }
    };

    let closing: Promise<void> | undefined;
    const sub: FeedSubscription = {
      // Memoised: the actor's cleanup starts it, the layer's finalizer awaits the same promise.
      close: () =>
        (closing ??= (async () => {
          closed = true;
          clearTimeout(timer);
          await teardown();
          open.delete(sub);
        })()),
    };
    open.add(sub);
    void start();
    return sub;
  };

  return {
    subscribe,
    closeAll: async () => {
      await Promise.all([...open].map((s) => s.close()));
    },
  };
}

/** The feed as a layer; any subscription still open is closed by the layer's finalizer. */
export function changeFeedLayer(o: ChangeFeedOptions): Layer.Layer<ChangeFeed> {
  return Layer.effect(
    ChangeFeed,
    Effect.acquireRelease(
      Effect.sync(() => makeChangeFeed(o)),
      (feed) => Effect.promise(() => feed.closeAll()),
    ),
  );
}
