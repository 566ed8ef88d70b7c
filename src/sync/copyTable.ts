/**
 * The first copy of one replicated table (DESIGN.md, Snapshot): the cursor is recorded first,
 * then the table is copied in keyset chunks, each one SQLite transaction with its resume point,
 * the next chunk fetched while this one is written. Used for the memory table and every further one.
 */
import * as Effect from "effect/Effect";
import * as Fiber from "effect/Fiber";
import type { MasterError } from "../master/Master.ts";
import { currentSnapshotSql, readTableEpochSql } from "../master/masterSql.ts";
import type { ReadSourceShape } from "../master/readPool.ts";
import type { TableQueries } from "../master/tableQueries.ts";
import type { LocalStoreError, LocalStoreShape } from "../store/LocalStore.ts";
import type { Row, TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Logger } from "../observability/logger.ts";
import { local } from "./local.ts";

export interface SnapshotProgress {
  readonly rowsCopied: number;
  /** Approximate bytes of the chunk just written. */
  readonly chunkBytes: number;
}

/** Rough size of a row as read (for the bytes-pulled counter). */
export function rowBytes(r: Row): number {
  let n = 0;
  for (const v of Object.values(r)) n += v === null ? 0 : typeof v === "string" ? v.length : Buffer.isBuffer(v) ? v.length : 8;
  return n;
}

export interface CopyOptions {
  readonly reads: ReadSourceShape;
  readonly chunkRows: number;
  readonly log: Logger;
  /** Begin anew even when a copy of the same epoch is in progress. */
  readonly restart: boolean;
  readonly onProgress?: ((p: SnapshotProgress) => void) | undefined;
  /** Called in the step that begins a copy anew (not when one resumes). */
  readonly onBegin?: () => void;
  /**
   * A further table's own epoch (its TRUNCATE's): read in the same statement as the copy's
   * snapshot, from the same source (a standby may lag the primary), and combined with the
   * master's into the epoch the copied rows belong to.
   */
  readonly ownEpoch?: { readonly table: string; readonly combine: (masterEpoch: string, own: string | null) => string };
}

/** Copies `d` into `store`, resuming a copy in progress unless `restart`. Returns the rows applied. */
export const copyTable = (store: LocalStoreShape, d: TableDescriptor, tq: TableQueries, o: CopyOptions): Effect.Effect<number, MasterError | LocalStoreError> =>
  Effect.gen(function* () {
    const log = o.log.child({ table: d.masterTable });
    const { rows: snap } = o.ownEpoch
      ? yield* o.reads.query<{ snapshot: string; epoch: string; own: string | null }>(null, `${currentSnapshotSql}, (${readTableEpochSql}) AS own`, [o.ownEpoch.table])
      : yield* o.reads.query<{ snapshot: string; epoch: string; own?: null }>(null, currentSnapshotSql);
    const epoch = o.ownEpoch ? o.ownEpoch.combine(snap[0]!.epoch, snap[0]!.own ?? null) : snap[0]!.epoch;
    let state = yield* local("reading sync state", () => store.syncState(d));
    if (o.restart || state.snapshotCursor === null || state.epoch !== epoch) {
      // The cursor is taken *before* copying: whatever changes during the copy is
      // re-read by the first pull, and applying state is idempotent.
      yield* local("starting snapshot", () => {
        store.beginSnapshot(d, snap[0]!.snapshot, epoch);
        o.onBegin?.();
      });
      state = yield* local("reading sync state", () => store.syncState(d));
      log.info({ snapshot: snap[0]!.snapshot }, "snapshot started");
    } else {
      log.info({ afterKey: state.snapshotAfterKey, rowsCopied: state.snapshotRows }, "snapshot resumed");
    }
    const fetch = (after: string | null) => {
      const { text, values } = tq.snapshotChunk(after, o.chunkRows);
      // Rows no older than the copy's cursor: a standby that lags behind it waits.
      return o.reads.query<Row>(state.snapshotCursor, text, values).pipe(Effect.map((r) => r.rows));
    };
    let after = state.snapshotAfterKey;
    let copied = state.snapshotRows;
    let applied = 0;
    let next = yield* Effect.forkChild(fetch(after));
    for (;;) {
      const rows = yield* Fiber.join(next);
      const last = rows.length < o.chunkRows;
      // Fetch the next chunk while this one is written: Postgres works while SQLite does.
      if (!last) next = yield* Effect.forkChild(fetch(String(rows[rows.length - 1]![d.key])));
      const from = after;
      applied += yield* local("applying snapshot chunk", () => store.applySnapshotChunk(d, tq.present, rows, from, last));
      copied += rows.length;
      o.onProgress?.({ rowsCopied: copied, chunkBytes: rows.reduce((n, r) => n + rowBytes(r), 0) });
      if (last) break;
      after = String(rows[rows.length - 1]![d.key]);
    }
    log.info({ rows: copied }, "snapshot complete");
    return applied;
  });
