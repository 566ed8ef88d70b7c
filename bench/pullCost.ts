/**
 * What one pull costs by its form (issue 13): the one-round-trip script a pull of a few changes
 * sends (src/master/script.ts: BEGIN, the pull's start, the changes with LIMIT, COMMIT in one
 * simple-protocol query) against the streamed transaction every pull sent before (BEGIN + SET
 * LOCAL, the start, DECLARE, FETCH, COMMIT: five round trips), built from the replicator's own
 * SQL and queries. Before each pull a writer on another connection commits one row, so every
 * pull reads one change. The forms alternate pull by pull, so the machine's noise falls on both.
 * Measured per pull: wall time, this process's CPU (the client side of the protocol) and the
 * reading backend's CPU (/proc, Linux only; 10 ms ticks, so only means over many pulls).
 * Each gap is the time the process sleeps before a pull: 0 = back to back, 20 = as a lone commit
 * finds a replica (on a VM every wake-up and socket write after a sleep costs more).
 *
 *   BENCH_PULLCOST_PULLS=300        pulls per form and gap (after 30 warm-up)
 *   BENCH_PULLCOST_GAPS=0,20        ms asleep before each pull
 *   BENCH_PULLCOST_IDLE_CLIENTS=40  idle connections beside, as a fleet's listeners and pools
 *   BENCH_OUT=path                  default bench/results/pullCost.json
 * Run: BENCH_ONLY=pullcost npm run bench
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { introspectColumnsSql, type MasterColumn } from "../src/master/columnsSql.ts";
import { setLocalStatementTimeout } from "../src/master/connection.ts";
import { pullStartSql, qualified } from "../src/master/masterSql.ts";
import { rowTypes } from "../src/master/rowTypes.ts";
import { scriptText } from "../src/master/script.ts";
import { TableQueries } from "../src/master/tableQueries.ts";
import { memoryTableDescriptor } from "../src/schema/tableDescriptor.ts";
import { benchSession, distribution, envInt, loadavg, machineInfo, round, table, type Distribution } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = {
  pulls: envInt("BENCH_PULLCOST_PULLS", 300),
  warmup: 30,
  gapsMs: (process.env.BENCH_PULLCOST_GAPS?.trim() || "0,20").split(",").map((g) => Number(g)),
  idleClients: envInt("BENCH_PULLCOST_IDLE_CLIENTS", 40, 0),
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "pullCost.json"),
};
if (opts.gapsMs.some((g) => !Number.isInteger(g) || g < 0)) throw new Error(`BENCH_PULLCOST_GAPS must be whole numbers of ms ≥ 0, got ${process.env.BENCH_PULLCOST_GAPS}`);
const say = (s: string) => process.stderr.write(`${s}\n`);
const FORMS = ["one trip", "streamed"] as const;
type Form = (typeof FORMS)[number];
const BATCH = 1_000;
const BEGIN = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${setLocalStatementTimeout(30_000)}`;

/** CPU ms a process has used (utime + stime). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** One pull from `cursor` in the given form; returns the new cursor. Both read the same rows. */
async function pull(c: pg.Client, form: Form, tq: TableQueries, cursor: string): Promise<string> {
  const startValues = [cursor, qualified("public.unified_ai_memory")];
  const changes = tq.changesSince(cursor);
  if (form === "one trip") {
    const text = scriptText([{ text: BEGIN }, { text: pullStartSql, values: startValues }, tq.changesSinceAtMost(cursor, BATCH + 1), { text: "COMMIT" }]);
    const results = (await c.query({ text, types: rowTypes })) as unknown as pg.QueryResult[];
    if (results[3]!.rows.length !== 1) throw new Error(`a pull read ${results[3]!.rows.length} changes, not 1`);
    return results[2]!.rows[0].snapshot as string;
  }
  await c.query(BEGIN);
  const start = (await c.query({ text: pullStartSql, values: startValues, types: rowTypes })).rows[0];
  await c.query({ text: `DECLARE embedded_memory_pull NO SCROLL CURSOR FOR ${changes.text}`, values: changes.values as unknown[], types: rowTypes });
  const { rows } = await c.query({ text: `FETCH ${BATCH} FROM embedded_memory_pull`, types: rowTypes });
  await c.query("COMMIT");
  if (rows.length !== 1) throw new Error(`a pull read ${rows.length} changes, not 1`);
  return start.snapshot as string;
}

