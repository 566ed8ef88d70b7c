import path from "node:path";
import { createRequire } from "node:module";
import { describe, onTestFinished } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { spawnCli } from "./support/cli.ts";
import { freePort } from "./support/postgres.ts";

interface WsServer {
  readonly clients: Set<{ terminate(): void }>;
  on(event: "connection", listener: (socket: { on(event: "message", l: (data: Buffer) => void): void }) => void): void;
  close(cb: () => void): void;
}
const { WebSocketServer } = createRequire(import.meta.url)("ws") as { WebSocketServer: new (o: { port: number; host: string }) => WsServer };

async function serveWithInspect(env: Record<string, string>, inspectUrl: string) {
  const port = await freePort();
  const child = spawnCli(["serve", `--inspect=${inspectUrl}`], { ...env, PORT: String(port) });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  onTestFinished(() => void child.kill("SIGKILL")); // a failing test must not leave a server behind
  await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200), 30_000, 50);
  return { child, exited };
}

describe("--inspect", () => {
  test("serve --inspect sends the machines' events to a Stately inspector over WebSocket and still exits promptly on SIGTERM.", async ({ pg, tmp }) => {
    const wsPort = await freePort();
    const server = new WebSocketServer({ port: wsPort, host: "127.0.0.1" });
    const received: { type: string; event?: { type: string } }[] = [];
    server.on("connection", (socket) => {
      socket.on("message", (data) => {
        try {
          received.push(JSON.parse(String(data)));
        } catch {
          received.push({ type: "unparsable" });
        }
      });
    });
    try {
      const { child, exited } = await serveWithInspect({ DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "i.db") }, `ws://127.0.0.1:${wsPort}`);
      await eventually(() => {
        expect(received.some((e) => e.type === "@xstate.snapshot")).toBe(true);
        expect(received.some((e) => e.type === "@xstate.event" && e.event?.type === "FEED_CONNECTED")).toBe(true);
      }, 20_000);
      const started = Date.now();
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      // ws waits for connected clients before closing: end them first.
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("With nothing listening at the inspect URL, serve runs normally and is not kept alive by the inspector.", async ({ pg, tmp }) => {
    const { child, exited } = await serveWithInspect({ DATABASE_URL: pg.url, EMBEDDED_MEMORY_PATH: path.join(tmp, "j.db") }, `ws://127.0.0.1:${await freePort()}`);
    const started = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
