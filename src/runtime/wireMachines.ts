/**
 * Wires the sync and upload machines to the opened replica: provides their actors, logs
 * and republishes what they do, feeds the metrics, answers force-sync requests, wakes the
 * upload machine when the master comes back and warms the vector index after the first
 * copy. Part of the composition (with embeddedMemory.ts and actors.ts); kept apart so the
 * library API stays readable.
 */
import type { EventEmitter } from "node:events";
import { createActor, type Actor, type InspectionEvent } from "xstate";
import type * as Effect from "effect/Effect";
import { scrub, secretsOf, type Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import type { ChangeFeedShape } from "../master/ChangeFeed.ts";
import { provideSyncActors, provideUploadActors } from "./actors.ts";
import type { SyncMachine } from "../machines/syncMachine.ts";
import type { UploadMachine } from "../machines/uploadMachine.ts";
import { forwardEvents, logTransitions } from "./machineEvents.ts";
import { recordPull } from "./instrumentation.ts";
import { warmVectorIndex, type Opened, type Services } from "./openReplica.ts";

/** How a force-sync request ended. */
export type Outcome = { ok: true; applied: number } | { ok: false; error: string };

/** Runs one Effect on the replica's runtime, interrupted when `signal` aborts. */
export type RunOnReplica = (effect: Effect.Effect<unknown, unknown, Services>, signal: AbortSignal) => Promise<unknown>;

/** What the machines need from the composition that owns them. */
export interface MachineHooks {
  readonly config: Config;
  readonly log: Logger;
  /** Told every transition of both machines, every event they receive while anyone listens for "event", and "pulled" after each pull. */
  readonly events: EventEmitter;
  /** Also told every inspection event of both machines. */
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  /** Told how many rows a running first copy has copied so far. */
  readonly onRowsCopied: (rows: number) => void;
  /** Answers one force-sync request. */
  readonly settle: (requestId: string, outcome: Outcome) => void;
  /** True once the composition is stopping. */
  readonly stopping: () => boolean;
}

/**
 * Creates both machines, wired, but does not start them: the caller keeps them first, so
 * that a listener told of the first transition can already read them.
 */
export function wireMachines(o: Opened, feed: ChangeFeedShape, run: RunOnReplica, hooks: MachineHooks): { sync: Actor<SyncMachine>; upload: Actor<UploadMachine> } {
  const { config: c, log, events } = hooks;
  const m = o.metrics;
  // Every error text the machines keep (lastError) is scrubbed of the config's secrets first.
  const secrets = secretsOf(c);
  const clean = (text: string) => scrub(text, secrets);
  let lastProgressLog = Date.now();
  let feedConnects = 0;
  const sync = createActor(
    provideSyncActors({
      replicator: o.replicator,
      feed,
      run: run as never,
      onSnapshotProgress: (p) => {
        hooks.onRowsCopied(p.rowsCopied);
        m.bytesPulled.inc(p.chunkBytes);
        // A long first copy says how far it got, every few seconds.
        if (Date.now() - lastProgressLog >= PROGRESS_LOG_MS) {
          lastProgressLog = Date.now();
          log.info({ module: "sync", rowsCopied: p.rowsCopied }, `copying: ${p.rowsCopied.toLocaleString("en-US")} rows so far`);
        }
      },
      onSnapshotDone: (applied) => (m.rowsApplied.inc(applied), m.pulls.inc({ result: "ok" })),
      onPulled: (r, seconds) => (recordPull(m, r, seconds), events.emit("pulled", { applied: r.applied, seconds })),
      // The first connect is not a reconnect.
      onFeedConnected: () => void (feedConnects++ > 0 && m.feedReconnects.inc()),
      // NOTIFY came back over the pulls' own URL: no transaction pooler between them and the
      // master, so their connections may keep prepared statements (DESIGN: none through poolers).
      ...(!c.listenDatabaseUrl || c.listenDatabaseUrl === c.databaseUrl ? { onFeedHealthy: () => o.master.keepPlans() } : {}),
      scrub: clean,
    }),
    {
      input: {
        syncIntervalMs: c.syncIntervalMs,
        pollIntervalMs: c.pollIntervalMs,
        backoffBaseMs: c.backoffBaseMs,
        backoffMaxMs: c.backoffMaxMs,
        connectTimeoutMs: c.connectTimeoutMs,
        statementTimeoutMs: c.statementTimeoutMs,
        // The machines are pure: the clock and the jitter come from here.
        now: Date.now,
        random: Math.random,
      },
      // The inspector's observer, when there is one; the event stream's attaches itself (forwardEvents).
      ...(hooks.inspect ? { inspect: hooks.inspect } : {}),
    },
  );
  const upload = createActor(provideUploadActors(o.uploader, run as never, (r) => m.uploaded.inc(r.uploaded), clean), {
    input: {
      uploadIntervalMs: c.uploadIntervalMs,
      backoffBaseMs: c.backoffBaseMs,
      backoffMaxMs: c.backoffMaxMs,
      connectTimeoutMs: c.connectTimeoutMs,
      statementTimeoutMs: c.statementTimeoutMs,
      random: Math.random,
    },
    ...(hooks.inspect ? { inspect: hooks.inspect } : {}),
  });
  forwardEvents("sync", sync, events);
  forwardEvents("upload", upload, events);
  logTransitions("sync", sync, log, events);
  logTransitions("upload", upload, log, events);
  sync.on("forceSyncDone", (e) => e.requestIds.forEach((id) => hooks.settle(id, { ok: true, applied: e.applied })));
  sync.on("forceSyncFailed", (e) => e.requestIds.forEach((id) => hooks.settle(id, { ok: false, error: clean(e.error) })));
  // The master coming back (as the sync machine sees it) wakes an upload in backoff.
  let connected = false;
  let warmed = false;
  sync.subscribe((s) => {
    if (s.context.poolConnected && !connected) upload.send({ type: "MASTER_UP" });
    connected = s.context.poolConnected;
    // Build the vector index once the first copy is done (the sync machine is idle).
    if (!warmed && s.value === "idle") {
      warmed = true;
      warmVectorIndex(o.search, log, hooks.stopping);
    }
  });
  return { sync, upload };
}

/** How often a running first copy logs its progress. */
const PROGRESS_LOG_MS = 5_000;
