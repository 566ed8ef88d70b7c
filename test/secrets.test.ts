/**
 * Secrets never reach what a replica shows: the config's secrets in every form a message may
 * carry them (secretsOf), and the machines' error texts — stats, machine states, the event
 * stream, inspection events, force-sync answers — scrubbed of them, proven against a fake
 * master on loopback that repeats the password a replica really sent it.
 */
import path from "node:path";
import { describe } from "vitest";
import type { InspectionEvent } from "xstate";
import { test, expect, eventually } from "./support/fixtures.ts";
import { startEchoingMaster } from "./support/echoingMaster.ts";
import { makeConfig, scrub, secretsOf } from "../src/schema/config.ts";
import { scrubbedError } from "../src/runtime/actors.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import type { TransitionEvent } from "../src/runtime/machineEvents.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";

const silent = createLogger({ level: "silent" });
const KEY = "key-for-secrets-tests-0123";

const secretsOfUrl = (databaseUrl: string) => secretsOf(makeConfig({ databaseUrl }));

describe("secretsOf", () => {
  test("A password in the user info is registered as written, decoded and encoded.", () => {
    expect(secretsOfUrl("postgres://app:plain-secret@db.internal/memories")).toContain("plain-secret");
    expect(secretsOfUrl("postgres://app:p%40ss-word@db.internal/memories")).toEqual(expect.arrayContaining(["p%40ss-word", "p@ss-word"]));
  });

  test("A password with a stray % (no escape after it) is registered, not skipped.", () => {
    expect(secretsOfUrl("postgres://app:50%off-secret@db.internal/memories")).toEqual(expect.arrayContaining(["50%off-secret", "50%25off-secret"]));
    // A stray % next to a real escape: the escape is decoded, the % stays.
    expect(secretsOfUrl("postgres://app:50%off%40x@db.internal/memories")).toEqual(expect.arrayContaining(["50%off%40x", "50%off@x"]));
  });

  test("A password given as ?password= (which node-postgres honours) is registered in each form.", () => {
    expect(secretsOfUrl("postgres://app@db.internal/memories?password=query-secret")).toContain("query-secret");
    expect(secretsOfUrl("postgres://app@db.internal/memories?sslmode=disable&password=a%2Fb+c-secret")).toEqual(expect.arrayContaining(["a%2Fb+c-secret", "a/b c-secret", "a%2Fb%20c-secret"]));
    expect(secretsOfUrl("postgres://app@db.internal/memories?password=q%zz-secret")).toEqual(expect.arrayContaining(["q%zz-secret", "q%25zz-secret"]));
    // Both places at once: both are secrets (pg uses the query's).
    expect(secretsOfUrl("postgres://app:info-secret@db.internal/memories?password=query-secret")).toEqual(expect.arrayContaining(["info-secret", "query-secret"]));
  });

  test("The listen and read URLs' passwords, the API keys and the embedding key are registered too.", () => {
    const config = makeConfig({
      databaseUrl: "postgres://app:primary-secret@db.internal/memories",
      listenDatabaseUrl: "postgres://app@listen.internal/memories?password=listen-secret",
      databaseReadUrl: "postgres://app:standby%zz-secret@standby.internal/memories",
      apiKeys: ["api-key-secret"],
      embeddingApiKey: "embedding-secret",
    });
    expect(secretsOf(config)).toEqual(expect.arrayContaining(["primary-secret", "listen-secret", "standby%zz-secret", "api-key-secret", "embedding-secret"]));
  });

  test("scrub replaces a secret that contains another one whole.", () => {
    const config = makeConfig({ databaseUrl: "postgres://app:abc-def-ghi@db.internal/memories", apiKeys: ["abc-def"] });
    expect(scrub("refused abc-def-ghi and abc-def", secretsOf(config))).toBe("refused [redacted] and [redacted]");
  });

  test("scrubbedError scrubs the message and stack and keeps the name, _tag and code.", () => {
    const original = Object.assign(new Error("connect failed for hunter2-pw"), { name: "MasterError", _tag: "MasterError", code: "28P01", cause: new Error("hunter2-pw") });
    const clean = scrubbedError(original, (t) => scrub(t, ["hunter2-pw"]));
    expect(clean).toMatchObject({ message: "connect failed for [redacted]", name: "MasterError", _tag: "MasterError", code: "28P01" });
    expect(clean.stack).not.toContain("hunter2-pw");
    expect(clean.cause).toBeUndefined();
    expect(scrubbedError("plain hunter2-pw", (t) => scrub(t, ["hunter2-pw"])).message).toBe("plain [redacted]");
  });
});

