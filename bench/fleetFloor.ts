/**
 * Child-process entry for the fleet benchmark's floor (bench/fleet.ts, bench/fleetBaseline.ts):
 * the least a replica process can do to hold a commit, measured beside the real replicas on the
 * same machine in the same run. One pg client, LISTEN on the change channel, and for each
 * notification ONE query (the changelog rows after the last seen seq, joined to the table) and
 * ONE SQLite transaction upserting what it returned; a notification during a query makes one
 * follow-up. No pool, no state machine, no Effect, no metrics, no snapshot, no deadlines — and
 * not correct (a seq cursor misses late commits; deletes are not applied): it is a floor, not a
 * replica. It speaks the fleet's IPC protocol (watch → seen, stats, stop) as fleetReplica.ts
 * does and looks after each pull alike, so the two are timed the same way.
 */
import Database from "better-sqlite3";
import pg from "pg";
import { CHANGE_CHANNEL, SCHEMA } from "../src/master/masterSql.ts";
import { monotonicMs, type FleetCommand, type FleetReply } from "./fleetProtocol.ts";

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

let client: pg.Client | undefined;
let db: Database.Database | undefined;
let apply: ((rows: PulledRow[]) => void) | undefined;
let hasRow: ((id: string) => boolean) | undefined;
let cursor = "0";
let pulls = 0;
let pulling = false;
let again = false;
const watched = new Set<string>();

const send = (reply: FleetReply) => process.send!(reply);

function look(): void {
  for (const id of watched) {
    if (!hasRow!(id)) continue;
    watched.delete(id);
    send({ kind: "seen", id, atMs: monotonicMs() });
  }
}

async function pull(): Promise<void> {
  if (pulling) return void (again = true);
  pulling = true;
  try {
    do {
      again = false;
      const { rows } = await client!.query<PulledRow>(PULL_SQL, [cursor]);
      if (rows.length) {
        apply!(rows);
        cursor = rows[rows.length - 1]!.seq;
      }
      pulls++;
      look();
    } while (again);
  } finally {
    pulling = false;
  }
}

async function handle(cmd: FleetCommand): Promise<FleetReply | null> {
  switch (cmd.kind) {
    case "init": {
      db = new Database(cmd.config.localPath);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec("CREATE TABLE IF NOT EXISTS memory (id TEXT PRIMARY KEY, content TEXT, search_text TEXT, importance_score REAL, created_at TEXT)");
      const upsert = db.prepare(
        "INSERT INTO memory (id, content, search_text, importance_score, created_at) VALUES (@id, @content, @search_text, @importance_score, @created_at) ON CONFLICT (id) DO UPDATE SET content = excluded.content, search_text = excluded.search_text, importance_score = excluded.importance_score, created_at = excluded.created_at",
      );
      apply = db.transaction((rows: PulledRow[]) => {
        for (const { seq: _seq, ...row } of rows) upsert.run(row);
      });
      const one = db.prepare("SELECT 1 FROM memory WHERE id = ?").pluck();
      hasRow = (id) => one.get(id) !== undefined;
      client = new pg.Client({ connectionString: cmd.config.databaseUrl, application_name: "embedded-memory-floor" });
      client.on("error", (e) => send({ kind: "failed", error: e.message }));
      await client.connect();
      // Start after what the master holds now: the floor makes no first copy.
      cursor = (await client.query<{ seq: string }>(`SELECT coalesce(max(seq), 0)::text AS seq FROM ${SCHEMA}.changes`)).rows[0]!.seq;
      client.on("notification", () => void pull().catch((e: Error) => send({ kind: "failed", error: e.message })));
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      return { kind: "ready", pid: process.pid };
    }
    case "watch":
      watched.add(cmd.id);
      send({ kind: "watching", id: cmd.id });
      look();
      return null;
    case "awaitCount":
      return { kind: "failed", error: "the floor replica makes no copy: it cannot count rows" };
    case "stats":
      return { kind: "stats", totalPulls: pulls, state: pulling ? "pulling" : "idle", rows: (db!.prepare("SELECT count(*) FROM memory").pluck().get() as number) ?? 0, readFallbacks: null };
    case "stop":
      await client?.end().catch(() => undefined);
      db?.close();
      return { kind: "stopped" };
  }
}

process.on("message", (cmd: FleetCommand) => {
  handle(cmd)
    .catch((e: unknown): FleetReply => ({ kind: "failed", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
    .then((reply) => {
      if (reply) send(reply);
      if (reply?.kind === "stopped") process.disconnect();
    });
});
process.on("disconnect", () => {
  void (client?.end() ?? Promise.resolve()).finally(() => {
    db?.close();
    process.exit(0);
  });
});
