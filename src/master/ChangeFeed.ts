/**
 * The change feed: LISTEN on a dedicated connection (pg-listen), turned into events for the
 * sync machine — connected, disconnected, change, and healthy/unhealthy. A notification is
 * only a wake-up; the pull reads the data. Notifications sent while disconnected are lost,
 * which is why every (re)connect is reported: the machine pulls on each one.
 *
 * Split by concern: the contract (feedTypes.ts), the LISTEN connection with its self-test,
 * heartbeat and reconnects (feedListener.ts), the NOTIFY round trip and socket handling
 * (feedProbe.ts), the health the outside sees (feedHealth.ts). This module is the service and
 * its layers, and re-exports what callers import from here.
 */
import * as Context from "effect/Context";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import { Master } from "./Master.ts";
import { makeChangeFeed } from "./feedListener.ts";
import type { ChangeFeedOptions, ChangeFeedShape } from "./feedTypes.ts";
import { ReadSource } from "./readPool.ts";

export type { ChangeFeedStatus } from "./feedHealth.ts";
export type { ChangeFeedOptions, ChangeFeedShape, FeedHandlers, FeedSubscription } from "./feedTypes.ts";
export { FEED_RETRY_MS, makeChangeFeed, parseChangePayload } from "./feedListener.ts";

export class ChangeFeed extends Context.Service<ChangeFeed, ChangeFeedShape>()("embedded-memory/ChangeFeed") {}

/** The feed as a layer whose self-test NOTIFYs go through the Master pool (no extra connection). */
export function changeFeedOnMasterLayer(o: Omit<ChangeFeedOptions, "sendNotify">): Layer.Layer<ChangeFeed, never, Master> {
  return Layer.effect(
    ChangeFeed,
    Effect.gen(function* () {
      const master = yield* Master;
      const reads = yield* Effect.serviceOption(ReadSource);
      const onCommit = reads._tag === "Some" ? reads.value.noteCommit : undefined;
      const sendNotify = (channel: string, payload: string) => Effect.runPromise(Effect.asVoid(master.query("SELECT pg_notify($1, $2)", [channel, payload])));
      return yield* Effect.acquireRelease(
        Effect.sync(() => makeChangeFeed({ ...o, sendNotify, ...(onCommit ? { onCommit } : {}) })),
        (feed) => Effect.promise(() => feed.closeAll()),
      );
    }),
  );
}

/** The feed as a layer; any subscription still open is closed by the layer's finalizer. */
export function changeFeedLayer(o: ChangeFeedOptions): Layer.Layer<ChangeFeed> {
  return Layer.effect(
    ChangeFeed,
    Effect.acquireRelease(
      Effect.sync(() => makeChangeFeed(o)),
      (feed) => Effect.promise(() => feed.closeAll()),
    ),
  );
}
