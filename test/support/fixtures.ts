/**
 * vitest fixtures: a Postgres cluster per test file with a fresh database per test (tests of
 * one file never see each other's rows, and each runs alone with `-t`), a temp folder per
 * test, and helpers to build a replica on them. Every handle a test opens is closed by the
 * fixture.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test as base, expect } from "vitest";
import { createTestDatabase, createTestPostgres, type TestPostgres } from "./postgres.ts";
import { makeConfig, type Config } from "../../src/schema/config.ts";
import { EmbeddedMemory } from "../../src/runtime/embeddedMemory.ts";
import { createLogger } from "../../src/observability/logger.ts";

export interface Fixtures {
  /** The file's cluster (starting one costs about a second; a database costs milliseconds). */
  cluster: TestPostgres;
  /** This test's own database on the cluster; stop/start act on the whole cluster. */
  pg: TestPostgres;
  tmp: string;
  /** Builds (and tracks for cleanup) a replica of the test Postgres in this test's folder. */
  replica: (overrides?: Partial<Config>) => EmbeddedMemory;
}

export const test = base.extend<Fixtures>({
  cluster: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const cluster = await createTestPostgres();
      await use(cluster);
      await cluster.destroy();
    },
    { scope: "file" },
  ],
  pg: async ({ cluster }, use) => {
    const db = await createTestDatabase(cluster);
    await use(db);
    await db.destroy();
  },
  // eslint-disable-next-line no-empty-pattern
  tmp: async ({}, use) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "em-test-"));
    await use(dir);
    rmSync(dir, { recursive: true, force: true });
  },
  replica: async ({ pg, tmp }, use) => {
    const made: EmbeddedMemory[] = [];
    await use((overrides = {}) => {
      const config = makeConfig({ databaseUrl: pg.url, localPath: path.join(tmp, `replica-${made.length}.db`), syncIntervalMs: 3_600_000, logLevel: "silent", ...overrides });
      const m = new EmbeddedMemory(config, { logger: createLogger({ level: process.env.TEST_LOG_LEVEL === "debug" ? "debug" : "silent" }) });
      made.push(m);
      return m;
    });
    await Promise.all(made.map((m) => m.stop()));
  },
});

export { expect };

/** Polls `check` until it passes (or throws its last failure after `timeoutMs`). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
