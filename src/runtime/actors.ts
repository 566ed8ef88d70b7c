/**
 * Provides the machines' named actors from the services: each promise actor runs one
 * Effect with the actor's AbortSignal, so leaving a state — a deadline included — interrupts
 * its work (and a connection checked out with `withClient` is destroyed, not reused).
 */
import { fromCallback, fromPromise } from "xstate";
import type { AnyEventObject } from "xstate";
import type * as Effect from "effect/Effect";
import { syncMachine, type ConnectOutput, type PullInput, type PullOutput, type SnapshotInput } from "../machines/syncMachine.ts";
import type { PullResult, ReplicatorShape, SnapshotProgress } from "../sync/Replicator.ts";
import type { ChangeFeedShape } from "../master/ChangeFeed.ts";
import { uploadMachine, type UploadOutput } from "../machines/uploadMachine.ts";
import type { Uploader } from "../outbox/Uploader.ts";
import { errorMessage } from "../machines/backoff.ts";

export type RunEffect = <A, E>(effect: Effect.Effect<A, E>, signal: AbortSignal) => Promise<A>;

/** Takes the config's secrets out of a text (see scrub in schema/config.ts). */
export type Scrub = (text: string) => string;

/**
 * The error an actor rejects with, rebuilt with its message (and stack) scrubbed: the machines
 * keep its message as `lastError`, which stats, the event stream, the inspector and force-sync
 * answers show, and a master error may echo a connection string. The machines stay pure, so
 * the scrubbing happens here, before the error reaches them. The original (its `cause` may
 * hold the raw text) is not kept; `name`, `_tag` and `code` are.
 */
export function scrubbedError(error: unknown, scrub: Scrub): Error {
  const clean = new Error(scrub(errorMessage(error)));
  if (error instanceof Error) {
    clean.name = error.name;
    if (error.stack) clean.stack = scrub(error.stack);
  }
  for (const field of ["_tag", "code"] as const) {
    const value = (error as Record<string, unknown> | null | undefined)?.[field];
    if (typeof value === "string") Object.assign(clean, { [field]: value });
  }
  return clean;
}

const scrubbedRun =
  (run: RunEffect, scrub: Scrub): RunEffect =>
  (effect, signal) =>
    run(effect, signal).catch((error: unknown) => Promise.reject(scrubbedError(error, scrub)));

const noScrub: Scrub = (text) => text;

export interface SyncActorDeps {
  readonly replicator: ReplicatorShape;
  readonly feed: ChangeFeedShape;
  readonly run: RunEffect;
  readonly onSnapshotProgress?: (p: SnapshotProgress) => void;
  readonly onSnapshotDone?: (applied: number) => void;
  readonly onPulled?: (result: PullResult, seconds: number) => void;
  /** The change feed (re)connected. */
  readonly onFeedConnected?: () => void;
  /** The change feed proved itself (its NOTIFY round trip came back). */
  readonly onFeedHealthy?: () => void;
  /** Applied to every error and reason before the machine sees it (default: none). */
  readonly scrub?: Scrub;
}

export function provideSyncActors(deps: SyncActorDeps) {
  const { replicator, feed } = deps;
  const scrub = deps.scrub ?? noScrub;
  const run = scrubbedRun(deps.run, scrub);
  return syncMachine.provide({
    actors: {
      connect: fromPromise<ConnectOutput>(({ signal }) => run(replicator.connect(), signal)),
      snapshot: fromPromise<number, SnapshotInput>(async ({ input, signal }) => {
        const onProgress = (p: SnapshotProgress) => {
          // Each chunk restarts the copy's deadline; a chunk that lands after the actor was
          // stopped is not the machine's business any more.
          if (!signal.aborted) input.parent.send({ type: "SNAPSHOT_PROGRESS", rowsCopied: p.rowsCopied });
          deps.onSnapshotProgress?.(p);
        };
        const applied = await run(replicator.snapshot({ restart: input.restart, onProgress }), signal);
        deps.onSnapshotDone?.(applied);
        return applied;
      }),
      pull: fromPromise<PullOutput, PullInput>(async ({ input, signal }) => {
        if (input.delayMs > 0) await spread(input.delayMs, signal);
        // Read before the query: every CHANGE counted so far is of a commit its snapshot holds.
        const changesAtQuery = input.changesSeen();
        const started = performance.now();
        const result = await run(replicator.pull(), signal);
        deps.onPulled?.(result, (performance.now() - started) / 1000);
        return { ...result, changesAtQuery };
      }),
      changeFeed: fromCallback<AnyEventObject>(({ sendBack }) => {
        const subscription = feed.subscribe({
          connected: () => (deps.onFeedConnected?.(), sendBack({ type: "FEED_CONNECTED" })),
          disconnected: (error) => sendBack({ type: "FEED_DISCONNECTED", error: error === undefined ? undefined : scrub(error) }),
          change: (table) => sendBack({ type: "CHANGE", table }),
          healthy: () => (deps.onFeedHealthy?.(), sendBack({ type: "FEED_HEALTHY" })),
          unhealthy: (reason) => sendBack({ type: "FEED_UNHEALTHY", reason: scrub(reason) }),
        });
        return () => void subscription.close();
      }),
    },
  });
}

/**
 * The fleet's spread (a few ms, drawn by the machine), cut short by a stopped pull. The global
 * setTimeout, not node:timers/promises: tests drive this with fake timers, which fake only the global.
 */
function spread(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (signal.removeEventListener("abort", abort), resolve()), ms);
    const abort = () => (clearTimeout(timer), reject(signal.reason));
    signal.addEventListener("abort", abort, { once: true });
  });
}

/** Batches one upload run may send before the machine looks around again. */
const BATCHES_PER_RUN = 10;

export function provideUploadActors(uploader: Uploader, rawRun: RunEffect, onUploaded?: (r: UploadOutput) => void, scrub: Scrub = noScrub) {
  const run = scrubbedRun(rawRun, scrub);
  return uploadMachine.provide({
    actors: {
      connect: fromPromise<void>(({ signal }) => run(uploader.connect(), signal)),
      upload: fromPromise<UploadOutput>(async ({ signal }) => {
        const result = await run(uploader.upload(BATCHES_PER_RUN), signal);
        onUploaded?.(result);
        return result;
      }),
    },
  });
}
