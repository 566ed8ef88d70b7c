/**
 * What the replicator is to the rest of the code (its Effect service's shape, the results of its
 * steps, its options), apart from how it does it (Replicator.ts).
 */
import type * as Effect from "effect/Effect";
import type { MasterError } from "../master/Master.ts";
import type { MasterObjectsMissing } from "../master/masterObjects.ts";
import type { TableQueries } from "../master/tableQueries.ts";
import type { LocalStoreError } from "../store/LocalStore.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import type { ReplicatedTableConfig } from "../schema/replicatedTables.ts";
import type { Logger } from "../observability/logger.ts";
import type { MasterSchemaDrift } from "./columns.ts";
import type { SnapshotProgress } from "./copyTable.ts";
import type { FurtherError } from "./furtherTables.ts";

export type SyncError = MasterError | MasterObjectsMissing | MasterSchemaDrift | LocalStoreError | FurtherError;

export interface ConnectResult {
  /** The replica holds a complete copy for the master's current epoch. */
  readonly snapshotComplete: boolean;
  readonly epoch: string;
}

export interface PullResult {
  /** Rows applied (upserts + deletes + expired rows swept). */
  readonly applied: number;
  /** The master's epoch changed, or changes this cursor needs were pruned: copy the table anew. */
  readonly epochChanged: boolean;
  readonly cursor: string | null;
  /** Approximate bytes of row data read. */
  readonly bytes: number;
  /** When the oldest change applied was made on the master (ms since epoch), for lag. */
  readonly oldestChangeAtMs: number | null;
  /** Age of the oldest open write transaction on the master (seconds). */
  readonly oldestOpenXactSeconds: number;
  /** Rows of `applied` whose counters alone were updated (counters-only changes). */
  readonly countersApplied: number;
  /** Rows applied per table by local name: the memory table's (`applied`) and each further table's (REPLICATE_TABLES). */
  readonly tables?: Readonly<Record<string, number>>;
}

export interface ReplicatorShape {
  readonly descriptor: TableDescriptor;
  readonly connect: () => Effect.Effect<ConnectResult, SyncError>;
  /** Copies the table in keyset chunks, resuming a copy in progress unless `restart`. */
  readonly snapshot: (options: { restart: boolean; onProgress?: (p: SnapshotProgress) => void }) => Effect.Effect<number, SyncError>;
  readonly pull: () => Effect.Effect<PullResult, SyncError>;
  /** The queries for the master's actual columns (known after `connect`). */
  readonly queries: () => Effect.Effect<TableQueries, SyncError>;
  /**
   * Reads the master's columns anew and rebuilds the queries (after a statement failed with
   * undefined_column / datatype_mismatch): fails with MasterSchemaDrift when a column the
   * replica needs is gone or retyped.
   */
  readonly recheckColumns: () => Effect.Effect<TableQueries, SyncError>;
  /** Applies the master's current state of some rows (after an upload settled them). */
  readonly refresh: (keys: readonly string[]) => Effect.Effect<number, SyncError>;
  /**
   * The uploader settled local writes of these rows. A pull that began before this reads the
   * master in a snapshot that may predate the upload: it must not apply those rows (a row
   * deleted here would come back), so it skips them and refreshes them once it has committed.
   */
  readonly settled: (keys: readonly string[]) => void;
  /**
   * The replica was away longer than the changelog retention: the table is being copied anew
   * into a second file, and until it is swapped in, reads answer from this older copy.
   */
  readonly stale: () => boolean;
  /** The further tables (REPLICATE_TABLES) as the master last described them (none before connect). */
  readonly further: () => readonly TableDescriptor[];
  /** The further tables' queries for the master's columns now (known after `connect`). */
  readonly furtherQueries: () => Effect.Effect<TableQueries[], SyncError>;
}

export interface ReplicatorOptions {
  readonly descriptor: TableDescriptor;
  readonly tenantId: string | undefined;
  readonly autoMigrate: boolean;
  readonly snapshotChunkRows: number;
  readonly pullBatchRows: number;
  /** Changelog rows older than this are pruned (by any replica, at most hourly); 0 = never. */
  readonly changelogRetentionMs: number;
  readonly logger: Logger;
  /** Further master tables copied beside the memory table (REPLICATE_TABLES). */
  readonly further?: readonly ReplicatedTableConfig[];
}

/** What a pull's first statement reads (pullStartSql). */
export interface PullStart {
  readonly snapshot: string;
  readonly epoch: string;
  readonly cursor_expired: boolean;
  readonly oldest_open_xact_s: number;
  readonly columns: string;
}

/** A pull that applied nothing and cannot go on from the cursor (none yet, or another epoch): the machine reconnects. */
export const NOTHING_PULLED = { applied: 0, epochChanged: true, cursor: null, bytes: 0, oldestChangeAtMs: null, oldestOpenXactSeconds: 0, countersApplied: 0 } as const;
