/**
 * GET /memory/events (Server-Sent Events: every machine transition and every event the
 * machines receive) and GET /memory/machines (their definitions and current states).
 */
import type { EventEmitter } from "node:events";
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { MachineDescription, MachinesView } from "../index.ts";

export interface EventsApi {
  readonly events: EventEmitter;
  readonly machines: () => MachinesView;
}

/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export function eventRoutes(app: Hono, api: EventsApi, descriptions: () => { sync: MachineDescription; upload: MachineDescription }, shutdown: AbortSignal): void {
  app.get("/memory/machines", (c) => c.json({ definitions: descriptions(), current: api.machines() }));

  app.get("/memory/events", (c) =>
    streamSSE(c, async (stream) => {
      const send = (event: string, data: unknown) => void stream.writeSSE({ event, data: JSON.stringify(data) }).catch(() => undefined);
      send("snapshot", api.machines());
      const onTransition = (e: unknown) => send("transition", e);
      const onEvent = (e: unknown) => send("event", e);
      api.events.on("transition", onTransition);
      api.events.on("event", onEvent);
      const keepalive = setInterval(() => void stream.write(": keepalive\n\n").catch(() => undefined), KEEPALIVE_MS);
      try {
        await new Promise<void>((resolve) => {
          stream.onAbort(resolve);
          if (shutdown.aborted) resolve();
          shutdown.addEventListener("abort", () => resolve(), { once: true });
        });
      } finally {
        clearInterval(keepalive);
        api.events.off("transition", onTransition);
        api.events.off("event", onEvent);
      }
    }),
  );
}
