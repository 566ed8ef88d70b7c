/**
 * The `/memory/stats` object (CONTRACT.md). Field names are kept from the earlier system so
 * its dashboards keep working; newer fields are only added.
 */
import type { LocalStoreShape } from "../store/LocalStore.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import type { SyncStateName } from "../machines/syncMachine.ts";
import type { VectorInfo } from "../search/vectors/vectorStore.ts";
import { outboxTable, type OutboxCounts } from "../outbox/outboxTable.ts";
import type { ChangeFeedStatus } from "../master/ChangeFeed.ts";
import type { StandbyStatus } from "../master/readPool.ts";
import { scrub } from "../schema/config.ts";

/** Before the machines run there is no subscription: the feed is not (yet) connecting. */
const FEED_NOT_STARTED: ChangeFeedStatus = { state: "connecting", reason: "change feed not started", verified_at: null, checked_at: null };

export interface MemoryStats {
  readonly enabled: boolean;
  readonly state: SyncStateName;
  readonly pool_connected: boolean;
  readonly feed_connected: boolean;
  /** Whether LISTEN is proven by a NOTIFY round trip (`unavailable`: pulls poll every POLL_INTERVAL_MS). */
  readonly change_feed: ChangeFeedStatus;
  readonly local_db_path: string;
  readonly total_memories: number;
  readonly last_sync: string | null;
  readonly sync_metadata: { last_sync_time: string | null; last_sync_count: number; total_records: number; total_pulls: number; total_applied: number };
  readonly cursor: { snapshot: string | null; epoch: string | null };
  readonly snapshot: { complete: boolean; rows_copied: number };
  readonly outbox: { pending: number; parked: number; last_error: string | null; state: string; uploaded: number };
  /** The vectors search uses: their dimension, model, and how many are indexed. */
  readonly embeddings: { provider: string; dim: number | null; model: string | null; indexed: number; other_dimension: number };
  readonly table: string;
  readonly tenant_id: string | null;
  readonly attempt: number;
  readonly last_error: string | null;
  /** Only with DATABASE_READ_URL: where pulls read, the standby's replay lag, and why a read went to the primary. */
  readonly standby?: StandbyStatus;
  /** Every replicated table, the memory table first (its row is the fields above, again). */
  readonly tables: Readonly<Record<string, TableStats>>;
  /** Where the file's WAL checkpoints run (store/checkpointer.ts): `failed` means in commits again, as SQLite does by default. */
  readonly wal_checkpoints: { worker: "not started" | "running" | "failed"; checkpoints: number; last_ms: number | null; error: string | null };
}

/** One replicated table in `/memory/stats` (CONTRACT.md). */
export interface TableStats {
  /** The master table it copies. */
  readonly master_table: string;
  readonly rows: number;
  readonly last_sync: string | null;
  /** The master snapshot of its last pull. */
  readonly cursor: string | null;
  /** Its row filter (REPLICATE_TABLES); null: every row. */
  readonly filter: string | null;
  readonly snapshot_complete: boolean;
}

export interface StatsInput {
  readonly store: LocalStoreShape;
  readonly descriptor: TableDescriptor;
  readonly state: SyncStateName;
  readonly poolConnected: boolean;
  readonly feedConnected: boolean;
  readonly changeFeed?: ChangeFeedStatus;
  readonly attempt: number;
  readonly lastError: string | null;
  readonly tenantId: string | undefined;
  readonly snapshotRowsCopied: number;
  readonly vectors?: VectorInfo;
  readonly embeddingProvider?: string;
  readonly outbox?: MemoryStats["outbox"];
  readonly standby?: StandbyStatus | undefined;
  /** The further tables (REPLICATE_TABLES) the file holds. */
  readonly further?: readonly TableDescriptor[];
  /**
   * The config's secrets (secretsOf), scrubbed from every error text shown: the feed's and the
   * standby's reasons and the outbox's stored error come from master errors as they were.
   */
  readonly secrets?: readonly string[];
}

