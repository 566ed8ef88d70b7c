/**
 * The change feed itself (ChangeFeed.ts has the overview, the service and its layers): one
 * LISTEN connection per subscription, through pg-listen.
 *
 * LISTEN proves itself: on every (re)connect, and then every `heartbeatMs`, a NOTIFY on a
 * channel private to this feed is sent through another connection (to `notifyUrl`, the
 * pulls' URL) and must come back on the listener within `notifyTimeoutMs` (feedProbe.ts).
 * - It comes back: `listening`, `verified_at` set, `healthy()`.
 * - A self-test after a (re)connect does not: `unavailable` (a transaction-mode pooler
 *   delivers nothing), `unhealthy()`, one warning. The connection is kept, since delivery
 *   may start later; the re-test is simply the next heartbeat (every `heartbeatMs`), whose
 *   success turns the feed back to `listening`. Liveness of the socket meanwhile is
 *   pg-listen's paranoid check (a query, bounded by the client-side query deadline).
 * - A heartbeat of a `listening` feed does not: the socket is taken for half-dead; the
 *   listener is torn down and reconnected (FEED_RETRY_MS), and its new self-test decides.
 * While it connects the state is `connecting`. The probe connection is short-lived: for a
 * moment each heartbeat, a replica holds one master connection more than its budget.
 *
 * pg-listen traps handled here (see LIBS.md): a failed *first* connect starts an internal
 * reconnect loop that `close()` does not stop, so the first connection is probed with a
 * plain client; and its retry interval function throws once the feed is closed, which is
 * the only way to end a reconnect loop in flight. Its `close()` waits on a silent peer
 * forever, so the sockets are ours (a `stream` factory) and destroyed after a grace period.
 */
import pg from "pg";
import pgListen from "pg-listen";
import { CHANGE_CHANNEL } from "./masterSql.ts";
import { clientConfig } from "./connection.ts";
import { describeDatabaseUrl } from "./Master.ts";
import { endWithin, probeChannelName, probeWaiters, sendProbe, trackedSockets } from "./feedProbe.ts";
import { feedHealth, NOT_SUBSCRIBED, type ChangeFeedStatus } from "./feedHealth.ts";
import type { ChangeFeedOptions, ChangeFeedShape, FeedHandlers, FeedSubscription } from "./feedTypes.ts";

const createSubscriber = pgListen.default;

/**
 * Delay between attempts to reach the master for LISTEN (also after a failed heartbeat),
 * by attempt: 100, 200, 400, 800, 1600, 3200, 5000, 5000… ms.
 */
export const FEED_RETRY_MS = (attempt: number): number => Math.min(5_000, 100 * 2 ** attempt);

