/**
 * The one subscriber that logs machine transitions and republishes them, with every event
 * the machines receive, on an EventEmitter (for the SSE stream and the inspector). Both
 * machines use it.
 */
import type { EventEmitter } from "node:events";
import type { AnyActorRef, InspectionEvent } from "xstate";
import type { Logger } from "../observability/logger.ts";

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
  // A backoff with the error already warned about (a table that stays broken, a master that
  // stays down) is logged at debug: one warning per distinct error until the machine is idle
  // again. The state and the event stream still show every backoff.
  let warned: string | null = null;
  actor.subscribe({
    next: (snapshot: { value: unknown; context: { attempt: number; lastError: string | null } }) => {
      const to = String(snapshot.value);
      if (to === previous) return;
      const { attempt, lastError } = snapshot.context;
      const failing = to === "backoff";
      const repeated = failing && lastError === warned;
      if (failing) warned = lastError;
      else if (to === "idle") warned = null;
      const level = failing ? (repeated ? "debug" : "warn") : previous === null || to === "idle" || to === "stopped" ? "info" : "debug";
      log[level]({ from: previous, to, attempt, ...(failing ? { lastError } : {}) }, `${machine} ${to}`);
      const event: TransitionEvent = { machine, from: previous, to, at: new Date().toISOString(), attempt, lastError };
      previous = to;
      events.emit("transition", event);
    },
    error: (err: unknown) => log.error({ err }, `${machine} machine failed`),
  });
}

/** An event a machine received (CHANGE, FORCE_SYNC, an actor finishing, a timer…). */
export interface MachineEvent {
  readonly machine: TransitionEvent["machine"];
  readonly event: string;
  readonly at: string;
}

/** `xstate.done.actor.0.sync.syncing` → `done.syncing`; `xstate.after.backoff…` → `after.backoff`. */
export function eventLabel(type: string): string {
  const done = /^xstate\.(done|error)\.actor\.\d+\.[^.]+\.(.+)$/.exec(type);
  if (done) return `${done[1]}.${done[2]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  return after ? `after.${after[1]}` : type;
}

/**
 * An xstate `inspect` callback that republishes the events the root actor receives. Call
 * `attach` with the actor once it is created (the callback sees events of child actors too).
 */
export function eventForwarder(machine: MachineEvent["machine"], events: EventEmitter) {
  let root: AnyActorRef | undefined;
  return {
    attach: (actor: AnyActorRef) => void (root = actor),
    inspect: (e: InspectionEvent) => {
      if (e.type !== "@xstate.event" || !root || e.actorRef !== root || e.event.type === "xstate.init") return;
      const ev: MachineEvent = { machine, event: eventLabel(e.event.type), at: new Date().toISOString() };
      events.emit("event", ev);
    },
  };
}
