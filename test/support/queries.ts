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

/**
 * The statements of pulls among `queries`. An upload round, a feed probe or the tail of a
 * transaction begun before the watch may run meanwhile: not counted — a bare COMMIT counts only
 * while a streamed pull (its BEGIN alone, not the one-trip script that ends in its own COMMIT)
 * is open (a CI run once saw another transaction's COMMIT beside a lone one-trip pull).
 */
export function pullStatements(queries: readonly string[]): string[] {
  const out: string[] = [];
  let open = false;
  for (const q of queries) {
    if (/^BEGIN ISOLATION LEVEL REPEATABLE READ/.test(q)) {
      out.push(q);
      open = !/\bCOMMIT\s*;?\s*$/.test(q);
    } else if (/^COMMIT/.test(q)) {
      if (open) out.push(q);
      open = false;
    } else if (/^(SELECT CASE WHEN pg_is_in_recovery|SELECT COALESCE\(\(SELECT value::xid8|DECLARE embedded_memory_pull|FETCH|CLOSE)/.test(q)) out.push(q);
  }
  return out;
}

/**
 * A one-trip pull (Master.readScript): its changes read as text (`… AS em_pull LIMIT n`, also
 * inside the PREPARE that first sends it on a connection) or as the EXECUTE of that statement.
 */
export const isOneTripPull = (q: string): boolean =>
  q.startsWith("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") && (q.includes("AS em_pull LIMIT") || /\nEXECUTE em_[0-9a-f]+/.test(q));
