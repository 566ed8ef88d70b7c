/**
 * What this process sends to Postgres: a test that says how many round trips a pull takes
 * watches node-postgres's query calls (each is one round trip), changing nothing they do.
 */
import pg from "pg";

/** The queries this process sends to any Postgres while `during` runs (which may watch them grow). */
export async function queriesDuring(during: (seen: readonly string[]) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    const q = a[0] as string | { text?: string };
    seen.push(String(typeof q === "string" ? q : q?.text).trim());
    return original.apply(this, a);
  };
  try {
    await during(seen);
  } finally {
    proto.query = original;
  }
  return seen;
}

/** The statements of pulls among `queries` (an upload round or a feed probe may run meanwhile: not counted). */
export const pullStatements = (queries: readonly string[]): string[] =>
  queries.filter((q) => /^(BEGIN ISOLATION LEVEL REPEATABLE READ|SELECT CASE WHEN pg_is_in_recovery|SELECT COALESCE\(\(SELECT value::xid8|DECLARE embedded_memory_pull|FETCH|CLOSE|COMMIT)/.test(q));
