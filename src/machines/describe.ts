/**
 * A plain description of a machine's states and transitions, read from its definition,
 * for the inspector page to draw (so the drawing cannot drift from the machine).
 */
import type { AnyStateMachine } from "xstate";

export interface StateDescription {
  readonly name: string;
  readonly invokes: string[];
  readonly final: boolean;
  readonly transitions: { event: string; target: string; guard?: string }[];
}

export interface MachineDescription {
  readonly id: string;
  readonly initial: string;
  readonly states: StateDescription[];
  /** Events handled in every state (root-level `on`). */
  readonly global: { event: string; target?: string }[];
}

interface Transition {
  eventType: string;
  target?: { key: string }[];
  guard?: { type?: string } | string;
}

/** `xstate.done.actor.0.sync.syncing` → `done`, `xstate.after.backoff.sync.backoff` → `after backoff`. */
function eventLabel(eventType: string): string {
  if (eventType.startsWith("xstate.done.actor.")) return "done";
  if (eventType.startsWith("xstate.error.actor.")) return "error";
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType;
}

const guardName = (g: Transition["guard"]): string | undefined => (typeof g === "string" ? g : g?.type);

export function describeMachine(machine: AnyStateMachine): MachineDescription {
  const root = machine.root.definition as unknown as {
    id: string;
    initial: { target: { key: string }[] };
    states: Record<string, { type: string; invoke: { src: string }[]; transitions: Transition[] }>;
    transitions: Transition[];
  };
  const states = Object.entries(root.states).map(([name, s]) => ({
    name,
    final: s.type === "final",
    invokes: s.invoke.map((i) => String(i.src)),
    transitions: s.transitions
      .filter((t) => t.target && t.target.length > 0)
      .map((t) => ({ event: eventLabel(t.eventType), target: t.target![0]!.key, ...(guardName(t.guard) ? { guard: guardName(t.guard)! } : {}) })),
  }));
  return {
    id: root.id,
    initial: root.initial.target[0]!.key,
    states,
    global: root.transitions.map((t) => ({ event: eventLabel(t.eventType), ...(t.target?.length ? { target: t.target[0]!.key } : {}) })),
  };
}
