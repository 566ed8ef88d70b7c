/**
 * What holding one lone commit costs a replica process in CPU (issue 13), against the floor in
 * the same run: the library's replica (EmbeddedMemory) and the bare floor (bench/floorReplica.ts:
 * LISTEN, one query, one SQLite transaction), each on its own database of one embedded Postgres,
 * each beside a writer in this process. Per lone commit: the writer commits one row, and the
 * commit counts as held when the replica has it (ours: the sync machine back in idle; the floor:
 * its pull done); process.cpuUsage() around each (the writer's own share is in both). Each gap is
 * the time the process sleeps before the next commit: 20 ms as lone commits find a replica (its
 * code runs cold), 0 back to back (hot). Rounds alternate ours and the floor, so the machine's
 * noise falls on both; the table gives medians over rounds and the ratio ours / floor. The fleet
 * benchmark's 20-replica target needs this near the floor: 20 processes share the cores.
 *
 *   BENCH_PULLCPU_COMMITS=150   measured lone commits per round, replica and gap (after 20 warm-up)
 *   BENCH_PULLCPU_ROUNDS=3      rounds
 *   BENCH_PULLCPU_GAPS=20,0     ms asleep before each commit
 *   BENCH_OUT=path              default bench/results/pullCpu.json
 * Run: BENCH_ONLY=pullcpu npm run bench
 */
import { randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { createTestDatabase, createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { startFloorReplica, type FloorReplica } from "./floorReplica.ts";
import { benchSession, envInt, loadavg, machineInfo, round, table } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s: string) => process.stderr.write(`${s}\n`);
const opts = {
  commits: envInt("BENCH_PULLCPU_COMMITS", 150),
  warmup: 20,
  rounds: envInt("BENCH_PULLCPU_ROUNDS", 3),
  gapsMs: (process.env.BENCH_PULLCPU_GAPS?.trim() || "20,0").split(",").map((g) => Number(g)),
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "pullCpu.json"),
};
if (opts.gapsMs.some((g) => !Number.isInteger(g) || g < 0)) throw new Error(`BENCH_PULLCPU_GAPS must be whole numbers of ms ≥ 0, got ${process.env.BENCH_PULLCPU_GAPS}`);
const KINDS = ["ours", "floor"] as const;
type Kind = (typeof KINDS)[number];

const INSERT = "INSERT INTO unified_ai_memory (id, memory_type, content, source_system, importance_score, search_text) VALUES ($1, 'episodic', $2, 'bench', 0.5, 'pull cpu')";

