/**
 * A seeded random workload on the master while a replica follows it. The seed alone decides
 * every statement, every id, which worker runs it and the order of every step, commits and
 * rollbacks included: `CONVERGENCE_SEED=<n>` replays the same run. (Workers used to share one
 * PRNG while racing on the clock, so the printed seed could not replay anything.) Only the
 * replica's pulls, which are what this tests, run on their own timing.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";
import { prng } from "../src/dev/prng.ts";

const SEED = Number(process.env.CONVERGENCE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WORKERS = 5;
const TRANSACTIONS = 300;

type Action =
  | { readonly worker: number; readonly kind: "begin" | "commit" | "rollback" }
  | { readonly worker: number; readonly kind: "statement"; readonly sql: string; readonly values: readonly unknown[]; readonly lock?: string };

/** Takes the row lock first without waiting: a row another open transaction holds fails this transaction at once. */
const LOCK = "SELECT 1 FROM unified_ai_memory WHERE id = $1 FOR UPDATE NOWAIT";
const TASK_LOCK = "SELECT 1 FROM agent_tasks WHERE id = $1 FOR UPDATE NOWAIT";

/** A second replicated table, filtered: tasks move in and out of the replica as their status changes. */
const TASKS_DDL = `CREATE TABLE agent_tasks (id uuid PRIMARY KEY, memory_id uuid, title text NOT NULL, status text NOT NULL,
  priority int NOT NULL DEFAULT 3, updated_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX agent_tasks_status ON agent_tasks (status)`;
const TASKS = { name: "agent_tasks", filter: "status IN ('pending', 'in_progress')" };
const STATUSES = ["pending", "in_progress", "done", "failed"];

/** The whole run as a list of steps, from the seed alone. */
function planRun(seed: number, transactions = TRANSACTIONS): Action[] {
  const random = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const uuid = () => {
    const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
  };
  const tenants = [uuid(), uuid(), null];
  const ids: string[] = [];
  const taskIds: string[] = [];
  /** A task statement: made with its memory in one transaction, moved in and out of the filter, deleted. */
  const taskStatement = (worker: number): Action => {
    const op = random();
    if (op < 0.4 || taskIds.length < 10) {
      const id = uuid();
      taskIds.push(id);
      return {
        worker,
        kind: "statement",
        sql: "INSERT INTO agent_tasks (id, memory_id, title, status, priority) VALUES ($1, $2, $3, $4, $5)",
        values: [id, ids.length ? pick(ids) : null, `task ${random()}`, pick(STATUSES), 1 + Math.floor(random() * 5)],
      };
    }
    const id = pick(taskIds);
    if (op < 0.9) return { worker, kind: "statement", lock: id, sql: "UPDATE agent_tasks SET status = $2, priority = $3, updated_at = now() WHERE id = $1", values: [id, pick(STATUSES), 1 + Math.floor(random() * 5)] };
    return { worker, kind: "statement", lock: id, sql: "DELETE FROM agent_tasks WHERE id = $1", values: [id] };
  };
  const statement = (worker: number): Action => {
    if (random() < 0.3) return taskStatement(worker);
    const op = random();
    if (op < 0.45 || ids.length < 20) {
      const id = uuid();
      ids.push(id);
      return {
        worker,
        kind: "statement",
        sql: "INSERT INTO unified_ai_memory (id, memory_type, content, importance_score, tenant_id, tags, embedding) VALUES ($1, $2, jsonb_build_object('text', $3::text), $4, $5, $6, $7::real[])",
        values: [id, pick(["episodic", "semantic", "working"]), `note ${random()}`, Math.round(random() * 100) / 100, pick(tenants), [pick(["a", "b", "c"])], [random(), random(), random()]],
      };
    }
    const id = pick(ids);
    if (op < 0.8) {
      const values = [id, `edit ${random()}`, pick(tenants), random() < 0.1 ? "2000-01-01T00:00:00Z" : null];
      return { worker, kind: "statement", lock: id, sql: "UPDATE unified_ai_memory SET content = jsonb_build_object('text', $2::text), tenant_id = $3, expires_at = $4, updated_at = now() WHERE id = $1", values };
    }
    if (op < 0.9) return { worker, kind: "statement", lock: id, sql: "UPDATE unified_ai_memory SET archived = $2 WHERE id = $1", values: [id, random() < 0.5] };
    return { worker, kind: "statement", lock: id, sql: "DELETE FROM unified_ai_memory WHERE id = $1", values: [id] };
  };
  // Each worker keeps a transaction open across several statements while the others run,
  // so transactions overlap and commit in an order the PRNG decides.
  const left: (number | undefined)[] = Array.from({ length: WORKERS }, () => undefined);
  const actions: Action[] = [];
  let begun = 0;
  while (begun < transactions || left.some((n) => n !== undefined)) {
    const worker = Math.floor(random() * WORKERS);
    const n = left[worker];
    if (n === undefined) {
      if (begun === transactions) continue;
      begun++;
      left[worker] = 1 + Math.floor(random() * 6);
      actions.push({ worker, kind: "begin" });
    } else if (n > 0) {
      left[worker] = n - 1;
      actions.push(statement(worker));
    } else {
      left[worker] = undefined;
      actions.push({ worker, kind: random() < 0.1 ? "rollback" : "commit" });
    }
  }
  return actions;
}

