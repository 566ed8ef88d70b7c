/** The sync_state row of a replicated table, as stored and as the rest of the code reads it. */
export interface SyncState {
  readonly tableName: string;
  readonly source: string | null;
  readonly epoch: string | null;
  readonly cursor: string | null;
  readonly snapshotCursor: string | null;
  readonly snapshotAfterKey: string | null;
  readonly snapshotRows: number;
  readonly snapshotComplete: boolean;
  readonly lastSyncTime: string | null;
  readonly lastSyncCount: number;
  readonly totalPulls: number;
  readonly totalApplied: number;
}

export interface StateRow {
  table_name: string;
  source: string | null;
  epoch: string | null;
  cursor: string | null;
  snapshot_cursor: string | null;
  snapshot_after_key: string | null;
  snapshot_rows: number;
  snapshot_complete: number;
  last_sync_time: string | null;
  last_sync_count: number;
  total_pulls: number;
  total_applied: number;
}

export const syncStateFromRow = (r: StateRow): SyncState => ({
  tableName: r.table_name,
  source: r.source,
  epoch: r.epoch,
  cursor: r.cursor,
  snapshotCursor: r.snapshot_cursor,
  snapshotAfterKey: r.snapshot_after_key,
  snapshotRows: r.snapshot_rows,
  snapshotComplete: r.snapshot_complete === 1,
  lastSyncTime: r.last_sync_time,
  lastSyncCount: r.last_sync_count,
  totalPulls: r.total_pulls,
  totalApplied: r.total_applied,
});