interface Measured {
  readonly form: Form;
  readonly gapMs: number;
  readonly wallMs: Distribution;
  readonly clientCpuMsPerPull: number;
  readonly backendCpuMsPerPull: number;
}

async function measure(db: TestPostgres): Promise<Measured[]> {
  const reader = await db.client();
  const writer = await db.client();
  const idle = await Promise.all(Array.from({ length: opts.idleClients }, () => db.client()));
  try {
    const backend = Number((await reader.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
    const cols = (await reader.query<MasterColumn>(introspectColumnsSql, [qualified("public.unified_ai_memory")])).rows;
    const tq = new TableQueries(memoryTableDescriptor("unified_ai_memory"), cols, undefined);
    let cursor = (await reader.query("SELECT pg_current_snapshot()::text AS s")).rows[0].s as string;
    const results: Measured[] = [];
    for (const gapMs of opts.gapsMs) {
      const acc = new Map(FORMS.map((f) => [f, { wall: [] as number[], client: 0, backend: 0 }]));
      for (let i = 0; i < opts.warmup + opts.pulls; i++) {
        const form = FORMS[i % 2]!;
        await writer.query("INSERT INTO unified_ai_memory (id, memory_type, content) VALUES ($1, 'episodic', '{\"text\": \"pull cost\"}')", [randomUUID()]);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        const b0 = processCpuMs(backend);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        cursor = await pull(reader, form, tq, cursor);
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(c0);
        if (i < opts.warmup) continue;
        const a = acc.get(form)!;
        a.wall.push(wall);
        a.client += (cpu.user + cpu.system) / 1000;
        a.backend += processCpuMs(backend) - b0;
      }
      for (const form of FORMS) {
        const a = acc.get(form)!;
        const n = a.wall.length;
        results.push({ form, gapMs, wallMs: distribution(a.wall), clientCpuMsPerPull: round(a.client / n, 3), backendCpuMsPerPull: round(a.backend / n, 3) });
      }
      say(`  gap ${gapMs} ms: ${results.slice(-2).map((r) => `${r.form} p50 ${r.wallMs.p50} ms`).join(", ")}`);
    }
    return results;
  } finally {
    await Promise.all([reader, writer, ...idle].map((c) => c.end().catch(() => undefined)));
  }
}

async function main(): Promise<void> {
  let db: TestPostgres | undefined;
  const session = benchSession("em-pullcost-", say, async () => db?.destroy());
  try {
    db = await createTestPostgres();
    await installMaster(db);
    await seedMemories(db, 1_000, { embeddingDim: 384 });
    say(`pull cost: ${opts.pulls} pulls per form and gap (gaps ${opts.gapsMs.join(", ")} ms), ${opts.idleClients} idle clients beside; load ${loadavg().join(" ")}`);
    const results = await measure(db);
    const ratio = (gap: number, pick: (m: Measured) => number) => {
      const [one, streamed] = FORMS.map((f) => pick(results.find((r) => r.form === f && r.gapMs === gap)!));
      return round(one! / streamed!, 2);
    };
    console.log(
      `\npull cost by form (one change per pull; ratios one trip / streamed, same run)\n` +
        table(
          ["gap ms", "form", "wall p50 ms", "p99 ms", "client CPU ms", "backend CPU ms"],
          results.map((r) => [r.gapMs, r.form, r.wallMs.p50, r.wallMs.p99, r.clientCpuMsPerPull, r.backendCpuMsPerPull]),
        ) +
        "\n" +
        opts.gapsMs.map((g) => `gap ${g} ms: wall p50 × ${ratio(g, (m) => m.wallMs.p50)}, client CPU × ${ratio(g, (m) => m.clientCpuMsPerPull)}, backend CPU × ${ratio(g, (m) => m.backendCpuMsPerPull)}`).join("\n"),
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, JSON.stringify({ benchmark: "one pull by its form: one round trip vs streamed", options: opts, results, machine: machineInfo(session.loadAtStart, session.git) }, null, 2));
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
