/**
 * A TCP proxy on 127.0.0.1 that holds every chunk for `delayMs` in each direction before
 * forwarding it (a same-region link: one round trip costs 2 × delayMs more). Order is kept:
 * each direction is one FIFO queue drained by one timer. Sockets use TCP_NODELAY so the
 * only added latency is the configured one.
 */
import net from "node:net";

export interface DelayProxy {
  readonly port: number;
  /** Chunks forwarded and the largest extra delay a chunk saw beyond `delayMs` (timer slack). */
  readonly stats: () => { chunks: number; maxSlackMs: number };
  readonly close: () => Promise<void>;
}

/** Forwards `from` → `to`, each chunk `delayMs` after it arrived. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, onChunk: (slackMs: number) => void): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const drain = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0]!.due <= now) {
      const { due, chunk } = queue.shift()!;
      onChunk(now - due);
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length) timer = setTimeout(drain, Math.max(0, queue[0]!.due - performance.now()));
    else if (ended && !to.destroyed) to.end();
  };
  from.on("data", (chunk: Buffer) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    timer ??= setTimeout(drain, delayMs);
  });
  from.on("end", () => {
    ended = true;
    if (!queue.length && !timer && !to.destroyed) to.end();
  });
}

export function startDelayProxy(targetPort: number, delayMs: number, targetHost = "127.0.0.1"): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  let chunks = 0;
  let maxSlackMs = 0;
  const onChunk = (slack: number) => {
    chunks++;
    if (slack > maxSlackMs) maxSlackMs = slack;
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: targetHost });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    delayedPipe(client, upstream, delayMs, onChunk);
    delayedPipe(upstream, client, delayMs, onChunk);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        port,
        stats: () => ({ chunks, maxSlackMs: Math.round(maxSlackMs * 100) / 100 }),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
