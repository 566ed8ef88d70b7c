/**
 * Opens the replica's resources: the Effect layers that own the pg pool, the change feed
 * and the SQLite handle, and the services built on them (search, local writes, uploader,
 * metrics, background embedding). Nothing here touches the machines or connects to the
 * master; the composition (embeddedMemory.ts) wires what this returns into the machines.
 */
import { randomUUID } from "node:crypto";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import type * as ManagedRuntime from "effect/ManagedRuntime";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { Master, masterLayer } from "../master/Master.ts";
import { LocalStore, localStoreLayer, type LocalStoreShape } from "../store/LocalStore.ts";
import { ChangeFeed, changeFeedLayer } from "../master/ChangeFeed.ts";
import { Replicator, replicatorLayer, type ReplicatorShape } from "../sync/Replicator.ts";
import { memoryTableDescriptor } from "../store/tableDescriptor.ts";
import { embedderFromConfig } from "../search/embedding/Embedder.ts";
import { makeSearch, type SearchService } from "../search/Search.ts";
import { makeLocalWrites, type LocalWrites } from "../outbox/LocalWrites.ts";
import { makeUploader, type Uploader } from "../outbox/Uploader.ts";
import { createMetrics, type Metrics } from "../observability/metrics.ts";
import { BackgroundEmbedding } from "../search/embedding/backgroundEmbedding.ts";
import type { SyncStateName } from "../machines/syncMachine.ts";

export type Services = Master | LocalStore | ChangeFeed | Replicator;

export interface Opened {
  readonly store: LocalStoreShape;
  readonly replicator: ReplicatorShape;
  readonly search: SearchService;
  readonly writes: LocalWrites;
  readonly uploader: Uploader;
  readonly embedding: BackgroundEmbedding | undefined;
  readonly metrics: Metrics;
}

/** What the opened services need from the composition that owns them. */
export interface OpenHooks {
  readonly log: Logger;
  /** The sync machine's state, which search responses report. */
  readonly syncState: () => SyncStateName;
  /** Called after every local write (the composition wakes the upload machine). */
  readonly onWrite: () => void;
}

/** The layers of one replica; building them opens nothing until a runtime uses them. */
export function replicaLayer(c: Config, log: Logger) {
  const base = Layer.mergeAll(
    masterLayer({ databaseUrl: c.databaseUrl!, connectTimeoutMs: c.connectTimeoutMs, logger: log }),
    localStoreLayer(c.localPath),
    changeFeedLayer({ databaseUrl: c.databaseUrl!, connectTimeoutMs: c.connectTimeoutMs, logger: log }),
  );
  const replicator = replicatorLayer({
    descriptor: memoryTableDescriptor(c.memoryTable),
    tenantId: c.tenantId,
    autoMigrate: c.autoMigrate,
    snapshotChunkRows: c.snapshotChunkRows,
    pullBatchRows: c.pullBatchRows,
    changelogRetentionMs: c.changelogRetentionMs,
    logger: log,
  });
  return Layer.provideMerge(replicator, base);
}

/**
 * Builds the services on the runtime's layers (this opens the replica file) and starts
 * embedding rows that have no vector. The caller creates the runtime, so it can dispose of
 * it even when opening fails.
 */
export async function openReplica(runtime: ManagedRuntime.ManagedRuntime<Services, unknown>, config: Config, hooks: OpenHooks): Promise<Opened> {
  const { log } = hooks;
  const { store, replicator, master } = await runtime.runPromise(Effect.all({ store: LocalStore, replicator: Replicator, master: Master }));
  const d = replicator.descriptor;
  const embedder = embedderFromConfig(config);
  const replicaId = store.meta.get("replica_id") ?? (store.meta.set("replica_id", randomUUID()), store.meta.get("replica_id")!);
  const opened: Opened = {
    store,
    replicator,
    search: makeSearch({ store, table: d.localName, embedder, status: () => ({ state: hooks.syncState(), complete: store.syncState(d).snapshotComplete }), logger: log }),
    writes: makeLocalWrites(store, d, { contentIsText: () => store.meta.get("master_content_udt") === "text", onWrite: hooks.onWrite }),
    uploader: makeUploader(master, store, replicator, { replicaId, batchSize: config.uploadBatchSize, deleteMode: config.deleteMode, logger: log }),
    metrics: createMetrics({ memories: () => store.count(d), outbox: () => opened.uploader.counts() }),
    embedding: embedder ? new BackgroundEmbedding((n, signal) => opened.search.vectors.embedMissing(n, signal), embedder.model, log.child({ module: "embedder" })) : undefined,
  };
  if (opened.embedding) {
    store.onChange(() => opened.embedding!.trigger());
    opened.embedding.trigger();
  }
  return opened;
}

/**
 * Builds the vector index on a later turn, rather than inside the first vector search
 * (≈1 s at 100k rows, which would stall that request and others). A failure only logs,
 * since the first vector search builds it again.
 */
export function warmVectorIndex(search: SearchService, log: Logger, stopped: () => boolean): void {
  setImmediate(() => {
    if (stopped()) return;
    try {
      search.vectors.index();
    } catch (err) {
      log.warn({ err }, "building the vector index failed; the first vector search will try again");
    }
  });
}