/** Runs the steps one at a time, in order, so their effect on the master depends on the seed only. */
async function execute(actions: readonly Action[], workers: readonly pg.Client[]) {
  const stats = { committed: 0, rolledBack: 0, conflicts: 0, statements: 0 };
  const failed = new Set<number>();
  for (const a of actions) {
    const c = workers[a.worker]!;
    if (a.kind === "begin") await c.query("BEGIN");
    else if (a.kind === "statement") {
      if (failed.has(a.worker)) continue;
      try {
        if (a.lock) await c.query(a.sql.includes("agent_tasks") ? TASK_LOCK : LOCK, [a.lock]);
        await c.query(a.sql, a.values as unknown[]);
        stats.statements++;
      } catch (e) {
        if ((e as { code?: string }).code !== "55P03") throw e;
        failed.add(a.worker); // a lock conflict between workers is part of the game
        stats.conflicts++;
      }
    } else if (a.kind === "commit" && !failed.has(a.worker)) {
      await c.query("COMMIT");
      stats.committed++;
    } else {
      await c.query("ROLLBACK");
      failed.delete(a.worker);
      stats.rolledBack++;
    }
  }
  return stats;
}

/** The master's rows, without the columns the clock fills: equal for equal runs. */
async function masterDigest(c: pg.Client): Promise<string> {
  const { rows } = await c.query("SELECT id, memory_type, content, importance_score, tenant_id, tags, embedding, expires_at, archived FROM unified_ai_memory ORDER BY id");
  const { rows: tasks } = await c.query("SELECT id, memory_id, title, status, priority FROM agent_tasks ORDER BY id");
  return createHash("sha256").update(JSON.stringify([rows, tasks])).digest("hex").slice(0, 16);
}

describe("convergence", () => {
  test("The generated run is a function of the seed: the same seed gives the same steps, another seed others.", () => {
    const run = planRun(SEED);
    expect(run.filter((a) => a.kind === "begin")).toHaveLength(TRANSACTIONS);
    expect(planRun(SEED)).toEqual(run);
    expect(planRun(SEED + 1)).not.toEqual(run);
  });

  test(`Random inserts, updates and deletes of two tables in overlapping transactions that commit in random order leave master and replica identical for both (seed ${SEED}).`, async ({ pg: master, replica }) => {
    console.info(`convergence seed: ${SEED} (replay with CONVERGENCE_SEED=${SEED})`);
    await installMaster(master);
    await master.sql(TASKS_DDL);
    const m = replica({ syncIntervalMs: 3_600_000, replicatedTables: [TASKS] });
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));

    const workers: pg.Client[] = await Promise.all(Array.from({ length: WORKERS }, () => master.client()));
    let stats: Awaited<ReturnType<typeof execute>>;
    let digest: string;
    try {
      stats = await execute(planRun(SEED), workers);
      digest = await masterDigest(workers[0]!);
    } finally {
      await Promise.all(workers.map((c) => c.end()));
    }
    console.info(`convergence seed ${SEED}: ${JSON.stringify(stats)}, master digest ${digest}`);
    expect(stats.committed, `seed ${SEED}`).toBeGreaterThan(50);

    await eventually(async () => {
      const report = await m.verify();
      expect(report, `seed ${SEED}`).toMatchObject({ identical: true });
    }, 30_000, 200);
    const report = await m.verify();
    expect(report.master_count, `seed ${SEED}`).toBe(report.replica_count);
    expect(report.master_count, `seed ${SEED}`).toBeGreaterThan(0);
    // The tasks converged too, and the filter mattered: some tasks on the master are not replicated.
    const tasks = report.tables?.agent_tasks;
    expect(tasks, `seed ${SEED}`).toMatchObject({ identical: true });
    expect(tasks!.master_count, `seed ${SEED}`).toBeGreaterThan(0);
    const all = await master.sql<{ n: number }>("SELECT count(*)::int AS n FROM agent_tasks");
    expect(all[0]!.n, `seed ${SEED}`).toBeGreaterThan(tasks!.master_count);
    expect(m.stats().tables.agent_tasks, `seed ${SEED}`).toMatchObject({ rows: tasks!.master_count, filter: TASKS.filter });
  });
});
