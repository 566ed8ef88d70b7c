/**
 * Opens the replica's resources: the Effect layers that own the pg pool, the change feed
 * and the SQLite handle, and the services built on them (search, local writes, uploader,
 * metrics, background embedding). Nothing here touches the machines or connects to the
 * master; the composition (embeddedMemory.ts) wires what this returns into the machines.
 */
import { randomUUID } from "node:crypto";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import * as Context from "effect/Context";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { Master, masterLayer, type MasterShape } from "../master/Master.ts";
import { LocalStore, localStoreLayer, type LocalStoreShape } from "../store/LocalStore.ts";
import { ChangeFeed, changeFeedOnMasterLayer } from "../master/ChangeFeed.ts";
import { ReadSource, readSourceLayer, type ReadSourceShape } from "../master/readPool.ts";
import { Replicator, replicatorLayer, type ReplicatorShape } from "../sync/Replicator.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";
import { embedderFromConfig } from "../search/embedding/Embedder.ts";
import { makeSearch, type SearchService } from "../search/Search.ts";
import { makeLocalWrites, type LocalWrites } from "../outbox/LocalWrites.ts";
import { makeUploader, type Uploader } from "../outbox/Uploader.ts";
import { createMetrics, type Metrics } from "../observability/metrics.ts";
import { BackgroundEmbedding } from "../search/embedding/backgroundEmbedding.ts";
import type { SyncStateName } from "../machines/syncMachine.ts";

export type Services = Master | LocalStore | ChangeFeed | ReadSource | Replicator | Replica;

export interface Opened {
  readonly store: LocalStoreShape;
  readonly replicator: ReplicatorShape;
  readonly search: SearchService;
  readonly writes: LocalWrites;
  readonly uploader: Uploader;
  readonly embedding: BackgroundEmbedding | undefined;
  readonly metrics: Metrics;
  /** Where pulls read (stats' `standby`). */
  readonly reads: ReadSourceShape;
  /** The primary's pool (the machines tell it when its sessions are proven: Master.keepPlans). */
  readonly master: MasterShape;
}

/** What the opened services need from the composition that owns them. */
export interface OpenHooks {
  readonly log: Logger;
  /** The sync machine's state, which search responses report. */
  readonly syncState: () => SyncStateName;
  /** Called after every local write (the composition wakes the upload machine). */
  readonly onWrite: () => void;
}

/** The layers that own resources: the pg pool, the SQLite handle, the change feed, and the replicator on them. */
function resourceLayer(c: Config, log: Logger) {
  const master = masterLayer({ databaseUrl: c.databaseUrl!, connectTimeoutMs: c.connectTimeoutMs, statementTimeoutMs: c.statementTimeoutMs, maxConnections: c.masterPoolMax, logger: log });
  // LISTEN goes to LISTEN_DATABASE_URL when set; the self-test NOTIFY through the pulls' pool.
  const feed = changeFeedOnMasterLayer({
    databaseUrl: c.listenDatabaseUrl ?? c.databaseUrl!,
    connectTimeoutMs: c.connectTimeoutMs,
    statementTimeoutMs: c.statementTimeoutMs,
    heartbeatMs: c.listenHeartbeatMs,
    notifyTimeoutMs: c.notifyTimeoutMs,
    logger: log,
  });
  // Pulls and the first copy read DATABASE_READ_URL's standby when set; the feed tells it which commits to wait for.
  const reads = readSourceLayer({ databaseReadUrl: c.databaseReadUrl, connectTimeoutMs: c.connectTimeoutMs, statementTimeoutMs: c.statementTimeoutMs, maxConnections: c.masterPoolMax, logger: log });
  const base = Layer.mergeAll(Layer.provideMerge(feed, Layer.provideMerge(reads, master)), localStoreLayer(c.localPath));
  const replicator = replicatorLayer({
    descriptor: memoryTableDescriptor(c.memoryTable),
    tenantId: c.tenantId,
    autoMigrate: c.autoMigrate,
    snapshotChunkRows: c.snapshotChunkRows,
    pullBatchRows: c.pullBatchRows,
    changelogRetentionMs: c.changelogRetentionMs,
    logger: log,
    further: c.replicatedTables,
  });
  return Layer.provideMerge(replicator, base);
}

/** The services of one open replica, as one layer: built on the resource layers, released before them. */
export class Replica extends Context.Service<Replica, Opened>()("embedded-memory/Replica") {}

/**
 * Builds the services on the resource layers (this opens the replica file) and starts
 * embedding rows that have no vector. Its finalizer stops the embedding and closes the search
 * index; the runtime then releases the store, the feed and the pool, in reverse order.
 */
function openedLayer(config: Config, hooks: OpenHooks): Layer.Layer<Replica, never, LocalStore | Replicator | Master | ChangeFeed | ReadSource> {
  const { log } = hooks;
  let closed = false;
  return Layer.effect(
    Replica,
    Effect.acquireRelease(
      Effect.gen(function* () {
        const store = yield* LocalStore;
        const replicator = yield* Replicator;
        const master = yield* Master;
        const feed = yield* ChangeFeed;
        const reads = yield* ReadSource;
        const d = replicator.descriptor;
        const embedder = embedderFromConfig(config);
        const replicaId = store.meta.get("replica_id") ?? (store.meta.set("replica_id", randomUUID()), store.meta.get("replica_id")!);
        const opened: Opened = {
          store,
          replicator,
          master,
          search: makeSearch({ store, table: d.localName, embedder, status: () => ({ state: hooks.syncState(), complete: store.syncState(d).snapshotComplete, stale: replicator.stale() }), logger: log, minScore: config.searchMinScore }),
          writes: makeLocalWrites(store, d, { contentIsText: () => store.meta.get("master_content_udt") === "text", onWrite: hooks.onWrite }),
          uploader: makeUploader(master, store, replicator, { replicaId, batchSize: config.uploadBatchSize, deleteMode: config.deleteMode, logger: log, onCommitted: (xid) => reads.noteCommit(xid) }),
          metrics: createMetrics({
            memories: () => store.count(d),
            tables: () => Object.fromEntries([d, ...store.tables()].map((t) => [t.localName, store.count(t)])),
            outbox: () => opened.uploader.counts(), notifyHealthy: () => feed.status().state === "listening", ...(reads.status() ? { standbyLagMs: () => reads.status()?.replay_lag_ms ?? null } : {}) }),
          reads,
          embedding: embedder ? new BackgroundEmbedding((n, signal) => opened.search.vectors.embedMissing(n, signal), embedder.model, log.child({ module: "embedder" })) : undefined,
        };
        if (opened.embedding) {
          store.onChange(() => opened.embedding!.trigger());
          opened.embedding.trigger();
        }
        // A re-copy swapped in: its vector index is built on a later turn, and rows it holds
        // without a vector are embedded.
        store.onReplaced(() => {
          opened.embedding?.trigger();
          warmVectorIndex(opened.search, log, () => closed);
        });
        return opened;
      }),
      (opened) =>
        Effect.promise(async () => {
          closed = true;
          await opened.embedding?.stop();
          opened.search.close();
        }),
    ),
  );
}

/** Every layer of one replica; building them opens nothing until a runtime uses them. */
export function replicaLayer(config: Config, hooks: OpenHooks) {
  return Layer.provideMerge(openedLayer(config, hooks), resourceLayer(config, hooks.log));
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
