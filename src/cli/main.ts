/**
 * The command line: the only place that reads argv and the environment, and the only one
 * that handles signals. Exit codes: 0 ok, 1 failed (or: replica differs), 2 bad usage or
 * configuration.
 */
import { ConfigError, ENV_VARS, loadConfig, scrub, secretsOf, type Config, type Env } from "../schema/config.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";
import { runMigrate } from "./migrate.ts";
import { printStats } from "./stats.ts";
import { DEFAULT_INSPECT_URL, runServe } from "./serve.ts";
import { progressReporter } from "./progress.ts";
import { runSearch } from "./search.ts";
import { runDemo } from "./demo.ts";

const HELP: Record<string, string> = {
  "": `embedded-memory — a local SQLite replica of the agents' memory table in Postgres

Usage: embedded-memory <command> [flags]

Commands:
  migrate [--print]            install (or print) the master objects, idempotently
  serve                        sync and serve HTTP until SIGINT/SIGTERM
  sync [--full] [--json]       one-shot: connect, pull until caught up, exit
  stats [--json]               the replica's stats, from the local file
  verify [--json] [--repair]   compare master and replica row by row (exit 1 if different)
  search <query> [--limit N] [--type T] [--tenant UUID] [--json]
                               search the local replica (no master needed)
  demo                         what \`npm start\` runs: a local master, sample data, replica, HTTP
  demo write <text>            write a memory on the demo's master (from a second terminal)

Every setting is an environment variable and also a flag: DATABASE_URL is --database-url,
SYNC_INTERVAL_MS is --sync-interval-ms, and so on (see README.md, Configuration).
Run 'embedded-memory <command> --help' for one command.`,
  migrate: "embedded-memory migrate [--print]\n  Installs the embedded_memory schema, changelog and triggers on the master (and the memory\n  table when it is missing). Idempotent. --print shows the SQL instead of running it.",
  serve:
    "embedded-memory serve [--inspect[=ws://host:port]]\n  Syncs the replica and serves HTTP on HOST:PORT until SIGINT/SIGTERM, then shuts down gracefully.\n  --inspect also sends the machines' events to a Stately inspector (default ws://127.0.0.1:8080);\n  off unless asked for, and it never keeps the process alive.",
  sync: "embedded-memory sync [--full] [--json]\n  One-shot sync: copy the table if the replica has no complete copy (or with --full), then\n  pull every change; exit 0 when caught up, 1 on failure. --json prints {applied, total_memories, duration_ms}.",
  stats: "embedded-memory stats [--json]\n  Prints the /memory/stats object, read from the local replica file (no master needed).",
  demo: "embedded-memory demo | demo write <text>\n  Starts an embedded Postgres master in ./data (reused next time; EMBEDDED_MEMORY_DEMO_DIR moves\n  it), seeds ~1,000 sample memories, runs the replica and HTTP on HOST:PORT, prints the URLs and an\n  API key. 'demo write' inserts a memory on that master so you can watch it arrive.",
  search:
    "embedded-memory search <query> [--limit N] [--type T] [--tenant UUID] [--json]\n  Hybrid full-text + vector search over the local file (vectors need EMBEDDING_PROVIDER for the\n  query). --limit 1..100 (default 10), --type filters on memory_type, --tenant on tenant_id.",
  verify: "embedded-memory verify [--json] [--repair]\n  Compares the master's replicated rows with the replica's (count and per-row content hash).\n  Exit 0 identical, 1 different. --repair applies the master's state where they differ.",
};

const COMMAND_FLAGS: Record<string, readonly string[]> = {
  migrate: ["print"],
  serve: ["inspect"],
  sync: ["full", "json"],
  stats: ["json"],
  verify: ["json", "repair"],
  search: ["json"],
  demo: [],
};

/** Flags that take a value, by command. */
const COMMAND_VALUES: Record<string, readonly string[]> = { search: ["limit", "type", "tenant"] };

export interface ParsedArgs {
  readonly command: string;
  readonly positional: string[];
  readonly switches: Set<string>;
  readonly values: Record<string, string>;
  readonly env: Record<string, string>;
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const byFlag = new Map(ENV_VARS.map((v) => [v.toLowerCase().replace(/_/g, "-"), v]));
  byFlag.set("path", "EMBEDDED_MEMORY_PATH");
  const positional: string[] = [];
  const switches = new Set<string>();
  const values: Record<string, string> = {};
  const env: Record<string, string> = {};
  const command = argv.find((a) => !a.startsWith("--")) ?? "";
  const valueFlags = COMMAND_VALUES[command] ?? [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const variable = byFlag.get(name);
    if (variable || valueFlags.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      if (variable) env[variable] = value;
      else values[name] = value;
    } else if (inline === undefined) switches.add(name);
    else if (name === "inspect") (switches.add(name), (values.inspect = inline));
    else throw new UsageError(`unknown flag --${name}`);
  }
  return { command, positional: positional.slice(1), switches, values, env };
}

interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export async function main(argv: readonly string[], processEnv: Env, io: Io = defaultIo): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    io.err(`error: ${(e as Error).message}\n\n${HELP[""]}`);
    return 2;
  }
  const { command, switches } = args;
  if (command === "" || command === "help") {
    io.out(HELP[""]!);
    return command === "" && !switches.has("help") ? 2 : 0;
  }
  if (!(command in COMMAND_FLAGS)) {
    io.err(`error: unknown command '${command}'\n\n${HELP[""]}`);
    return 2;
  }
  if (switches.has("help")) {
    io.out(HELP[command]!);
    return 0;
  }
  const unknown = [...switches].filter((s) => !COMMAND_FLAGS[command]!.includes(s));
  if (unknown.length) {
    io.err(`error: ${command} does not take --${unknown.join(", --")}\n\n${HELP[command]}`);
    return 2;
  }

  if (command === "demo") {
    try {
      return await runDemo(args.positional, { ...processEnv, ...args.env }, io.out);
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(`error: ${e.message}`);
        return 2;
      }
      const message = e instanceof Error ? e.message : String(e ?? "unknown error");
      io.err(`error: ${/EADDRINUSE/.test(message) ? `${message} (set PORT to another port)` : message}`);
      return 1;
    }
  }

  let config: Config;
  try {
    config = loadConfig({ ...processEnv, ...args.env });
    if (!config.databaseUrl && command !== "stats" && command !== "search" && !(command === "migrate" && switches.has("print"))) {
      throw new ConfigError("DATABASE_URL", "is not set; give the master Postgres URL (postgres://user:password@host:port/database)");
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`error: ${e.message}`);
      return 2;
    }
    throw e;
  }

  const secrets = secretsOf(config);
  const logger = createLogger({ level: config.logLevel, secrets });
  try {
    if (command === "search") {
      if (args.positional.length === 0) {
        io.err(`error: search needs a query\n\n${HELP.search}`);
        return 2;
      }
      return await runSearch(config, logger, args.positional.join(" "), args.values, switches.has("json"), io.out);
    }
    return await runCommand(command, switches, args.values, config, logger, io);
  } catch (e) {
    const message = scrub(e instanceof Error ? e.message : String(e), secrets);
    io.err(`error: ${message}`);
    logger.debug({ err: e }, "command failed");
    return (e as { _tag?: string })._tag === "SearchInputError" ? 2 : 1;
  }
}

async function runCommand(command: string, switches: Set<string>, values: Record<string, string>, config: Config, logger: Logger, io: Io): Promise<number> {
  const json = switches.has("json");
  switch (command) {
    case "migrate":
      return runMigrate(config, logger, switches.has("print"), io.out);
    case "stats":
      return printStats(config, json, io.out);
    case "serve":
      return runServe(config, logger, switches.has("inspect") ? (values.inspect ?? DEFAULT_INSPECT_URL) : undefined);
    case "sync": {
      const memory = new EmbeddedMemory(config, { logger });
      const progress = json ? undefined : progressReporter("copying");
      try {
        const r = await memory.syncOnce({ full: switches.has("full"), onProgress: progress?.update });
        progress?.done();
        io.out(json ? JSON.stringify(r) : `synced: ${r.applied} rows applied, ${r.total_memories} memories in the replica (${r.duration_ms} ms)`);
        return 0;
      } finally {
        progress?.done();
        await memory.stop();
      }
    }
    case "verify": {
      const memory = new EmbeddedMemory(config, { logger });
      try {
        let r = await memory.verify({ repair: switches.has("repair") });
        // After a repair, check again: the answer is about the replica as it is now.
        if (r.repaired > 0) r = { ...(await memory.verify()), repaired: r.repaired };
        if (json) io.out(JSON.stringify(r));
        else {
          io.out(`master: ${r.master_count} rows, replica: ${r.replica_count} rows — ${r.identical ? "identical" : "DIFFERENT"}`);
          for (const [label, ids] of [["missing in replica", r.missing], ["extra in replica", r.extra], ["different", r.different]] as const) {
            if (ids.length) io.out(`  ${label}: ${ids.join(", ")}`);
          }
          if (r.repaired) io.out(`repaired ${r.repaired} rows`);
        }
        return r.identical ? 0 : 1;
      } finally {
        await memory.stop();
      }
    }
  }
  return 2;
}
