/**
 * The fleet benchmark's same-run baseline: `n` floor replicas (bench/fleetFloor.ts — one pg
 * client, LISTEN, one query and one SQLite transaction per notification) through the same lone
 * commits as the library's replicas, on a fresh database of the same server. What it shows: the
 * commit → all-replicas latency and CPU that any replica process on this machine pays at that
 * fleet size, so the library's figures can be read as a ratio to it (machines here are shared
 * and their speed varies within a day; a ratio measured in one run does not).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { createTestDatabase, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { loadavg, type Distribution } from "./util.ts";
import { replicaConnections, watchServer, type WatchedServer } from "./fleetMaster.ts";
import { startFleet, type Fleet } from "./fleetProcesses.ts";
import { lonesCommits, type RunOptions } from "./fleetRuns.ts";

export interface FloorResult {
  readonly replicas: number;
  readonly allReplicasMs: Distribution;
  readonly eachReplicaMs: Distribution;
  readonly cpuPerLoneCommit: Awaited<ReturnType<typeof lonesCommits>>["cpuPerLoneCommit"];
  readonly loadavg: number[];
}

export async function measureFloor(o: RunOptions & { readonly seedRows: number }, server: TestPostgres, benchDir: string, dir: string, n: number, random: () => number): Promise<FloorResult> {
  const db = await createTestDatabase(server);
  await installMaster(db);
  if (o.seedRows) await seedMemories(db, o.seedRows);
  const sizeDir = path.join(dir, `fleet-floor-${n}`);
  mkdirSync(sizeDir, { recursive: true });
  const writer = await db.client();
  await writer.query("SET synchronous_commit = on"); // as the library's runs (bench/fleet.ts)
  let fleet: Fleet | undefined;
  let primary: WatchedServer | undefined;
  try {
    primary = await watchServer(db.url);
    fleet = await startFleet(benchDir, n, (i) => ({ databaseUrl: db.url, localPath: path.join(sizeDir, `floor-${i}.db`) }), "fleetFloor.ts");
    // Bare indeed: one connection each, the floor's own, and nothing of the library's.
    const held = await replicaConnections(primary.client);
    if (held.total !== n || held.byApplication["embedded-memory-floor"] !== n) throw new Error(`the floor's ${n} processes hold ${JSON.stringify(held.byApplication)} on the master, expected ${n} embedded-memory-floor connections only`);
    const lone = await lonesCommits(o, fleet, writer, primary, undefined, random);
    return { replicas: n, ...lone, loadavg: loadavg() };
  } finally {
    await fleet?.stop();
    await writer.end().catch(() => undefined);
    await primary?.close();
    await db.destroy();
  }
}
