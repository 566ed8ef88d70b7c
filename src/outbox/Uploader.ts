/**
 * The uploader: pushes outbox entries to the master in batches, each entry exactly once.
 * In one master transaction per batch, every entry first inserts its receipt
 * (replica_id, seq) and is applied only if the receipt is new; each entry runs under a
 * SAVEPOINT, so an entry the master refuses for good (a constraint, bad data) is parked
 * with its reason while the rest of the batch commits. A lost connection fails the whole
 * batch, which is retried (receipts make the retry harmless). After a batch, the rows it
 * touched are refreshed from the master: once acknowledged, the master's version wins again.
 */
import * as Effect from "effect/Effect";
import { LocalStoreError, type LocalStoreShape } from "../store/LocalStore.ts";
import { classifyMasterError, MasterQueryError, type MasterClient, type MasterError, type MasterShape } from "../master/Master.ts";
import { receiptSql, receiptsSql } from "../master/masterSql.ts";
import type { TableQueries } from "../master/tableQueries.ts";
import { isColumnDriftError } from "../sync/columns.ts";
import type { ReplicatorShape, SyncError } from "../sync/Replicator.ts";
import type { Logger } from "../observability/logger.ts";
import type { Row } from "../schema/tableDescriptor.ts";
import { outboxTable, type OutboxCounts, type OutboxEntry as Entry } from "./outboxTable.ts";

export interface UploaderOptions {
  readonly replicaId: string;
  readonly batchSize: number;
  /** `soft` deletes set expires_at = now() on the master instead of deleting the row. */
  readonly deleteMode: "hard" | "soft";
  readonly logger: Logger;
  /**
   * Told the id of each committed upload transaction that wrote something (xid8 as text): pulls
   * that read a standby wait until it has replayed it (ReadSource.noteCommit), so a pull right
   * after an upload never reads the row as it was before it.
   */
  readonly onCommitted?: (xid: string) => void;
}

export interface UploadResult {
  readonly uploaded: number;
  readonly parked: number;
  readonly remaining: number;
}

export interface Uploader {
  readonly connect: () => Effect.Effect<void, SyncError>;
  /** Uploads up to `maxBatches` batches. */
  readonly upload: (maxBatches: number) => Effect.Effect<UploadResult, SyncError>;
  readonly counts: () => OutboxCounts;
}

/** SQLSTATE classes the master will refuse again however often asked: park, do not retry. */
const PERMANENT = /^(22|23|42|P0)/;

/**
 * A refusal that no retry can fix: the entry is parked. A column the master lost (or retyped)
 * is not one: the write is fine, the table drifted, and the sync machine waits for it in
 * backoff (the entry stays pending and goes up once the column is back).
 */
const isPermanent = (e: MasterError): e is MasterQueryError => e._tag === "MasterQueryError" && PERMANENT.test(e.code ?? "") && !isColumnDriftError(e);

/**
 * The batch's access entries as one delta per row: the sum of its deltas and the latest
 * read. Only entries whose receipts are new reach here, so every read is added exactly once.
 */
export function coalesceAccess(entries: readonly Entry[]): { id: string; delta: number; last_accessed: string | null }[] {
  const byId = new Map<string, { id: string; delta: number; last_accessed: string | null }>();
  for (const e of entries) {
    if (e.op !== "access") continue;
    const p = JSON.parse(e.payload) as { delta: number; last_accessed: string | null };
    const had = byId.get(e.memory_id);
    if (!had) byId.set(e.memory_id, { id: e.memory_id, delta: p.delta, last_accessed: p.last_accessed });
    else {
      had.delta += p.delta;
      // ISO-8601 UTC with microseconds compares as text.
      if (p.last_accessed !== null && (had.last_accessed === null || p.last_accessed > had.last_accessed)) had.last_accessed = p.last_accessed;
    }
  }
  return [...byId.values()];
}

