/**
 * What the fleet costs a server it uses (the master, and the read standby when pulls go there),
 * read from that server's own side: its connections (pg_stat_activity) and the CPU time of the
 * whole cluster (/proc, Linux only).
 */
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";

/** Kernel clock ticks per second (`getconf CLK_TCK`): 100 on every Linux this runs on. */
const CLK_TCK = 100;

interface ProcTimes {
  readonly ppid: number;
  /** utime + stime of the process itself, in ticks. */
  readonly own: number;
  /** cutime + cstime: its children that have exited and been waited for, in ticks. */
  readonly reaped: number;
}

function procTimes(pid: number): ProcTimes | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null; // gone between the listing and the read
  }
}

/** The postmaster: the parent of any backend (asked on a kept connection, whose backend stays alive to be read). */
export async function postmasterPid(client: pg.Client): Promise<number> {
  const backend = Number((await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid);
  const t = procTimes(backend);
  if (!t) throw new Error(`cannot read /proc/${backend}/stat (Linux only)`);
  return t.ppid;
}

/**
 * CPU seconds used so far by the whole cluster: the postmaster, its live children (backends,
 * walwriter, checkpointer…), and the children that already exited (the postmaster waited for
 * them, so the kernel added their time to its cutime/cstime). Differences of two readings are
 * exact to a tick (10 ms).
 */
export function clusterCpuSeconds(postmaster: number): number {
  const root = procTimes(postmaster);
  if (!root) throw new Error(`postmaster ${postmaster} is gone`);
  let ticks = root.own + root.reaped;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const t = procTimes(Number(name));
    if (t && t.ppid === postmaster) ticks += t.own + t.reaped;
  }
  return ticks / CLK_TCK;
}

/** CPU seconds used so far by these processes (the replicas: each is one process, its threads included). */
export function processesCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += procTimes(pid)?.own ?? 0;
  return ticks / CLK_TCK;
}

export interface Connections {
  readonly total: number;
  /** By application_name: embedded-memory (pool), embedded-memory-feed (LISTEN), …-probe. */
  readonly byApplication: Record<string, number>;
}

/** The replicas' connections to the master, as the master counts them (on one kept connection: opening one per sample would cost the master CPU). */
export async function replicaConnections(client: pg.Client): Promise<Connections> {
  const { rows } = await client.query<{ app: string; n: string }>(
    "SELECT application_name AS app, count(*) AS n FROM pg_stat_activity WHERE application_name LIKE 'embedded-memory%' GROUP BY 1 ORDER BY 1",
  );
  const byApplication = Object.fromEntries(rows.map((r) => [r.app, Number(r.n)]));
  return { total: rows.reduce((a, r) => a + Number(r.n), 0), byApplication };
}

/** Samples `replicaConnections` every `intervalMs` until `stop()`; keeps the highest total seen. */
export function sampleConnections(client: pg.Client, intervalMs = 25) {
  let peak: Connections = { total: 0, byApplication: {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      const c = await replicaConnections(client).catch(() => null);
      if (c && c.total > peak.total) peak = c;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async (): Promise<Connections> => {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** One server the fleet uses, watched on one kept connection (which also names its postmaster). */
export interface WatchedServer {
  readonly client: pg.Client;
  readonly postmaster: number;
  readonly cpuSeconds: () => number;
  readonly close: () => Promise<void>;
}

export async function watchServer(url: string): Promise<WatchedServer> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const postmaster = await postmasterPid(client);
    return { client, postmaster, cpuSeconds: () => clusterCpuSeconds(postmaster), close: () => client.end().catch(() => undefined) };
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
}

/**
 * With pulls on a standby the replicas' pools on the primary serve only the start (objects,
 * epoch) and maintenance, and close after the pool's idle timeout (10 s): waits, polling, until
 * they have (or `timeoutMs` passed), so what the primary holds at rest and in a burst is the
 * steady state, not the start's leftovers. Returns the connections then, and how long it took.
 */
export async function awaitIdlePools(client: pg.Client, timeoutMs = 15_000): Promise<{ connections: Connections; waitedMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const connections = await replicaConnections(client);
    const waitedMs = Date.now() - t0;
    if (!connections.byApplication["embedded-memory"] || waitedMs >= timeoutMs) return { connections, waitedMs };
    await new Promise((r) => setTimeout(r, 250));
  }
}
