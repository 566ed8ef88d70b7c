/**
 * The opt-in `serve --inspect[=ws://host:port]`: sends machine events to a Stately inspector
 * over WebSocket, for people who use Stately's tools. Never on by default, and it never keeps
 * the process alive: its socket and retry timer are unref'd, and stop() ends it for good
 * (@statelyai/inspect's own WebSocket adapter retries forever on a timer that stop() does
 * not cancel — see LIBS.md).
 */
import type { InspectionEvent } from "xstate";
import type { Logger } from "../observability/logger.ts";

export interface StatelyInspection {
  readonly inspect: (event: InspectionEvent) => void;
  readonly stop: () => void;
}

/** Retry every 5 s while the inspector is not there; events wait (the newest 200). */
const RETRY_MS = 5_000;

/** The part of ws's WebSocket used here (ws ships no types). */
interface Ws {
  readonly readyState: number;
  send(data: string): void;
  terminate(): void;
  on(event: "open" | "close", listener: () => void): void;
  on(event: "error", listener: (e: Error) => void): void;
}
type WsModule = { default: { new (url: string): Ws; OPEN: number } };
const MAX_DEFERRED = 200;

export async function startStatelyInspection(url: string, logger: Logger): Promise<StatelyInspection> {
  const log = logger.child({ module: "inspect" });
  const wsModule = "ws";
  const [{ createInspector }, { default: WebSocket }] = await Promise.all([import("@statelyai/inspect"), import(wsModule) as Promise<WsModule>]);
  let ws: Ws | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const deferred: string[] = [];
  const connect = () => {
    if (stopped) return;
    const socket = new WebSocket(url);
    ws = socket;
    socket.on("open", () => {
      (socket as unknown as { _socket?: { unref(): void } })._socket?.unref();
      log.info({ url }, "sending machine events to the Stately inspector");
      for (const e of deferred.splice(0)) socket.send(e);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (stopped) return;
      timer = setTimeout(connect, RETRY_MS);
      timer.unref();
    });
  };
  const inspector = createInspector({
    start: connect,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      ws?.terminate();
    },
    send: (event) => {
      const text = JSON.stringify(event);
      if (ws?.readyState === WebSocket.OPEN) ws.send(text);
      else if (deferred.push(text) > MAX_DEFERRED) deferred.shift();
    },
  });
  inspector.start(); // createInspector does not start its adapter by itself
  // inspector.inspect is an observer ({ next }), not a function.
  const observer = inspector.inspect as unknown as { next: (event: InspectionEvent) => void };
  return { inspect: (event) => observer.next(event), stop: () => inspector.stop() };
}
