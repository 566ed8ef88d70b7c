/**
 * The changelog's housekeeping after a pull: at most hourly per process, changes older than the
 * retention are pruned on the master (any replica may do it; one at a time, see installSql.ts).
 */
import * as Effect from "effect/Effect";
import type { MasterShape } from "../master/Master.ts";
import { pruneChangesSql } from "../master/installSql.ts";
import type { Logger } from "../observability/logger.ts";

/** How often one process prunes the master's changelog. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** The prune gives up on a lock held longer than this (it is housekeeping: the next pull retries). */
const PRUNE_LOCK_TIMEOUT_MS = 500;

/** `retentionMs` 0: never prune. */
export function makePruneIfDue(master: MasterShape, retentionMs: number, log: Logger): () => Effect.Effect<void> {
  let lastPruneAt = 0;
  // Failure only logs (it is retried an hour later). It runs inside the sync step, so it never
  // waits on a lock (an upload holding the receipts table would otherwise hold the pull for the
  // whole statement timeout).
  return () =>
    retentionMs > 0 && Date.now() - lastPruneAt > PRUNE_EVERY_MS
      ? master.transaction("READ WRITE", (c) =>
          c.query(`SET LOCAL lock_timeout = ${PRUNE_LOCK_TIMEOUT_MS}`).pipe(Effect.andThen(c.query<{ removed: string | null }>(pruneChangesSql, [retentionMs / 1000]))),
        ).pipe(
          Effect.tap(({ rows }) => Effect.sync(() => {
            lastPruneAt = Date.now();
            const removed = rows[0]!.removed;
            if (removed === null) log.debug("another session is pruning the changelog");
            else log.info({ removed: Number(removed) }, "changelog pruned");
          })),
          Effect.catch((err) => Effect.sync(() => log.warn({ err }, "changelog prune failed"))),
          Effect.asVoid,
        )
      : Effect.void;
}