export function makeUploader(master: MasterShape, store: LocalStoreShape, replicator: ReplicatorShape, o: UploaderOptions): Uploader {
  const outbox = outboxTable(store);
  const log = o.logger.child({ module: "uploader" });
  const local = <A,>(what: string, f: () => A) => Effect.try({ try: f, catch: (cause) => new LocalStoreError({ message: `${what}: ${(cause as Error).message}`, cause }) });

  const applyEntry = (client: MasterClient, tq: TableQueries, e: Entry) =>
    Effect.gen(function* () {
      const p = JSON.parse(e.payload) as Record<string, unknown>;
      if (e.op === "upsert") {
        const { text, columns } = tq.upsert(Object.keys(p));
        yield* client.query(text, columns.map((c) => (c.kind === "textArray" || c.kind === "vector" ? p[c.name] : p[c.name] ?? null)));
      } else if (e.op === "delete") {
        yield* client.query(tq.remove(o.deleteMode), [e.memory_id, p.deleted_at]);
      } else if (tq.accessDelta) {
        yield* client.query(tq.accessDelta, [e.memory_id, p.delta, p.last_accessed]);
      }
    });

  /**
   * The fast path: a batch of distinct rows in a handful of statements (receipts, then one
   * statement per kind of entry). Any refusal rolls it back and the batch goes entry by
   * entry (uploadEntries) to find which one to park.
   */
  const uploadSetBased = (tq: TableQueries, batch: Entry[]) =>
    master.transaction("READ WRITE", (client) =>
      Effect.gen(function* () {
        const { rows } = yield* client.query<{ seq: string; xid: string }>(receiptsSql, [o.replicaId, batch.map((e) => e.seq)]);
        const fresh = new Set(rows.map((r) => Number(r.seq)));
        const todo = batch.filter((e) => fresh.has(e.seq));
        const payloads = (op: Entry["op"]) => todo.filter((e) => e.op === op).map((e) => JSON.parse(e.payload) as Record<string, unknown>);
        const upserts = payloads("upsert");
        if (upserts.length) yield* client.query(tq.upsertMany(Object.keys(upserts[0]!)).text, [JSON.stringify(upserts)]);
        const deletes = todo.filter((e) => e.op === "delete").map((e) => ({ id: e.memory_id, deleted_at: (JSON.parse(e.payload) as { deleted_at: string }).deleted_at }));
        if (deletes.length) yield* client.query(tq.removeMany(o.deleteMode), [JSON.stringify(deletes)]);
        const access = coalesceAccess(todo);
        if (access.length && tq.accessDeltaMany) yield* client.query(tq.accessDeltaMany, [JSON.stringify(access)]);
        return { acked: batch, parked: [] as { entry: Entry; reason: string }[], xid: rows[0]?.xid };
      }),
    );

  /**
   * The longest prefix of the batch whose writes touch distinct rows (one statement may touch
   * a row once). Access entries of one row do not end it: they are summed into one delta.
   */
  const distinctPrefix = (batch: Entry[]): Entry[] => {
    const seen = new Set<string>();
    const out: Entry[] = [];
    for (const e of batch) {
      const slot = e.op === "access" ? `access:${e.memory_id}` : e.memory_id;
      if (e.op !== "access" && seen.has(slot)) break;
      seen.add(slot);
      out.push(e);
    }
    return out;
  };

  const uploadBatch = (tq: TableQueries, batch: Entry[]) =>
    uploadSetBased(tq, distinctPrefix(batch)).pipe(
      Effect.catch((e: MasterError) =>
        isColumnDriftError(e) ? replicator.recheckColumns().pipe(Effect.andThen(Effect.fail(e))) : isPermanent(e) ? uploadEntries(tq, batch) : Effect.fail(e),
      ),
    );

  const uploadEntries = (tq: TableQueries, batch: Entry[]) =>
    master.transaction("READ WRITE", (client) =>
      Effect.gen(function* () {
        const acked: Entry[] = [];
        const parked: { entry: Entry; reason: string }[] = [];
        let xid: string | undefined;
        for (const e of batch) {
          yield* client.query("SAVEPOINT entry");
          const outcome = yield* Effect.result(
            Effect.gen(function* () {
              const receipt = yield* client.query<{ xid: string }>(receiptSql, [o.replicaId, e.seq]);
              if (receipt.rowCount === 1) {
                yield* applyEntry(client, tq, e);
                xid ??= receipt.rows[0]?.xid;
              }
            }),
          );
          if (outcome._tag === "Success") {
            yield* client.query("RELEASE SAVEPOINT entry");
            acked.push(e);
          } else if (isPermanent(outcome.failure)) {
            yield* client.query("ROLLBACK TO SAVEPOINT entry");
            parked.push({ entry: e, reason: outcome.failure.message });
          } else return yield* Effect.fail(outcome.failure);
        }
        return { acked, parked, xid };
      }),
    );

  /** The ids with no local write still waiting (their rows can take the master's state). */
  const settled = (ids: string[]) => ids.filter((id) => !outbox.isPending(id));

  const upload = (maxBatches: number) =>
    Effect.gen(function* () {
      const tq = yield* replicator.queries();
      // Access deltas become outbox entries (and so get receipts): never counted twice.
      yield* local("collecting access deltas", () => outbox.collectAccess());
      let uploaded = 0;
      let parkedCount = 0;
      for (let b = 0; b < maxBatches; b++) {
        const batch = yield* local("reading the outbox", () => outbox.nextBatch(o.batchSize));
        if (batch.length === 0) break;
        const { acked, parked, xid } = yield* uploadBatch(tq, batch).pipe(
          Effect.tapError((err) => local("counting the attempt", () => outbox.countAttempt(batch.map((e) => e.seq), err.message))),
        );
        if (xid !== undefined) o.onCommitted?.(xid);
        // Settled rows are owed a refresh (below); recorded first, so a refresh that fails is
        // retried by the next pull rather than forgotten with the outbox entries.
        const touchedKeys = [...new Set([...acked, ...parked.map((p) => p.entry)].filter((e) => e.op !== "access").map((e) => e.memory_id))];
        yield* local("settling the outbox", () => {
          store.refreshDue.add(touchedKeys);
          outbox.settle(acked, parked);
        });
        replicator.settled([...acked, ...parked.map((p) => p.entry)].filter((e) => e.op !== "access").map((e) => e.memory_id));
        for (const { entry, reason } of parked) log.warn({ seq: entry.seq, id: entry.memory_id, op: entry.op, reason }, "outbox entry parked: the master refused it");
        uploaded += acked.length;
        parkedCount += parked.length;
        // Rows whose writes are settled take the master's state again (a newer master version
        // that a pull skipped while the write was pending, or the refusal of a parked one).
        const touched = [...new Set([...acked, ...parked.map((p) => p.entry)].filter((e) => e.op !== "access").map((e) => e.memory_id))];
        yield* replicator.refresh(settled(touched));
      }
      const remaining = outbox.pendingCount();
      if (uploaded || parkedCount) log.debug({ uploaded, parked: parkedCount, remaining }, "outbox uploaded");
      return { uploaded, parked: parkedCount, remaining };
    });

  return {
    connect: () => replicator.connect().pipe(Effect.asVoid),
    upload,
    counts: () => outbox.counts(),
  };
}

export { classifyMasterError };
export type { OutboxCounts, Row };
