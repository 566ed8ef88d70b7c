/**
 * A silent master (test/support/silentProxy.ts: every socket kept open, nothing forwarded):
 * how long until the replica's stats say so (state `backoff`, `pool_connected: false`), and
 * how long `forceSync()` takes to answer — asked right after the silence began (it waits for
 * a pull into the silence) and once the silence was noticed (a connect into it). Each run
 * goes silent as soon as the replica is idle, so "noticed" includes the wait for the next
 * pull (the idle timer: syncIntervalMs, or pollIntervalMs while the feed is not verified) or
 * the listener's heartbeat, whichever comes first, plus the step's deadline.
 *
 * Profiles: `default` (the shipped timeouts: connect 10 s, statement 30 s, heartbeat 30 s,
 * sync interval 30 s) and `short` (connect 500 ms, statement 1 s, heartbeat 500 ms, sync
 * interval 1 s).
 *
 *   BENCH_SILENT_RUNS=3          runs per profile and measure (median reported)
 *   BENCH_SILENT_PROFILES=short,default
 *   BENCH_OUT=path               default bench/results/silentMaster.json
 *
 * Run: node bin/run-ts.js bench/silentMaster.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { makeConfig, type Config } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { connectDeadlineMs, ioDeadlineMs } from "../src/machines/deadlines.ts";
import { createTestPostgres, type TestPostgres } from "../test/support/postgres.ts";
import { installMaster, seedMemories } from "../test/support/seed.ts";
import { startSilentProxy } from "../test/support/silentProxy.ts";
import { benchSession, envInt, machineInfo, median, round, table, waitFor } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const PROFILES: Record<string, Partial<Config>> = {
  short: { connectTimeoutMs: 500, statementTimeoutMs: 1_000, listenHeartbeatMs: 500, notifyTimeoutMs: 300, pollIntervalMs: 200, syncIntervalMs: 1_000, backoffBaseMs: 100, backoffMaxMs: 1_000 },
  default: {},
};
const opts = {
  runs: envInt("BENCH_SILENT_RUNS", 3),
  profiles: (process.env.BENCH_SILENT_PROFILES?.trim() || "short,default").split(",").map((p) => p.trim()),
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "silentMaster.json"),
};

type Measure = "notice" | "forceIntoSilence";
interface Run {
  readonly profile: string;
  readonly measure: Measure;
  /** Silence → stats show backoff with pool_connected false (notice runs). */
  readonly noticedMs: number | null;
  /** forceSync() issued → answered (after the notice, or right at the silence). */
  readonly forceMs: number;
  readonly forceOk: boolean;
  readonly lastError: string | null;
}

const silentLog = createLogger({ level: "silent" });

async function oneRun(pg: TestPostgres, dir: string, profile: string, measure: Measure, n: number): Promise<Run> {
  const proxy = await startSilentProxy(pg.port);
  const config = makeConfig({ ...PROFILES[profile], databaseUrl: proxy.urlFor(pg.url), localPath: path.join(dir, `${profile}-${measure}-${n}.db`), logLevel: "silent" });
  const m = new EmbeddedMemory(config, { logger: silentLog });
  try {
    await m.start();
    await waitFor("the replica to be ready", () => m.ready() && m.state() === "idle", 60_000);
    const started = performance.now();
    proxy.goSilent();
    let noticedMs: number | null = null;
    let forceStarted = started;
    if (measure === "notice") {
      await waitFor("stats to show the silence", () => {
        const s = m.stats();
        return s.state === "backoff" && !s.pool_connected;
      }, 300_000, 5);
      noticedMs = performance.now() - started;
      forceStarted = performance.now();
    }
    const forced = await m.forceSync();
    const forceMs = performance.now() - forceStarted;
    if (proxy.stats().forwarded.toMaster === 0) throw new Error("nothing was ever forwarded: the run measured nothing");
    const run: Run = { profile, measure, noticedMs: noticedMs === null ? null : round(noticedMs, 0), forceMs: round(forceMs, 0), forceOk: forced.success, lastError: forced.error ?? m.stats().last_error };
    proxy.heal();
    await waitFor("the replica to recover after the heal", () => m.ready() && m.state() === "idle", 120_000);
    return run;
  } finally {
    await m.stop();
    await proxy.close();
  }
}

async function main(): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let pg: TestPostgres | undefined;
  const session = benchSession("em-bench-silent-", say, async () => void (await pg?.destroy()));
  try {
    pg = await createTestPostgres();
    await installMaster(pg);
    await seedMemories(pg, 1_000);
    const runs: Run[] = [];
    for (const profile of opts.profiles) {
      if (!PROFILES[profile]) throw new Error(`unknown profile ${profile} (known: ${Object.keys(PROFILES).join(", ")})`);
      for (let i = 1; i <= opts.runs; i++) {
        for (const measure of ["notice", "forceIntoSilence"] as Measure[]) {
          const r = await oneRun(pg, session.dir, profile, measure, i);
          runs.push(r);
          say(`  ${profile} #${i} ${measure.padEnd(16)} noticed ${r.noticedMs ?? "-"} ms, force-sync ${r.forceOk ? "ok" : "failed"} in ${r.forceMs} ms (${r.lastError})`);
        }
      }
    }
    const summary = opts.profiles.map((profile) => {
      const c = makeConfig(PROFILES[profile]);
      const of = (measure: Measure) => runs.filter((r) => r.profile === profile && r.measure === measure);
      return {
        profile,
        timeouts: { connectTimeoutMs: c.connectTimeoutMs, statementTimeoutMs: c.statementTimeoutMs, listenHeartbeatMs: c.listenHeartbeatMs, syncIntervalMs: c.syncIntervalMs, pollIntervalMs: c.pollIntervalMs },
        deadlines: { connectMs: connectDeadlineMs(c), ioMs: ioDeadlineMs(c) },
        noticedMs: median(of("notice").map((r) => r.noticedMs!)),
        forceAfterNoticeMs: median(of("notice").map((r) => r.forceMs)),
        forceIntoSilenceMs: median(of("forceIntoSilence").map((r) => r.forceMs)),
        forceAlways503: runs.filter((r) => r.profile === profile).every((r) => !r.forceOk),
      };
    });
    process.stdout.write(
      `\nsilent master, median of ${opts.runs} runs each\n` +
        table(
          ["profile", "deadlines connect/io ms", "silence → stats ms", "force-sync after notice ms", "force-sync into silence ms", "all 503"],
          summary.map((s) => [s.profile, `${s.deadlines.connectMs}/${s.deadlines.ioMs}`, s.noticedMs, s.forceAfterNoticeMs, s.forceIntoSilenceMs, s.forceAlways503 ? "yes" : "NO"]),
        ) +
        "\n",
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify({ machine: machineInfo(session.loadAtStart, session.git), options: opts, summary, runs }, null, 2)}\n`);
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

await main();
