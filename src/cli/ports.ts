/** Picking a local port for the demo's Postgres: the usual one if free, else any free one. */
import { createServer } from "node:net";

const tryListen = (port: number): Promise<number | undefined> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(undefined));
    srv.listen(port, "127.0.0.1", () => {
      const { port: got } = srv.address() as { port: number };
      srv.close(() => resolve(got));
    });
  });

export async function freePortNear(preferred: number): Promise<number> {
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}
