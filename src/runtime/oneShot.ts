/**
 * One-shot operations without the machines (CLI `sync` and `verify`): they fail with the
 * first error instead of backing off.
 */
import * as Effect from "effect/Effect";
import { Master } from "../master/Master.ts";
import { LocalStore } from "../store/LocalStore.ts";
import { Replicator } from "../sync/Replicator.ts";
import { verifyReplica, type TableVerifyReport, type VerifyReport } from "../sync/verify.ts";
import type { Opened, Services } from "./openReplica.ts";

export type Run = <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>;

export interface SyncOnceOptions {
  readonly full?: boolean;
  readonly onProgress?: (rowsCopied: number) => void;
}

export interface SyncOnceResult {
  readonly applied: number;
  readonly total_memories: number;
  readonly duration_ms: number;
  readonly uploaded: number;
  /** Rows in each further table (REPLICATE_TABLES), by local name; absent without any. */
  readonly tables?: Readonly<Record<string, number>>;
}

/** Connect, copy if needed, pull until caught up, drain the outbox. */
export async function syncOnce(o: Opened, run: Run, options: SyncOnceOptions): Promise<SyncOnceResult> {
  const started = Date.now();
  const { replicator: r, store, uploader } = o;
  let applied = 0;
  let full = options.full === true;
  let connected = await run(r.connect());
  for (let round = 0; round < 3; round++) {
    if (!connected.snapshotComplete || full) {
      applied += await run(r.snapshot({ restart: full, onProgress: (p) => options.onProgress?.(p.rowsCopied) }));
      full = false;
    }
    const pulled = await run(r.pull());
    applied += pulled.applied;
    if (!pulled.epochChanged) {
      let uploaded = 0;
      for (let u = await run(uploader.upload(100)); ; u = await run(uploader.upload(100))) {
        uploaded += u.uploaded;
        if (u.remaining === 0 || u.uploaded + u.parked === 0) break;
      }
      const further = r.further();
      const tables = further.length ? { tables: Object.fromEntries(further.map((d) => [d.localName, store.count(d)])) } : {};
      return { applied, total_memories: store.count(r.descriptor), duration_ms: Date.now() - started, uploaded, ...tables };
    }
    connected = await run(r.connect());
  }
  throw new Error("the master's epoch kept changing during sync; try again");
}

/** Compares master and replica row by row; with `repair`, applies the master's state where they differ. */
export function verify(run: Run, repair: boolean): Promise<VerifyReport> {
  return run(
    Effect.gen(function* () {
      const replicator = yield* Replicator;
      const master = yield* Master;
      const store = yield* LocalStore;
      yield* replicator.connect();
      const memories = yield* verifyReplica(master, store, yield* replicator.queries(), repair);
      const further = yield* replicator.furtherQueries();
      if (further.length === 0) return memories;
      const tables: Record<string, TableVerifyReport> = {};
      for (const tq of further) tables[tq.descriptor.localName] = yield* verifyReplica(master, store, tq, repair);
      return { ...memories, identical: memories.identical && Object.values(tables).every((t) => t.identical), tables };
    }),
  );
}
