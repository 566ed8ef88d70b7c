/**
 * The machines' event stream (src/runtime/machineEvents.ts): events are republished only while
 * something listens for them, and xstate's inspection is off otherwise (it costs every pull).
 */
import { EventEmitter } from "node:events";
import { expect, test } from "vitest";
import { createActor, createMachine } from "xstate";
import { eventLabel, forwardEvents, type MachineEvent } from "../src/runtime/machineEvents.ts";

const toggle = createMachine({ id: "t", initial: "a", states: { a: { on: { GO: "b" } }, b: { on: { GO: "a" } } } });

test("Events are forwarded while someone listens for them, and xstate's inspection is off before and after.", () => {
  const actor = createActor(toggle);
  const events = new EventEmitter();
  const observers: number[] = [];
  const inspect = actor.system.inspect.bind(actor.system);
  let live = 0;
  // Count the observers forwardEvents puts on the system.
  (actor.system as { inspect: typeof inspect }).inspect = (o) => {
    live++;
    observers.push(live);
    const sub = inspect(o);
    return { unsubscribe: () => (live--, sub.unsubscribe()) };
  };
  forwardEvents("sync", actor, events);
  actor.start();
  actor.send({ type: "GO" });
  expect(live).toBe(0);
  const seen: MachineEvent[] = [];
  const onEvent = (e: MachineEvent) => seen.push(e);
  events.on("event", onEvent);
  events.on("event", () => undefined); // a second listener shares the one observer
  expect(live).toBe(1);
  actor.send({ type: "GO" });
  expect(seen.map((e) => [e.machine, e.event])).toEqual([["sync", "GO"]]);
  events.removeAllListeners("event");
  expect(live).toBe(0);
  actor.send({ type: "GO" });
  expect(seen).toHaveLength(1);
  expect(observers).toEqual([1]);
  actor.stop();
});

test("Event labels are short: done.<state>, error.<state>, after.<delay>, or the event's own type.", () => {
  expect(eventLabel("xstate.done.actor.0.sync.syncing")).toBe("done.syncing");
  expect(eventLabel("xstate.error.actor.3.sync.empty")).toBe("error.empty");
  expect(eventLabel("xstate.after.idleInterval.sync.idle")).toBe("after.idleInterval");
  expect(eventLabel("CHANGE")).toBe("CHANGE");
});
