/**
 * Commit → visible latency: a running replica (timer out of play), single-row INSERT
 * commits on the master from a separate client, one at a time; for each, the time from the
 * commit returning to the row being readable in the replica's SQLite file through a
 * separate read-only connection polled on every event-loop turn.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory, type TransitionEvent } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { TestPostgres } from "../test/support/postgres.ts";
import type { ReplicatedTableConfig } from "../src/schema/replicatedTables.ts";
import { distribution, immediate, round, waitFor, type Distribution } from "./util.ts";

export interface LatencyOptions {
  readonly commits: number;
  readonly warmup: number;
  readonly timeoutMs: number;
  readonly embeddingDim: number;
  /** Further tables the replica also replicates (bench/tables.ts: what each costs a pull). */
  readonly replicatedTables?: readonly ReplicatedTableConfig[];
  /** The replica file's name in `dir` (default latency-replica.db). */
  readonly fileName?: string;
  /**
   * Lone commits: the next commit waits until the machine is idle again, not only until the row
   * is visible. A pull with further tables makes a memory row visible before it ends, so a
   * writer that commits on visibility lands mid-pull every time and is paced as a burst.
   */
  readonly idleBetween?: boolean;
}

export interface LatencyResult {
  readonly commits: number;
  readonly warmupCommits: number;
  readonly timeouts: number;
  /** Commit returned → row readable in the replica file (ms). */
  readonly visibleMs: Distribution;
  /** Commit returned → the sync machine entered `syncing` (NOTIFY received); negative = before the commit returned. */
  readonly pullStartMs: Distribution;
  /** Round trip of the INSERT itself on the writer connection (ms). */
  readonly insertMs: Distribution;
  /** Pulls the replica ran during the measured commits (1 per commit is ideal). */
  readonly pulls: number;
  readonly pollsPerCommit: number;
  readonly wallMs: number;
}

const INSERT_SQL = `INSERT INTO unified_ai_memory (id, memory_type, content, source_system, source_agent, importance_score, tags, embedding, search_text)
  VALUES ($1, 'episodic', $2, 'bench', 'bench-agent', 0.5, ARRAY['bench'], $3::real[], $4)`;

export async function measureCommitLatency(pg: TestPostgres, dir: string, o: LatencyOptions, say: (s: string) => void): Promise<LatencyResult> {
  const localPath = path.join(dir, o.fileName ?? "latency-replica.db");
  const config = makeConfig({ databaseUrl: pg.url, localPath, syncIntervalMs: 3_600_000, logLevel: "silent", replicatedTables: o.replicatedTables ?? [] });
  const m = new EmbeddedMemory(config, { logger: createLogger({ level: "silent" }) });
  let reader: Database.Database | undefined;
  let writer: Awaited<ReturnType<TestPostgres["client"]>> | undefined;
  try {
    await m.start();
    await waitFor("the replica to be idle with its change feed up", () => m.state() === "idle" && m.stats().feed_connected, 30_000);

    reader = new Database(localPath, { readonly: true, fileMustExist: true });
    const visible = reader.prepare("SELECT 1 FROM unified_ai_memory WHERE id = ?").pluck();
    writer = await pg.client();

    // Every `idle → syncing` transition: a NOTIFY (or the feed connecting) woke the machine.
    const syncStarts: number[] = [];
    const onTransition = (e: TransitionEvent) => {
      if (e.to === "syncing") syncStarts.push(performance.now());
    };
    m.events.on("transition", onTransition);

    const visibleMs: number[] = [];
    const pullStartMs: number[] = [];
    const insertMs: number[] = [];
    let timeouts = 0;
    let polls = 0;
    let pullsBefore = 0;
    const embedding = Array.from({ length: o.embeddingDim }, () => Math.fround(Math.random() * 2 - 1));
    const started = performance.now();
    for (let i = 0; i < o.warmup + o.commits; i++) {
      const measured = i >= o.warmup;
      if (i === o.warmup) pullsBefore = m.stats().sync_metadata.total_pulls;
      const id = randomUUID();
      const firstSync = syncStarts.length;
      const tSend = performance.now();
      await writer.query(INSERT_SQL, [id, JSON.stringify({ text: `bench commit ${i}` }), embedding, `bench commit ${i}`]);
      const t0 = performance.now();
      let seen = false;
      for (;;) {
        polls += measured ? 1 : 0;
        if (visible.get(id) !== undefined) {
          seen = true;
          break;
        }
        if (performance.now() - t0 > o.timeoutMs) break;
        await immediate();
      }
      const t1 = performance.now();
      if (o.idleBetween) await waitFor("the replica to be idle again", () => m.state() === "idle", o.timeoutMs, 1);
      if (!measured) continue;
      insertMs.push(t0 - tSend);
      if (!seen) {
        timeouts++;
        continue;
      }
      visibleMs.push(t1 - t0);
      const s = syncStarts.slice(firstSync).find((t) => t >= tSend);
      if (s !== undefined) pullStartMs.push(s - t0);
    }
    const wallMs = performance.now() - started;
    m.events.off("transition", onTransition);
    const pulls = m.stats().sync_metadata.total_pulls - pullsBefore;
    say(`  latency: ${o.commits} commits in ${round(wallMs / 1000, 1)} s, ${timeouts} timeouts, ${pulls} pulls`);
    return {
      commits: o.commits,
      warmupCommits: o.warmup,
      timeouts,
      visibleMs: distribution(visibleMs),
      pullStartMs: distribution(pullStartMs),
      insertMs: distribution(insertMs),
      pulls,
      pollsPerCommit: round(polls / Math.max(1, o.commits), 1),
      wallMs: round(wallMs, 1),
    };
  } finally {
    await writer?.end().catch(() => undefined);
    reader?.close();
    await m.stop();
  }
}
