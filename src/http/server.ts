/**
 * Serving the Hono app on Node, with a graceful close: stop accepting, let in-flight
 * requests finish, drop idle keep-alive sockets at once and the rest at the deadline.
 */
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Hono } from "hono";

export interface HttpServer {
  readonly url: string;
  readonly port: number;
  readonly close: (deadlineMs?: number) => Promise<void>;
  /** The Node server underneath (for listeners of its own, e.g. timing requests in benchmarks). */
  readonly node: Server;
}

export function startHttpServer(app: Hono, host: string, port: number): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }) as Server;
    server.once("error", reject);
    server.once("listening", () => {
      const address = server.address() as AddressInfo;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${shownHost}:${address.port}`,
        port: address.port,
        node: server,
        close: (deadlineMs = 5_000) =>
          (closing ??= new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), deadlineMs);
            // A request in flight leaves an idle keep-alive socket behind when it finishes:
            // close those as they appear, or close() waits for the keep-alive timeout.
            const sweep = setInterval(() => server.closeIdleConnections(), 25);
            server.close(() => {
              clearTimeout(timer);
              clearInterval(sweep);
              done();
            });
            server.closeIdleConnections();
          })),
      });
    });
  });
}