/** JSON of an inspection event's event and context, Errors with their message and stack, cycles cut. */
function inspectionText(e: InspectionEvent): string {
  const seen = new WeakSet<object>();
  const snapshot = (e as { snapshot?: { context?: unknown } }).snapshot;
  return JSON.stringify({ type: e.type, event: (e as { event?: unknown }).event, context: snapshot?.context }, (_k, v: unknown) => {
    if (v instanceof Error) return { ...v, message: v.message, stack: v.stack };
    if (typeof v === "object" && v !== null) {
      if (seen.has(v)) return undefined;
      seen.add(v);
    }
    return v;
  });
}

/** Reads a Server-Sent Events stream until `done(text so far)`, then lets it go. */
async function readEvents(url: string, done: (text: string) => boolean): Promise<string> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 15_000);
  let text = "";
  try {
    const res = await fetch(url, { signal: stop.signal });
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (done(text)) break;
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  return text;
}

describe("error texts a replica shows", () => {
  const cases = [
    { where: "in the user info", url: (port: number) => `postgres://app:Hunter2-user-info-pw@127.0.0.1:${port}/memories?sslmode=disable`, password: "Hunter2-user-info-pw" },
    { where: "as ?password= with a stray %", url: (port: number) => `postgres://app@127.0.0.1:${port}/memories?sslmode=disable&password=q%zz-query-pw`, password: "q%zz-query-pw" },
  ];

  test.for(cases)(
    "A master error repeating the password (given $where) shows [redacted] in stats, machine states, events, inspection events and force-sync answers, never the password.",
    async ({ password, url }, { tmp }) => {
      const master = await startEchoingMaster();
      const inspected: string[] = [];
      const m = new EmbeddedMemory(
        makeConfig({ databaseUrl: url(master.port), localPath: path.join(tmp, "replica.db"), logLevel: "silent", backoffBaseMs: 50, backoffMaxMs: 200, connectTimeoutMs: 1_000 }),
        { logger: silent, inspect: (e) => inspected.push(inspectionText(e)) },
      );
      const transitions: TransitionEvent[] = [];
      m.events.on("transition", (e: TransitionEvent) => transitions.push(e));
      const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent }), "127.0.0.1", 0);
      try {
        await m.start();
        // Both machines failed on the fake's refusal, which repeats the password they sent.
        await eventually(() => {
          expect(master.received()).toContain(password);
          expect(m.stats().last_error).toMatch(/password authentication failed: "\[redacted\]"/);
          expect(m.stats().outbox.last_error).toMatch(/password authentication failed: "\[redacted\]"/);
          expect(m.stats().change_feed.reason).toMatch(/\[redacted\]/);
        });
        const forced = await m.forceSync();
        expect(forced).toMatchObject({ success: false, error: expect.stringMatching(/\[redacted\]/) });

        const stats = await (await fetch(`${server.url}/memory/stats`)).text();
        const machines = await (await fetch(`${server.url}/memory/machines`)).text();
        const forcedOverHttp = await (await fetch(`${server.url}/memory/force-sync`, { method: "POST", headers: { "x-api-key": KEY } })).text();
        const stream = await readEvents(`${server.url}/memory/events`, (text) => /event: transition[^\n]*\ndata: [^\n]*\[redacted\]/.test(text));
        const shown = { stats, machines, forcedOverHttp, stream, transitions: JSON.stringify(transitions), inspected: inspected.join("\n"), library: JSON.stringify([m.stats(), m.machines()]) };
        for (const [where, text] of Object.entries(shown)) {
          expect({ where, redacted: text.includes("[redacted]") }).toEqual({ where, redacted: true });
          for (const form of [password, encodeURIComponent(password)]) expect({ where, leaks: text.includes(form) }).toEqual({ where, leaks: false });
        }
      } finally {
        await server.close();
        await m.stop();
        await master.close();
      }
    },
  );
});
