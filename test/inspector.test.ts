/**
 * GET /inspector in a real browser (Debian's Chromium driven by playwright-core) against a
 * real Postgres, replica and HTTP server: the page draws both machines, lights the current
 * states live as the master goes down and comes back, and resyncs after its stream drops.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";
import { test, expect, eventually } from "./support/fixtures.ts";
import { createTestPostgres } from "./support/postgres.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer, type HttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";

// The callbacks given to page.evaluate/waitForFunction run in the page; the project's
// tsconfig has no DOM types.
declare const document: any;
declare const window: any;

// CHROMIUM_PATH: a browser elsewhere (another distribution's chromium-browser).
const CHROMIUM = { ...SYSTEM.chromium, path: process.env.CHROMIUM_PATH ?? SYSTEM.chromium.path };
const hasChromium = requireSystem("the inspector test", CHROMIUM);
const ARTIFACTS = path.resolve(import.meta.dirname, "..", "test-artifacts");
const silent = createLogger({ level: "silent" });

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM.path,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
}

/** The lit state of a machine: the one drawn state with data-active="true". */
const litState = (page: Page, machine: string) =>
  page.evaluate((m) => [...document.querySelectorAll(`[data-machine="${m}"][data-active="true"]`)].map((e) => e.getAttribute("data-state")), machine);

/**
 * Records, in the page, every state that gets lit ("sync:backoff"…), from a MutationObserver:
 * a state lit only briefly between two polls is still seen.
 */
