/**
 * The change feed's self-test: a NOTIFY on a channel private to one feed, sent through a
 * connection other than the listener's, must come back on the listener. LISTEN itself
 * proves nothing: behind a transaction-mode pooler it succeeds and delivers nothing.
 *
 * Also the sockets under a pg client, kept so that they can be destroyed: `client.end()`
 * waits for the peer to close, which a silent peer never does.
 */
import { randomBytes } from "node:crypto";
import { Socket } from "node:net";
import pg from "pg";
import { clientConfig, type ConnectionOptions } from "./connection.ts";

export const PROBE_CHANNEL_PREFIX = "embedded_memory_probe_";

/** A channel no other feed listens on (so one replica's probes never wake another's). */
export const probeChannelName = (): string => PROBE_CHANNEL_PREFIX + randomBytes(6).toString("hex");

/** How long a graceful `end()` may take before the socket is destroyed. */
const END_GRACE_MS = 1_000;

/** A `stream` factory for pg's client config that remembers every socket it made. */
export function trackedSockets() {
  const sockets = new Set<Socket>();
  return {
    stream: (): Socket => {
      const s = new Socket();
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      return s;
    },
    destroyAll: (): void => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}

/** Ends a client gracefully if the peer answers within END_GRACE_MS, else destroys its sockets. */
export async function endWithin(end: () => Promise<void>, sockets: { destroyAll(): void }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([end().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, END_GRACE_MS)))]);
  clearTimeout(timer);
  sockets.destroyAll();
}

/**
 * Sends one `pg_notify(channel, token)` on a short-lived connection to `url` (bounded by the
 * connect timeout and the client-side query deadline of `clientConfig`). One unnamed
 * statement in its own transaction: fine through a transaction-mode pooler.
 */
export async function sendProbe(url: string, o: Omit<ConnectionOptions, "applicationName">, channel: string, token: string): Promise<void> {
  const sockets = trackedSockets();
  const client = new pg.Client({ ...clientConfig(url, { ...o, applicationName: "embedded-memory-feed-probe" }), stream: sockets.stream });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT pg_notify($1, $2)", [channel, token]);
  } finally {
    await endWithin(() => client.end(), sockets);
  }
}

/** Waits for tokens to come back on the probe channel. */
export function probeWaiters() {
  const waiting = new Map<string, () => void>();
  return {
    /** Called with each payload that arrives on the probe channel. */
    arrived: (token: string) => waiting.get(token)?.(),
    /**
     * Registers a fresh token before `send` runs (a NOTIFY can arrive before its sender hears the
     * commit), then gives the round trip `timeoutMs` after the send returns. True if it came.
     */
    roundTrip: async (send: (token: string) => Promise<void>, timeoutMs: number): Promise<boolean> => {
      const token = randomBytes(8).toString("hex");
      let arrive!: () => void;
      const came = new Promise<true>((r) => (arrive = () => r(true)));
      waiting.set(token, arrive);
      let timer: NodeJS.Timeout | undefined;
      try {
        await send(token);
        return await Promise.race([came, new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
      } finally {
        clearTimeout(timer);
        waiting.delete(token);
      }
    },
  };
}
