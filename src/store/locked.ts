/**
 * The replica file locked by another process (a `sqlite3` shell inside a write transaction, a
 * backup tool…) past the busy timeout. It is nobody's bug and it passes: callers get a typed
 * error that HTTP turns into 503 with Retry-After, never a 500; the sync machine backs off with
 * the same message and recovers by itself.
 */
import * as Data from "effect/Data";

export class ReplicaLockedError extends Data.TaggedError("ReplicaLockedError")<{ readonly message: string; readonly path: string }> {}

/** SQLite's answers when another connection holds the lock past busy_timeout. */
const LOCK_CODES = new Set(["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY", "SQLITE_LOCKED_SHAREDCACHE"]);

export const isLockError = (e: unknown): boolean => typeof e === "object" && e !== null && LOCK_CODES.has(String((e as { code?: unknown }).code));

const lockedError = (path: string) =>
  new ReplicaLockedError({ path, message: `the replica file ${path} is locked by another process (a write transaction held past the 5 s busy timeout); retry shortly` });

/** Runs `f`; a lock error from SQLite becomes ReplicaLockedError, anything else is rethrown. */
export async function withLockCheck<T>(path: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw isLockError(e) ? lockedError(path) : e;
  }
}
