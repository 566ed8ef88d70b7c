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
 * Republishes, as "event" on `events`, the events the root actor receives — only while
 * something listens for them. xstate builds an inspection event for every action, microstep
 * and snapshot once anyone inspects the system, and a lone pull runs dozens of them (measured
 * with bench/pullCpu.ts), so the observer is on the system only while there is a listener.
 */
export function forwardEvents(machine: MachineEvent["machine"], actor: AnyActorRef, events: EventEmitter): void {
  let inspecting: { unsubscribe(): void } | undefined;
  const inspect = (e: InspectionEvent) => {
    if (e.type !== "@xstate.event" || e.actorRef !== actor || e.event.type === "xstate.init") return;
    const ev: MachineEvent = { machine, event: eventLabel(e.event.type), at: new Date().toISOString() };
    events.emit("event", ev);
  };
  const update = (adding: boolean) => {
    if (adding && !inspecting) inspecting = actor.system.inspect(inspect);
    else if (!adding && inspecting && events.listenerCount("event") === 0) (inspecting.unsubscribe(), (inspecting = undefined));
  };
  events.on("newListener", (name: string | symbol) => name === "event" && update(true));
  events.on("removeListener", (name: string | symbol) => name === "event" && update(false));
  if (events.listenerCount("event") > 0) update(true);
}
