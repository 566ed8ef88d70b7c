/**
 * The benchmarks' floor: the least a replica can do to hold a commit. One pg client, LISTEN on
 * the change channel, and for each notification ONE query (the changelog rows after the last
 * seen seq, joined to the table) and ONE SQLite transaction upserting what it returned; a
 * notification during a query makes one follow-up. No pool, no state machine, no Effect, no
 * metrics, no snapshot, no deadlines — and not correct (a seq cursor misses late commits;
 * deletes are not applied): a baseline measured in the same run, never a replica. Used by the
 * fleet benchmark (fleetFloor.ts, one per process) and bench/pullCpu.ts (in-process).
 */
import Database from "better-sqlite3";
import pg from "pg";
import { CHANGE_CHANNEL, SCHEMA } from "../src/master/masterSql.ts";

const PULL_SQL = `SELECT c.seq::text AS seq, t.id::text AS id, t.content::text AS content, t.search_text, t.importance_score,
    to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at
  FROM ${SCHEMA}.changes c JOIN public.unified_ai_memory t ON t.id = c.row_id::uuid
  WHERE c.seq > $1 ORDER BY c.seq`;

interface PulledRow {
  seq: string;
  id: string;
  content: string | null;
  search_text: string | null;
  importance_score: number | null;
  created_at: string | null;
}

export interface FloorReplica {
  readonly hasRow: (id: string) => boolean;
  readonly rows: () => number;
  readonly pulls: () => number;
  readonly pulling: () => boolean;
  readonly stop: () => Promise<void>;
}

/** Opens `localPath`, connects, starts after what the master holds now (no first copy) and listens. */
export async function startFloorReplica(o: { databaseUrl: string; localPath: string; onPulled?: () => void; onError?: (e: Error) => void }): Promise<FloorReplica> {
  const db = new Database(o.localPath);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE IF NOT EXISTS memory (id TEXT PRIMARY KEY, content TEXT, search_text TEXT, importance_score REAL, created_at TEXT)");
  const upsert = db.prepare(
    "INSERT INTO memory (id, content, search_text, importance_score, created_at) VALUES (@id, @content, @search_text, @importance_score, @created_at) ON CONFLICT (id) DO UPDATE SET content = excluded.content, search_text = excluded.search_text, importance_score = excluded.importance_score, created_at = excluded.created_at",
  );
  const apply = db.transaction((rows: PulledRow[]) => {
    for (const { seq: _seq, ...row } of rows) upsert.run(row);
  });
  const one = db.prepare("SELECT 1 FROM memory WHERE id = ?").pluck();
  const count = db.prepare("SELECT count(*) FROM memory").pluck();
  // Bounded as every wait on the master is: a connect and each query fail instead of hanging.
  const client = new pg.Client({ connectionString: o.databaseUrl, application_name: "embedded-memory-floor", connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
  const fail = (e: Error) => o.onError?.(e);
  client.on("error", fail);
  await client.connect();
  let cursor = (await client.query<{ seq: string }>(`SELECT coalesce(max(seq), 0)::text AS seq FROM ${SCHEMA}.changes`)).rows[0]!.seq;
  let pulls = 0;
  let pulling = false;
  let again = false;
  const pull = async (): Promise<void> => {
    if (pulling) return void (again = true);
    pulling = true;
    try {
      do {
        again = false;
        const { rows } = await client.query<PulledRow>(PULL_SQL, [cursor]);
        if (rows.length) {
          apply(rows);
          cursor = rows[rows.length - 1]!.seq;
        }
        pulls++;
        o.onPulled?.();
      } while (again);
    } finally {
      pulling = false;
    }
  };
  client.on("notification", () => void pull().catch(fail));
  await client.query(`LISTEN ${CHANGE_CHANNEL}`);
  return {
    hasRow: (id) => one.get(id) !== undefined,
    rows: () => count.get() as number,
    pulls: () => pulls,
    pulling: () => pulling,
    stop: async () => {
      if (!db.open) return;
      db.close();
      await client.end().catch(() => undefined);
    },
  };
}
