/**
 * The re-copy of a replica away longer than the changelog retention: a pull that finds its
 * cursor expired marks the replica stale, and the next snapshot copies the table into a second
 * file while this one keeps answering (stale), then swaps the complete copy in. The second file
 * and the swap itself are store/recopy.ts; this is the sync step around them.
 */
import * as Effect from "effect/Effect";
import { makeLocalStore, type LocalStoreError, type LocalStoreShape } from "../store/LocalStore.ts";
import { recopyKey, recopyPath, removeRecopy } from "../store/recopy.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";
import type { Logger } from "../observability/logger.ts";
import { local } from "./local.ts";

/** A re-copy is due or running: reads answer from the current file, which is stale. */
export const isStale = (store: LocalStoreShape, d: TableDescriptor): boolean => store.meta.get(recopyKey(d)) !== null;

/** Makes the next snapshot a re-copy into a new file (of the master's epoch `epoch`). */
export const markStale = (store: LocalStoreShape, d: TableDescriptor, epoch: string): void => {
  removeRecopy(store.path); // a re-copy left from an earlier absence holds an older state
  store.meta.set(recopyKey(d), epoch);
};

export interface RecopyOptions<E> {
  readonly store: LocalStoreShape;
  readonly descriptor: TableDescriptor;
  /** The replica's source (master, table, tenant): a re-copy file of another source is begun anew. */
  readonly source: string;
  readonly restart: boolean;
  readonly log: Logger;
  /** Copies the table into the re-copy file (the snapshot's copy, given that file's store). */
  readonly copy: (next: LocalStoreShape) => Effect.Effect<number, E>;
}

/**
 * The copy of a replica whose cursor expired goes to a second file, so that this one keeps
 * answering (stale) and no reader sees a table half old and half new; complete, it is swapped
 * in. An interrupted re-copy resumes from its own sync state.
 */
export const recopy = <E>({ store, descriptor: d, source, restart, log, copy }: RecopyOptions<E>): Effect.Effect<number, E | LocalStoreError> =>
  Effect.acquireUseRelease(
    local("opening the re-copy file", () => {
      if (restart) removeRecopy(store.path);
      let next = makeLocalStore(recopyPath(store.path));
      if (next.syncState(d).source !== source) {
        // Left by another configuration (or never started): begun anew for this source.
        next.close();
        removeRecopy(store.path);
        next = makeLocalStore(recopyPath(store.path));
        next.resetSync(d, source, store.syncState(d).epoch ?? "");
      }
      return next;
    }),
    (next) =>
      Effect.gen(function* () {
        // Always: the copy skips what is complete in the re-copy file (the memory table may be,
        // while a further table's copy into it failed before the swap).
        const applied = yield* copy(next);
        yield* local("swapping in the re-copy", () => {
          next.close();
          store.replaceWith(d);
        });
        log.info({ rows: store.count(d) }, "the re-copy replaced the replica file");
        return applied;
      }),
    (next) => Effect.sync(() => next.close()),
  );