/** Timestamps are stored with microseconds; the API shows them as plain ISO-8601 (ms). */
const toIso = (t: string | null): string | null => (t ? new Date(t.replace(/(\.\d{3})\d*Z$/, "$1Z")).toISOString() : null);

export function buildStats(i: StatsInput): MemoryStats {
  const secrets = i.secrets ?? [];
  const clean = (text: string | null): string | null => (text === null ? null : scrub(text, secrets));
  const s = i.store.syncState(i.descriptor);
  const feed = i.changeFeed ?? FEED_NOT_STARTED;
  const outbox = i.outbox ?? { pending: 0, parked: 0, last_error: null, state: "stopped", uploaded: 0 };
  const total = i.store.count(i.descriptor);
  return {
    enabled: true,
    state: i.state,
    pool_connected: i.poolConnected,
    feed_connected: i.feedConnected,
    change_feed: { ...feed, reason: clean(feed.reason) },
    local_db_path: i.store.path,
    total_memories: total,
    last_sync: toIso(s.lastSyncTime),
    sync_metadata: {
      last_sync_time: toIso(s.lastSyncTime),
      last_sync_count: s.lastSyncCount,
      total_records: total,
      total_pulls: s.totalPulls,
      total_applied: s.totalApplied,
    },
    cursor: { snapshot: s.cursor, epoch: s.epoch },
    snapshot: { complete: s.snapshotComplete, rows_copied: s.snapshotComplete ? s.snapshotRows : Math.max(s.snapshotRows, i.snapshotRowsCopied) },
    outbox: { ...outbox, last_error: clean(outbox.last_error) },
    embeddings: {
      provider: i.embeddingProvider ?? "none",
      dim: i.vectors?.dim ?? null,
      model: i.vectors?.model ?? null,
      indexed: i.vectors?.vectors ?? 0,
      other_dimension: i.vectors?.skipped ?? 0,
    },
    table: i.descriptor.masterTable,
    tenant_id: i.tenantId ?? null,
    attempt: i.attempt,
    last_error: clean(i.lastError),
    ...(i.standby ? { standby: { ...i.standby, reason: clean(i.standby.reason) } } : {}),
    tables: Object.fromEntries([i.descriptor, ...(i.further ?? [])].map((d) => [d.localName, tableStats(i.store, d)])),
    wal_checkpoints: walCheckpoints(i.store),
  };
}

function walCheckpoints(store: LocalStoreShape): MemoryStats["wal_checkpoints"] {
  const c = store.checkpoints();
  return { worker: c.worker, checkpoints: c.checkpoints, last_ms: c.lastMs === null ? null : Math.round(c.lastMs * 100) / 100, error: c.error };
}

function tableStats(store: LocalStoreShape, d: TableDescriptor): TableStats {
  const s = store.syncState(d);
  return { master_table: d.masterTable, rows: store.count(d), last_sync: toIso(s.lastSyncTime), cursor: s.cursor, filter: d.filter ?? null, snapshot_complete: s.snapshotComplete };
}

/** Pending and parked outbox entries, read from the file (access deltas count as pending). */
export function outboxCounts(store: LocalStoreShape): OutboxCounts {
  return outboxTable(store).counts();
}

/** One machine's state, attempt and last error, as the inspector and events show it ("awaitingPool" before it runs). */
export function machineView(actor: { getSnapshot(): { value: unknown; context: { attempt: number; lastError: string | null } } } | undefined): MachinesView["sync"] {
  const snap = actor?.getSnapshot();
  return { state: snap ? String(snap.value) : "awaitingPool", attempt: snap?.context.attempt ?? 0, lastError: snap?.context.lastError ?? null };
}

/** Both machines' current states (for the inspector and the event stream). */
export interface MachinesView {
  readonly sync: { state: string; attempt: number; lastError: string | null };
  readonly upload: { state: string; attempt: number; lastError: string | null };
}

export interface ForceSyncResult {
  readonly success: boolean;
  readonly before_count: number;
  readonly after_count: number;
  readonly synced_count: number;
  readonly last_sync: string | null;
  readonly pool_connected: boolean;
  readonly state: SyncStateName;
  readonly error?: string;
}