interface Subject {
  readonly writer: pg.Client;
  /** Resolves once the replica holds `id`. */
  readonly held: (id: string) => Promise<void>;
  readonly stop: () => Promise<void>;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function ours(db: TestPostgres, dir: string): Promise<Subject> {
  const m = new EmbeddedMemory(makeConfig({ databaseUrl: db.url, localPath: path.join(dir, "ours.db"), syncIntervalMs: 3_600_000, logLevel: "silent" }), { logger: createLogger({ level: "silent" }) });
  await m.start();
  await m.waitForFirstSync();
  for (let i = 0; i < 500 && !(m.state() === "idle" && m.stats().change_feed.state === "listening"); i++) await new Promise((r) => setTimeout(r, 10));
  const writer = await db.client();
  // Looked up as the floor looks up its own rows (fleetReplica.ts does the same).
  const reader = new Database(path.join(dir, "ours.db"), { readonly: true, fileMustExist: true });
  const one = reader.prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").pluck();
  const held = (id: string) =>
    new Promise<void>((resolve) => {
      const f = (e: { machine: string; to: string }) => {
        if (e.machine !== "sync" || e.to !== "idle" || one.get(id) === undefined) return;
        m.events.off("transition", f);
        resolve();
      };
      m.events.on("transition", f);
    });
  return { writer, held, stop: async () => (reader.close(), await writer.end(), await m.stop()) };
}

async function floor(db: TestPostgres, dir: string): Promise<Subject> {
  let waiting: { id: string; resolve: () => void } | undefined;
  const replica: FloorReplica = await startFloorReplica({
    databaseUrl: db.url,
    localPath: path.join(dir, "floor.db"),
    onPulled: () => {
      if (waiting && replica.hasRow(waiting.id)) (waiting.resolve(), (waiting = undefined));
    },
    onError: (e) => say(`  floor: ${e.message}`),
  });
  const writer = await db.client();
  const held = (id: string) => new Promise<void>((resolve) => void (waiting = { id, resolve }));
  return { writer, held, stop: async () => (await writer.end(), await replica.stop()) };
}

/** How long a replica may take to hold one lone commit before the run fails (it takes milliseconds). */
const HOLD_TIMEOUT_MS = 30_000;

/** `p`, or a failure naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** CPU ms per lone commit over `n` commits after `warmup`. */
async function run(s: Subject, gapMs: number, n: number, warmup: number): Promise<number> {
  let cpu = 0;
  for (let i = 0; i < warmup + n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const id = randomUUID();
    const held = s.held(id);
    const c0 = process.cpuUsage();
    await s.writer.query(INSERT, [id, JSON.stringify({ text: `lone commit ${i}` })]);
    await within(held, HOLD_TIMEOUT_MS, `lone commit ${i} held by the replica`);
    const c = process.cpuUsage(c0);
    if (i >= warmup) cpu += (c.user + c.system) / 1000;
  }
  return cpu / n;
}

async function main(): Promise<void> {
  let pgServer: TestPostgres | undefined;
  const subjects: Subject[] = [];
  const session = benchSession("em-pullcpu-", say, async () => {
    for (const s of subjects) await s.stop().catch(() => undefined);
    await pgServer?.destroy();
  });
  try {
    pgServer = await createTestPostgres();
    const dbs = await Promise.all(KINDS.map(() => createTestDatabase(pgServer!)));
    for (const db of dbs) (await installMaster(db), await seedMemories(db, 1_000, { embeddingDim: 384 }));
    const byKind = { ours: await ours(dbs[0]!, session.dir), floor: await floor(dbs[1]!, session.dir) } satisfies Record<Kind, Subject>;
    subjects.push(byKind.ours, byKind.floor);
    say(`pull CPU: ${opts.rounds} rounds × ${opts.commits} lone commits per replica and gap (gaps ${opts.gapsMs.join(", ")} ms); load ${loadavg().join(" ")}`);
    const samples = new Map<string, number[]>();
    for (let r = 0; r < opts.rounds; r++) {
      for (const gap of opts.gapsMs) {
        for (const kind of r % 2 === 0 ? KINDS : [...KINDS].reverse()) {
          const ms = await run(byKind[kind], gap, opts.commits, opts.warmup);
          samples.set(`${kind} ${gap}`, [...(samples.get(`${kind} ${gap}`) ?? []), ms]);
        }
      }
      say(`  round ${r + 1}: ${[...samples].map(([k, v]) => `${k} ms ${round(v[v.length - 1]!, 2)}`).join(", ")}`);
    }
    const results = opts.gapsMs.map((gapMs) => {
      const o = median(samples.get(`ours ${gapMs}`)!);
      const f = median(samples.get(`floor ${gapMs}`)!);
      return { gapMs, oursCpuMsPerCommit: round(o, 3), floorCpuMsPerCommit: round(f, 3), ratio: round(o / f, 2), rounds: { ours: samples.get(`ours ${gapMs}`)!.map((x) => round(x, 3)), floor: samples.get(`floor ${gapMs}`)!.map((x) => round(x, 3)) } };
    });
    console.log(
      `\nCPU per lone commit in one process (writer + replica), ours vs the floor, medians over ${opts.rounds} rounds\n` +
        table(
          ["gap ms", "ours ms", "floor ms", "ours / floor"],
          results.map((r) => [r.gapMs, r.oursCpuMsPerCommit, r.floorCpuMsPerCommit, r.ratio]),
        ),
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify({ benchmark: "CPU per lone commit, the library's replica vs the bare floor, in-process", options: opts, results, machine: machineInfo(session.loadAtStart, session.git) }, null, 2)}\n`);
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