function recordLitStates(): void {
  window.__lit = [] as string[];
  new window.MutationObserver((records: { target: any; oldValue: string | null }[]) => {
    for (const r of records) {
      if (r.target.getAttribute("data-active") === "true" && r.oldValue !== "true") window.__lit.push(`${r.target.getAttribute("data-machine")}:${r.target.getAttribute("data-state")}`);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-active"], attributeOldValue: true });
}

const litCount = (page: Page): Promise<number> => page.evaluate(() => window.__lit.length);

/** Waits until `machine`'s lit state is `state`, or was lit at some point after the `since`-th record. */
const waitForLit = (page: Page, machine: string, state: string, since?: number, timeout = 30_000) =>
  page.waitForFunction(
    ([m, s, from]) => {
      if (from >= 0 && window.__lit.slice(from).includes(`${m}:${s}`)) return true;
      const lit = document.querySelectorAll(`[data-machine="${m}"][data-active="true"]`);
      return lit.length === 1 && lit[0].getAttribute("data-state") === s;
    },
    [machine, state, since ?? -1] as const,
    { timeout },
  );

describe.skipIf(!hasChromium)("inspector", () => {
  test("GET /inspector draws both machines, follows the sync machine into backoff and back to idle, and resyncs after its stream drops.", { timeout: 120_000 }, async ({ tmp }) => {
    const browser = await launch();
    const master = await createTestPostgres();
    await installMaster(master);
    await seedMemories(master, 12);
    const m = new EmbeddedMemory(
      makeConfig({ databaseUrl: master.url, localPath: path.join(tmp, "inspector.db"), logLevel: "silent", backoffBaseMs: 200, backoffMaxMs: 800, connectTimeoutMs: 1_000 }),
      { logger: silent },
    );
    let shutdown = new AbortController();
    const app = () => createHttpApp(m, { apiKeys: ["key-for-tests-0123456789"], logger: silent, shutdown: shutdown.signal });
    let server: HttpServer | undefined = await startHttpServer(app(), "127.0.0.1", 0);
    const errors: string[] = [];
    const collect = (msg: ConsoleMessage) => {
      if (msg.type() === "error") errors.push(`console: ${msg.text()} (${msg.location().url})`);
    };
    try {
      await m.start();
      await eventually(() => expect(m.state()).toBe("idle"));

      const page = await browser.newPage({ viewport: { width: 1480, height: 1000 } });
      await page.addInitScript(recordLitStates);
      page.on("console", collect);
      page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
      const machineRequests: string[] = [];
      page.on("request", (r) => {
        if (new URL(r.url()).pathname === "/memory/machines") machineRequests.push(r.url());
      });

      const res = await page.goto(`${server.url}/inspector`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()["content-type"]).toMatch(/^text\/html/);
      const csp = res?.headers()["content-security-policy"] ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toMatch(/script-src 'self' 'unsafe-inline'/);

      // Both charts drawn from the definitions, every state once, exactly one lit per machine.
      const defs = (await (await fetch(`${server.url}/memory/machines`)).json()) as { definitions: Record<"sync" | "upload", { states: { name: string }[] }> };
      for (const machine of ["sync", "upload"] as const) {
        const names = defs.definitions[machine].states.map((s) => s.name);
        expect(names.length, machine).toBeGreaterThan(1); // else "every state drawn" holds of nothing
        await eventually(async () => {
          const drawn = await page.evaluate((mm) => [...document.querySelectorAll(`[data-machine="${mm}"][data-state]`)].map((e) => e.getAttribute("data-state")), machine);
          expect(drawn.sort()).toEqual([...names].sort());
        });
      }
      await waitForLit(page, "sync", "idle");
      await waitForLit(page, "upload", "idle");
      await eventually(async () => expect(await litState(page, "sync")).toEqual(["idle"]));

      // Counters from /memory/stats.
      await eventually(async () => {
        expect(await page.textContent('[data-stat="total_memories"] .v')).toBe("12");
        expect(await page.textContent('[data-stat="pool_connected"] .v')).toBe("connected");
        expect(await page.textContent('[data-stat="outbox"] .v')).toBe("0 / 0");
      });
      expect(await page.getAttribute("#conn", "data-conn")).toBe("live");

      // The master goes away: the lit sync state follows into backoff.
      const mark = await litCount(page);
      await master.stop();
      await waitForLit(page, "sync", "backoff", mark);
      await eventually(async () => expect(await page.textContent('[data-stat="pool_connected"] .v')).toBe("unreachable"));
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, "inspector-backoff.png"), fullPage: true });

      // ...and back to idle once it returns.
      // (waitForLit wants exactly one lit state, idle; read again later it may be syncing: the
      // listener reconnects after the pool and its FEED_CONNECTED pulls once more.)
      await master.start();
      await waitForLit(page, "sync", "idle");
      const logText = await page.textContent("#log");
      expect(logText).toMatch(/backoff/);
      expect(await page.locator("#log li").count()).toBeLessThanOrEqual(50);
      await eventually(async () => {
        expect(await page.textContent('[data-stat="pool_connected"] .v')).toBe("connected");
        expect(await page.textContent('[data-stat="pool_connected"] .s')).toMatch(/listening/);
      });
      await waitForLit(page, "sync", "idle");
      await page.screenshot({ path: path.join(ARTIFACTS, "inspector.png"), fullPage: true });
      expect(errors).toEqual([]);

      // The stream drops (the server goes away and comes back on the same port): the page
      // reconnects and reads /memory/machines again. The browser logs the refused
      // connections meanwhile; only errors of the page itself count here.
      page.off("console", collect);
      const port = server.port;
      const before = machineRequests.length;
      shutdown.abort();
      await server.close();
      server = undefined;
      await page.waitForFunction(() => document.getElementById("conn")?.getAttribute("data-conn") === "reconnecting", undefined, { timeout: 10_000 });
      shutdown = new AbortController();
      server = await startHttpServer(app(), "127.0.0.1", port);
      await page.waitForFunction(() => document.getElementById("conn")?.getAttribute("data-conn") === "live", undefined, { timeout: 30_000 });
      await eventually(() => expect(machineRequests.length).toBeGreaterThan(before));
      await waitForLit(page, "sync", "idle");
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      shutdown.abort();
      await server?.close();
      await m.stop();
      await master.destroy();
    }
  });
});
