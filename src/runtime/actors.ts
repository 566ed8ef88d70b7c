/**
 * Provides the machines' named actors from the services: each promise actor runs one
 * Effect with the actor's AbortSignal, so leaving a state — a deadline included — interrupts
 * its work (and a connection checked out with `withClient` is destroyed, not reused).
 */
import { fromCallback, fromPromise } from "xstate";
import type { AnyEventObject } from "xstate";
import type * as Effect from "effect/Effect";
import { syncMachine, type ConnectOutput, type PullOutput, type SnapshotInput } from "../machines/syncMachine.ts";
import type { PullResult, ReplicatorShape, SnapshotProgress } from "../sync/Replicator.ts";
import type { ChangeFeedShape } from "../master/ChangeFeed.ts";
import { uploadMachine, type UploadOutput } from "../machines/uploadMachine.ts";
import type { Uploader } from "../outbox/Uploader.ts";

export type RunEffect = <A, E>(effect: Effect.Effect<A, E>, signal: AbortSignal) => Promise<A>;

export interface SyncActorDeps {
  readonly replicator: ReplicatorShape;
  readonly feed: ChangeFeedShape;
  readonly run: RunEffect;
  readonly onSnapshotProgress?: (p: SnapshotProgress) => void;
  readonly onSnapshotDone?: (applied: number) => void;
  readonly onPulled?: (result: PullResult, seconds: number) => void;
}

export function provideSyncActors(deps: SyncActorDeps) {
  const { replicator, feed, run } = deps;
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
      pull: fromPromise<PullOutput>(async ({ signal }) => {
        const started = performance.now();
        const result = await run(replicator.pull(), signal);
        deps.onPulled?.(result, (performance.now() - started) / 1000);
        return result;
      }),
      changeFeed: fromCallback<AnyEventObject>(({ sendBack }) => {
        const subscription = feed.subscribe({
          connected: () => sendBack({ type: "FEED_CONNECTED" }),
          disconnected: (error) => sendBack({ type: "FEED_DISCONNECTED", error }),
          change: (table) => sendBack({ type: "CHANGE", table }),
          healthy: () => sendBack({ type: "FEED_HEALTHY" }),
          unhealthy: (reason) => sendBack({ type: "FEED_UNHEALTHY", reason }),
        });
        return () => void subscription.close();
      }),
    },
  });
}

/** Batches one upload run may send before the machine looks around again. */
const BATCHES_PER_RUN = 10;

export function provideUploadActors(uploader: Uploader, run: RunEffect, onUploaded?: (r: UploadOutput) => void) {
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
