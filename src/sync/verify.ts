/**
 * verify: compares the master's replicated rows with the replica's, row by row (a content
 * hash of every column), streaming both sides in key order so memory stays flat.
 */
import { createHash } from "node:crypto";
import * as Effect from "effect/Effect";
import type { MasterError, MasterShape } from "../master/Master.ts";
import { LocalStoreError, type LocalStoreShape } from "../store/LocalStore.ts";
import type { TableQueries } from "../master/tableQueries.ts";
import type { ColumnSpec, Row, TableDescriptor } from "../schema/tableDescriptor.ts";

export interface VerifyReport extends TableVerifyReport {
  /** Every further table (REPLICATE_TABLES), by local name; `identical` above covers them too. */
  readonly tables?: Readonly<Record<string, TableVerifyReport>>;
}

/** One table's comparison. */
export interface TableVerifyReport {
  readonly identical: boolean;
  readonly master_count: number;
  readonly replica_count: number;
  /** On the master, not in the replica. */
  readonly missing: string[];
  /** In the replica, not on the master (or filtered out there). */
  readonly extra: string[];
  /** On both, with different content. */
  readonly different: string[];
  /** Rows fixed by --repair. */
  readonly repaired: number;
}

/** At most this many ids of each kind are listed; the counts are always exact. */
const LIST_LIMIT = 100;
const BATCH = 2_000;

export function rowHash(row: Row, columns: readonly ColumnSpec[]): string {
  const h = createHash("sha1");
  for (const c of columns) {
    const v = row[c.name];
    h.update(v === null || v === undefined ? "\u0000null" : Buffer.isBuffer(v) ? v.toString("hex") : `${typeof v}:${String(v)}`);
    h.update("\u0001");
  }
  return h.digest("hex");
}

/** Keys in the order both sides stream them: numbers for integer keys, else SQLite's BINARY order. */
const keyOrder = (d: TableDescriptor): ((a: string, b: string) => number) => {
  const kind = d.columns.find((c) => c.name === d.key)?.kind;
  if (kind === "int" || kind === "bigint") return (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
  return (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
};

export const verifyReplica = (master: MasterShape, store: LocalStoreShape, tq: TableQueries, repair: boolean): Effect.Effect<TableVerifyReport, MasterError | LocalStoreError> => {
  const d = tq.descriptor;
  const cols = tq.present;
  const key = (r: Row) => String(r[d.key]);
  const compare = keyOrder(d);
  // The comparison reads one master snapshot; the repair writes locally after it committed.
  return master.transaction("ISOLATION LEVEL REPEATABLE READ READ ONLY", (client) =>
    Effect.gen(function* () {
      const missing: Row[] = [];
      const different: Row[] = [];
      const extra: string[] = [];
      let counts = { missing: 0, different: 0, extra: 0, master: 0, replica: 0 };
      const local = store.rowsInKeyOrder(d, cols);
      let mine = local.next();
      const take = (list: unknown[], item: unknown, key: keyof typeof counts) => {
        counts = { ...counts, [key]: counts[key] + 1 };
        if (repair || list.length < LIST_LIMIT) list.push(item);
      };
      const { text, values } = tq.allRows();
      yield* client.query(`DECLARE embedded_memory_verify NO SCROLL CURSOR FOR ${text}`, values);
      for (;;) {
        const { rows } = yield* client.query<Row>(`FETCH ${BATCH} FROM embedded_memory_verify`);
        for (const theirs of rows) {
          counts.master++;
          while (!mine.done && compare(key(mine.value), key(theirs)) < 0) {
            counts.replica++;
            take(extra, key(mine.value), "extra");
            mine = local.next();
          }
          if (!mine.done && key(mine.value) === key(theirs)) {
            counts.replica++;
            if (rowHash(mine.value, cols) !== rowHash(theirs, cols)) take(different, theirs, "different");
            mine = local.next();
          } else take(missing, theirs, "missing");
        }
        if (rows.length < BATCH) break;
      }
      for (; !mine.done; mine = local.next()) {
        counts.replica++;
        take(extra, key(mine.value), "extra");
      }
      return { counts, missing, different, extra };
    }),
  ).pipe(
    Effect.flatMap(({ counts, missing, different, extra }) =>
      Effect.gen(function* () {
        let repaired = 0;
        if (repair && counts.missing + counts.different + counts.extra > 0) {
          repaired = yield* Effect.try({
            try: () => store.applyChanges(d, cols, [...missing, ...different], extra),
            catch: (cause) => new LocalStoreError({ message: `repairing: ${(cause as Error).message}`, cause }),
          });
        }
        return {
          identical: counts.missing + counts.different + counts.extra === 0,
          master_count: counts.master,
          replica_count: counts.replica,
          missing: missing.slice(0, LIST_LIMIT).map(key),
          extra: extra.slice(0, LIST_LIMIT),
          different: different.slice(0, LIST_LIMIT).map(key),
          repaired,
        };
      }),
    ),
  );
};
