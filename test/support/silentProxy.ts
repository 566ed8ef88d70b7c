/**
 * A TCP proxy on 127.0.0.1 in front of the test Postgres that can go silent the way a
 * partition or a pooler that lost its state does: nothing is forwarded in either direction,
 * but every socket stays open (no FIN, no RST), and a connection opened meanwhile is accepted
 * and then never answered. `heal()` resets every socket that lived through the silence (both
 * sides, with RST, as a NAT that lost its mapping does) and forwards new ones again.
 *
 * It counts what it did, so a test can prove the fault happened: bytes forwarded and dropped
 * per direction, sockets accepted, and replica sockets that ended or closed during the silence
 * (a connection the replica gave up on), also per `application_name` (read from the startup
 * packet, which is plain text without TLS), to tell the pool's connections from the listener's.
 */
import net from "node:net";

export interface SilentProxyStats {
  /** Connections accepted, in all. */
  readonly accepted: number;
  /** Connections accepted while silent (never forwarded). */
  readonly acceptedWhileSilent: number;
  /** Connections open now (replica side). */
  readonly open: number;
  readonly forwarded: { readonly toMaster: number; readonly toReplica: number };
  /** Bytes that arrived while silent and were thrown away. */
  readonly dropped: { readonly toMaster: number; readonly toReplica: number };
  /** Replica sockets that sent FIN or closed while silent (the replica let go of them). */
  readonly replicaClosedWhileSilent: number;
  /** Sockets reset by the last heal (replica side). */
  readonly resetByHeal: number;
  /** Per application_name ("?" until a startup packet named one). */
  readonly byApplication: Record<string, { accepted: number; open: number; releasedWhileSilent: number; heldSinceSilence: number }>;
}

export interface SilentProxy {
  readonly port: number;
  /** `url` with its host and port replaced by this proxy's. */
  readonly urlFor: (url: string) => string;
  readonly silent: () => boolean;
  readonly goSilent: () => void;
  /** Keeps forwarding until `bytes` more have gone to the replica, then goes silent (mid-transfer). */
  readonly silenceAfter: (bytes: number) => void;
  readonly heal: () => void;
  readonly stats: () => SilentProxyStats;
  readonly close: () => Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  /** Undefined for a connection accepted while silent: nothing upstream ever hears of it. */
  readonly upstream: net.Socket | undefined;
  /** The replica sent FIN or closed this socket while silent (counted once). */
  releasedWhileSilent: boolean;
  /** Open when the silence began. */
  atSilence: boolean;
  application: string;
  /** The first bytes the replica sent, until application_name is found. */
  head: string;
}

const APP_NAME = /application_name\0([^\0]*)\0/;

const reset = (s: net.Socket | undefined) => {
  if (s && !s.destroyed) s.resetAndDestroy();
};

export async function startSilentProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<SilentProxy> {
  const pairs = new Set<Pair>();
  /** Every connection ever accepted, for the per-application counts. */
  const all = new Set<Pair>();
  let silent = false;
  const counts = { accepted: 0, acceptedWhileSilent: 0, replicaClosedWhileSilent: 0, resetByHeal: 0 };
  const forwarded = { toMaster: 0, toReplica: 0 };
  const dropped = { toMaster: 0, toReplica: 0 };
  let silenceAt: number | undefined;
  const beginSilence = () => {
    silent = true;
    for (const p of pairs) p.atSilence = !p.client.destroyed;
  };
  const sniff = (p: Pair, chunk: Buffer) => {
    if (p.application !== "?" || p.head.length > 4096) return;
    p.head += chunk.toString("latin1");
    const m = APP_NAME.exec(p.head);
    if (m) p.application = m[1]!;
  };
  const released = (p: Pair) => {
    if (!silent || p.releasedWhileSilent) return;
    p.releasedWhileSilent = true;
    counts.replicaClosedWhileSilent++;
  };

  // allowHalfOpen: a FIN from one side is never answered by the proxy on its own; it is
  // passed on (healthy) or swallowed (silent), as the network would.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    counts.accepted++;
    client.setNoDelay(true);
    if (silent) {
      counts.acceptedWhileSilent++;
      const pair: Pair = { client, upstream: undefined, releasedWhileSilent: false, atSilence: false, application: "?", head: "" };
      pairs.add(pair);
      all.add(pair);
      client.on("data", (chunk: Buffer) => {
        sniff(pair, chunk);
        dropped.toMaster += chunk.length;
      });
      client.on("end", () => released(pair));
      client.on("error", () => undefined);
      client.on("close", () => released(pair));
      return;
    }
    const upstream = net.connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, releasedWhileSilent: false, atSilence: false, application: "?", head: "" };
    pairs.add(pair);
    all.add(pair);
    const pipe = (from: net.Socket, to: net.Socket, dir: "toMaster" | "toReplica") => {
      from.on("data", (chunk: Buffer) => {
        if (from === client) sniff(pair, chunk);
        if (silent) dropped[dir] += chunk.length;
        else {
          forwarded[dir] += chunk.length;
          if (!to.destroyed) to.write(chunk);
          if (dir === "toReplica" && silenceAt !== undefined && forwarded.toReplica >= silenceAt) {
            silenceAt = undefined;
            beginSilence();
          }
        }
      });
      from.on("end", () => {
        if (from === client) released(pair);
        if (!silent && !to.destroyed) to.end();
      });
      from.on("error", () => undefined);
      from.on("close", () => {
        if (from === client) released(pair);
        // A partition tells neither side that the other went away: the pair waits for heal().
        if (silent) return;
        to.destroy();
        pairs.delete(pair);
      });
    };
    pipe(client, upstream, "toMaster");
    pipe(upstream, client, "toReplica");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    urlFor: (url) => {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    silent: () => silent,
    goSilent: beginSilence,
    silenceAfter: (bytes) => void (silenceAt = forwarded.toReplica + bytes),
    heal: () => {
      counts.resetByHeal = 0;
      for (const p of pairs) {
        if (!p.client.destroyed) counts.resetByHeal++;
        reset(p.client);
        reset(p.upstream);
      }
      pairs.clear();
      for (const p of all) p.atSilence = false;
      silent = false;
    },
    stats: () => {
      const byApplication: SilentProxyStats["byApplication"] = {};
      for (const p of all) {
        const a = (byApplication[p.application] ??= { accepted: 0, open: 0, releasedWhileSilent: 0, heldSinceSilence: 0 });
        a.accepted++;
        if (!p.client.destroyed) a.open++;
        if (p.releasedWhileSilent) a.releasedWhileSilent++;
        if (silent && p.atSilence && !p.releasedWhileSilent && !p.client.destroyed) a.heldSinceSilence++;
      }
      return { ...counts, open: [...pairs].filter((p) => !p.client.destroyed).length, forwarded: { ...forwarded }, dropped: { ...dropped }, byApplication };
    },
    close: () =>
      new Promise<void>((done) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream?.destroy();
        }
        pairs.clear();
        server.close(() => done());
      }),
  };
}
