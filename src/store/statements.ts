/**
 * How code outside src/store/ runs SQL on the replica file without holding the handle:
 * statements prepared once per text and kept for the life of the file (hot paths — search,
 * writes, upload batches — look them up on every call and never re-prepare), and
 * transactions wrapped once and called many times.
 */
import type Database from "better-sqlite3";

/**
 * A prepared statement shared by every caller of the same text. Its mode is fixed when it
 * is prepared (rows, or first column with `pluck`): it offers no `pluck()`/`raw()`, whose
 * toggles would change it for everyone else.
 */
export interface Statement {
  run(...params: unknown[]): { readonly changes: number; readonly lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export interface Statements {
  /** The statement for `sql`, returning rows as objects. */
  readonly statement: (sql: string) => Statement;
  /** The statement for `sql`, returning each row's first column. */
  readonly pluck: (sql: string) => Statement;
  /**
   * A statement for `sql` that is not kept (rows as objects), for texts built from input whose
   * number is not bounded: the caller keeps it as long as it likes (e.g. in its own bounded
   * cache). It prepares itself again after a swap, as the cached ones do.
   */
  readonly prepare: (sql: string) => Statement;
  /**
   * `fn` made transactional (a call inside another transaction becomes a savepoint). Wrap
   * once, at set-up, and call the result: wrapping is not free.
   */
  readonly transaction: <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R;
}

/**
 * The outbox entries that hold their row against pulls: local writes (not access counts)
 * neither acknowledged nor parked. Every other outbox statement lives in
 * src/outbox/outboxTable.ts; this one is here because the apply transactions (apply.ts)
 * check it and store/ may not import outbox/. The outbox module builds its
 * pending-for-id statements from this same text.
 */
export const PENDING_WRITES_SQL = "SELECT memory_id FROM outbox WHERE parked_at IS NULL AND op <> 'access'";

/** ISO-8601 UTC with microseconds, the form timestamps are stored in (text-comparable). */
export const isoMicros = (d: Date = new Date()): string => d.toISOString().replace("Z", "000Z");

/**
 * `current` is the open handle, which a re-copy swap replaces (LocalStore.replaceWith): every
 * statement and transaction handed out prepares itself again on the new handle at its next
 * use, so callers that keep them from set-up go on working. The check is one comparison.
 * `onCommit` is told after each outermost transaction commits (checkpointer.ts counts them).
 */
export function makeStatements(current: () => Database.Database, onCommit: () => void = () => undefined): Statements {
  const live = (sql: string, pluck: boolean): Statement => {
    let db = current();
    let s = pluck ? db.prepare(sql).pluck() : db.prepare(sql);
    const now = (): Database.Statement => {
      if (db !== current()) {
        db = current();
        s = pluck ? db.prepare(sql).pluck() : db.prepare(sql);
      }
      return s;
    };
    return {
      run: (...p) => now().run(...p),
      get: (...p) => now().get(...p),
      all: (...p) => now().all(...p),
      iterate: (...p) => now().iterate(...p) as IterableIterator<unknown>,
    };
  };
  const rows = new Map<string, Statement>();
  const plucked = new Map<string, Statement>();
  return {
    statement: (sql) => {
      let s = rows.get(sql);
      if (!s) rows.set(sql, (s = live(sql, false)));
      return s;
    },
    pluck: (sql) => {
      let s = plucked.get(sql);
      if (!s) plucked.set(sql, (s = live(sql, true)));
      return s;
    },
    prepare: (sql) => live(sql, false),
    transaction: <A extends unknown[], R>(fn: (...args: A) => R) => {
      let db = current();
      let tx = db.transaction(fn);
      return (...args: A): R => {
        if (db !== current()) tx = (db = current()).transaction(fn);
        const result = tx(...args);
        if (!db.inTransaction) onCommit();
        return result;
      };
    },
  };
}
