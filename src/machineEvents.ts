/**
 * The one subscriber that logs machine transitions and republishes them as events (for
 * the SSE stream and the inspector to come). Both machines use it.
 */
import type { EventEmitter } from "node:events";
import type { AnyActorRef } from "xstate";
import type { Logger } from "./services/logger.ts";

export interface TransitionEvent {
  readonly machine: "sync" | "upload";
  readonly from: string | null;
  readonly to: string;
  readonly at: string;
  readonly attempt: number;
  readonly lastError: string | null;
}

export function logTransitions(machine: TransitionEvent["machine"], actor: AnyActorRef, logger: Logger, events: EventEmitter): void {
  const log = logger.child({ module: machine });
  let previous: string | null = null;
  actor.subscribe({
    next: (snapshot: { value: unknown; context: { attempt: number; lastError: string | null } }) => {
      const to = String(snapshot.value);
      if (to === previous) return;
      const { attempt, lastError } = snapshot.context;
      const failing = to === "backoff";
      log[failing ? "warn" : previous === null || to === "idle" || to === "stopped" ? "info" : "debug"]({ from: previous, to, attempt, ...(failing ? { lastError } : {}) }, `${machine} ${to}`);
      const event: TransitionEvent = { machine, from: previous, to, at: new Date().toISOString(), attempt, lastError };
      previous = to;
      events.emit("transition", event);
    },
    error: (err: unknown) => log.error({ err }, `${machine} machine failed`),
  });
}