/** A payload is `schema.table` and, from triggers that carry it, ` <xid8>` of the committing transaction. */
export function parseChangePayload(payload: string): { table: string; xid: string | undefined } {
  const m = /^(.*) (\d+)$/s.exec(payload);
  return m ? { table: m[1]!, xid: m[2]! } : { table: payload, xid: undefined };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

type Subscriber = ReturnType<typeof createSubscriber>;

export function makeChangeFeed(o: ChangeFeedOptions): ChangeFeedShape & { closeAll(): Promise<void> } {
  const log = o.logger.child({ module: "feed" });
  const open = new Map<FeedSubscription, () => ChangeFeedStatus>();
  const bounds = { connectTimeoutMs: o.connectTimeoutMs, statementTimeoutMs: o.statementTimeoutMs };
  const connection = clientConfig(o.databaseUrl, { ...bounds, applicationName: "embedded-memory-feed" });
  const notifyUrl = o.notifyUrl ?? o.databaseUrl;

  const subscribe = (h: FeedHandlers): FeedSubscription => {
    let closed = false;
    let attempt = 0;
    let timer: NodeJS.Timeout | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    let subscriber: { s: Subscriber; dead: boolean; sockets: ReturnType<typeof trackedSockets> } | undefined;
    // Bumped on every (re)connect and teardown: a self-test that outlived its connection is ignored.
    let generation = 0;
    let testing = false;
    const channel = probeChannelName();
    const waiters = probeWaiters();
    const health = feedHealth(h, log, describeDatabaseUrl(o.databaseUrl));

    const probe = async () => {
      const sockets = trackedSockets();
      const client = new pg.Client({ ...connection, stream: sockets.stream });
      client.on("error", () => undefined);
      try {
        await client.connect();
      } finally {
        await endWithin(() => client.end(), sockets);
      }
    };

    const retryLater = (error: unknown) => {
      if (closed) return;
      health.connecting(message(error));
      h.disconnected(message(error));
      const delay = FEED_RETRY_MS(attempt++);
      log.debug({ delayMs: delay, error: message(error) }, "change feed not connected; retrying");
      timer = setTimeout(() => void start(), delay);
    };

    // A torn-down subscriber is marked dead, so its own reconnect loop (if any) ends.
    const teardown = async () => {
      generation++;
      clearTimeout(heartbeat);
      const current = subscriber;
      subscriber = undefined;
      if (!current) return;
      current.dead = true;
      await endWithin(() => current.s.close(), current.sockets);
    };

    const scheduleHeartbeat = () => {
      clearTimeout(heartbeat);
      if (!closed && subscriber) heartbeat = setTimeout(() => void selfTest("heartbeat"), o.heartbeatMs);
    };

    const selfTest = async (kind: "connect" | "heartbeat") => {
      if (closed || !subscriber || (kind === "heartbeat" && testing)) return;
      const gen = generation;
      testing = true;
      let outcome: { ok: boolean; error?: string };
      try {
        outcome = { ok: await waiters.roundTrip((token) => (o.sendNotify ? o.sendNotify(channel, token) : sendProbe(notifyUrl, bounds, channel, token)), o.notifyTimeoutMs) };
      } catch (error) {
        outcome = { ok: false, error: message(error) };
      } finally {
        if (gen === generation) testing = false;
      }
      if (closed || gen !== generation) return;
      if (outcome.ok) health.verified();
      else if (outcome.error !== undefined) health.unsent(outcome.error);
      else if (kind === "heartbeat" && health.status().state === "listening") {
        const reason = `heartbeat NOTIFY did not arrive within ${o.notifyTimeoutMs} ms`;
        log.warn({ notifyTimeoutMs: o.notifyTimeoutMs }, "change feed heartbeat missed; reconnecting the listener");
        health.connecting(reason); // at once: the teardown may wait out a silent peer
        void teardown().then(() => retryLater(new Error(reason)));
        return;
      } else health.undelivered(o.notifyTimeoutMs);
      scheduleHeartbeat();
    };

    /** A connection with LISTEN in place: report it, then prove it. */
    const onListening = () => {
      generation++;
      testing = false;
      health.connecting(null);
      h.connected();
      void selfTest("connect");
    };

    const start = async () => {
      if (closed) return;
      try {
        await probe();
      } catch (error) {
        return retryLater(error);
      }
      if (closed) return;
      const sockets = trackedSockets();
      const self = { s: undefined as unknown as Subscriber, dead: false, sockets };
      const s = createSubscriber(
        { ...connection, stream: sockets.stream },
        {
          retryTimeout: 0, // 0 = no limit: pg-listen's default gives up for good after 3 s
          retryInterval: (n: number) => {
            if (closed || self.dead) throw new Error("change feed closed");
            return FEED_RETRY_MS(n);
          },
          parse: (payload: string) => payload,
          paranoidChecking: 10_000,
        },
      );
      self.s = s;
      subscriber = self;
      let established = false;
      s.events.on("reconnect", (n: number) => {
        if (n !== 1 || closed || self.dead) return;
        // The old client was given up by pg-listen; its socket may be silent, so it is destroyed
        // (pg-listen makes the new client after this event).
        sockets.destroyAll();
        generation++;
        clearTimeout(heartbeat);
        log.warn("change feed connection lost; reconnecting");
        health.connecting("connection lost");
        h.disconnected("connection lost");
      });
      s.events.on("connected", () => {
        if (closed || self.dead) return void s.close().catch(() => undefined); // a reconnect that won a race with close()
        if (!established) return; // the first connect is reported once LISTEN is in place
        log.info("change feed reconnected");
        onListening();
      });
      s.events.on("error", (error: Error) => {
        if (closed || self.dead) return;
        // pg-listen gave up on this connection (e.g. LISTEN failed after a reconnect): start over.
        log.warn({ err: error }, "change feed failed; starting over");
        health.connecting(message(error));
        void teardown().then(() => retryLater(error));
      });
      s.notifications.on(CHANGE_CHANNEL, (payload: string) => {
        const { table, xid } = parseChangePayload(payload);
        if (xid !== undefined) o.onCommit?.(xid);
        h.change(table);
      });
      s.notifications.on(channel, (token: string) => waiters.arrived(token));
      try {
        await s.connect();
        await s.listenTo(CHANGE_CHANNEL);
        await s.listenTo(channel);
        established = true;
        attempt = 0;
        if (closed) return void teardown();
        log.info({ listen: describeDatabaseUrl(o.databaseUrl) }, "change feed listening; testing NOTIFY delivery");
        onListening();
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
    open.set(sub, health.status);
    void start();
    return sub;
  };

  return {
    subscribe,
    status: () => [...open.values()].at(-1)?.() ?? NOT_SUBSCRIBED,
    closeAll: async () => {
      await Promise.all([...open.keys()].map((s) => s.close()));
    },
  };
}
