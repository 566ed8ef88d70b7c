/**
 * The stats of an opened replica (CONTRACT: /memory/stats): its services' figures and its
 * machines' contexts, gathered for buildStats (stats.ts), which shapes and scrubs them.
 */
import type { Config } from "../schema/config.ts";
import type { ChangeFeedShape } from "../master/ChangeFeed.ts";
import type { SyncStateName } from "../machines/syncMachine.ts";
import type { UploadStateName } from "../machines/uploadMachine.ts";
import type { Opened } from "./openReplica.ts";
import { buildStats, type MemoryStats } from "./stats.ts";

/** What the composition knows beside the services: the machines' states and contexts, the feed. */
export interface ReplicaView {
  readonly config: Config;
  readonly state: SyncStateName;
  readonly uploadState: UploadStateName;
  readonly sync?: { readonly poolConnected: boolean; readonly feedConnected: boolean; readonly attempt: number; readonly lastError: string | null };
  readonly upload?: { readonly lastError: string | null; readonly uploaded: number };
  readonly feed?: ChangeFeedShape;
  readonly snapshotRowsCopied: number;
  readonly secrets: readonly string[];
}

/** `stale`: the replica was away past the changelog retention and answers from its older copy while a new one is made. */
export function replicaStats(o: Opened, v: ReplicaView): MemoryStats & { readonly stale: boolean } {
  const outbox = o.uploader.counts();
  const stats = buildStats({
    changeFeed: v.feed?.status(),
    standby: o.reads.status(),
    further: o.store.tables(),
    store: o.store,
    descriptor: o.replicator.descriptor,
    state: v.state,
    poolConnected: v.sync?.poolConnected ?? false,
    feedConnected: v.sync?.feedConnected ?? false,
    attempt: v.sync?.attempt ?? 0,
    lastError: v.sync?.lastError ?? null,
    tenantId: v.config.tenantId,
    snapshotRowsCopied: v.snapshotRowsCopied,
    vectors: o.search.vectorInfo(),
    embeddingProvider: v.config.embeddingProvider,
    outbox: { ...outbox, last_error: v.upload?.lastError ?? outbox.last_error, state: v.uploadState, uploaded: v.upload?.uploaded ?? 0 },
    secrets: v.secrets,
  });
  return { ...stats, stale: o.replicator.stale() };
}
