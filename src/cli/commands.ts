/**
 * The command table: what each command is called, what it takes and how it runs. It is
 * loaded on every start, `--help` included, so it imports no implementation: each `run`
 * imports its own module when it is called (the library, effect, pg and better-sqlite3
 * load only for a command that needs them). A new command (`mcp`, `tables`, `get <table>
 * <key>`) is one more entry here.
 */
import type { Config, Env } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";

export interface FlagSpec {
  readonly type: "boolean" | "string";
  /** How the value is written in usage lines (`N`, `UUID`). */
  readonly value?: string;
  /**
   * A string flag that may also be given bare: then it means this value. The URL attaches
   * only with `=` (`--inspect=ws://…`), as for node's own --inspect.
   */
  readonly bare?: string;
  readonly help: string;
}

export type FlagValues = Readonly<Record<string, string | boolean | undefined>>;

interface Spec {
  readonly name: string;
  /** One line for the overview. */
  readonly summary: string;
  /** What follows the command name in the help: the operands and flags. */
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** How the operands are written in the usage line (`<query>`); none when absent. */
  readonly operands?: string;
  /** Usage lines and their summaries, when one line derived from operands and flags does not say it. */
  readonly forms?: readonly (readonly [usage: string, summary: string])[];
  /** A usage problem with the operands, or undefined when they are fine. */
  readonly checkOperands: (operands: readonly string[]) => string | undefined;
}

/** The demo reads the environment itself: it fills in its own master URL and keys. */
export interface EnvCommand extends Spec {
  readonly config: "none";
  readonly run: (ctx: { readonly env: Env; readonly operands: readonly string[]; readonly out: (t: string) => void }) => Promise<number>;
}

export interface ConfiguredCommand extends Spec {
  /** Whether this invocation talks to the master, and so needs DATABASE_URL. */
  readonly config: (flags: FlagValues) => "local" | "master";
  readonly run: (ctx: {
    readonly config: Config;
    readonly logger: Logger;
    readonly flags: FlagValues;
    readonly operands: readonly string[];
    readonly out: (t: string) => void;
  }) => Promise<number>;
}

export type CommandSpec = EnvCommand | ConfiguredCommand;

/** Where a Stately inspector listens by default (@statelyai/inspect's WebSocket server). */
export const DEFAULT_INSPECT_URL = "ws://127.0.0.1:8080";

const json = (what: string): FlagSpec => ({ type: "boolean", help: `print ${what} as JSON` });
const noOperands = (operands: readonly string[]) => (operands.length ? `unexpected argument '${operands[0]}'` : undefined);
const str = (v: string | boolean | undefined) => (typeof v === "string" ? v : undefined);

// Identity functions: they give each entry's `run` its parameter types.
const configured = (c: ConfiguredCommand): CommandSpec => c;
const fromEnv = (c: EnvCommand): CommandSpec => c;

const COMMANDS: readonly CommandSpec[] = [
  configured({
    name: "migrate",
    summary: "install (or print) the master objects, idempotently",
    description:
      "Installs the embedded_memory schema, changelog and triggers on the master (and the memory\n" +
      "table when it is missing). Running it again changes nothing; an existing table is never altered.",
    flags: { print: { type: "boolean", help: "print the SQL instead of running it (no master needed)" } },
    checkOperands: noOperands,
    config: (flags) => (flags.print ? "local" : "master"),
    run: async ({ config, logger, flags, out }) => (await import("./migrate.ts")).runMigrate(config, logger, flags.print === true, out),
  }),
  configured({
    name: "serve",
    summary: "sync and serve HTTP until SIGINT/SIGTERM",
    description:
      "Syncs the replica and serves HTTP on HOST:PORT until SIGINT/SIGTERM, then shuts down\n" +
      "gracefully (a second signal stops at once).",
    flags: {
      inspect: {
        type: "string",
        value: "URL",
        bare: DEFAULT_INSPECT_URL,
        help: `also send the machines' events to a Stately inspector at URL (default\n${DEFAULT_INSPECT_URL}); off unless asked for, and it never keeps the process alive`,
      },
    },
    checkOperands: (operands) => (operands.length ? `unexpected argument '${operands[0]}' (an inspector URL is written --inspect=URL)` : undefined),
    config: () => "master",
    run: async ({ config, logger, flags }) => (await import("./serve.ts")).runServe(config, logger, str(flags.inspect)),
  }),
  configured({
    name: "mcp",
    summary: "an MCP server over stdio (for agents; logs go to stderr)",
    description:
      "Serves the memory tools over the Model Context Protocol on stdin/stdout, with the same\n" +
      "configuration as serve: the replica syncs and uploads in the background, and tools answer\n" +
      "from the local file at once (also while the master is away). stdout carries protocol\n" +
      "messages only. When stdin closes it stops, giving the outbox a short chance to upload.",
    flags: {},
    checkOperands: noOperands,
    config: () => "master",
    run: async ({ config, logger }) => (await import("./mcp.ts")).runMcp(config, logger),
  }),
  configured({
    name: "sync",
    summary: "one-shot: connect, pull until caught up, upload the outbox, exit",
    description:
      "Copies the table when the replica has no complete copy (or with --full), then pulls every\n" +
      "change and uploads the outbox. Exit 0 when caught up, 1 on failure. A progress line shows on a TTY.",
    flags: {
      full: { type: "boolean", help: "copy the whole table again, even over a complete copy" },
      json: json("{applied, total_memories, duration_ms}"),
    },
    checkOperands: noOperands,
    config: () => "master",
    run: async ({ config, logger, flags, out }) => (await import("./sync.ts")).runSync(config, logger, { full: flags.full === true, json: flags.json === true }, out),
  }),
  configured({
    name: "stats",
    summary: "the replica's stats, from the local file",
    description: "Prints the /memory/stats object, read from the replica file (EMBEDDED_MEMORY_PATH, --path);\nno master needed.",
    flags: { json: json("the whole stats object") },
    checkOperands: noOperands,
    config: () => "local",
    run: async ({ config, flags, out }) => (await import("./stats.ts")).printStats(config, flags.json === true, out),
  }),
  configured({
    name: "verify",
    summary: "compare master and replica row by row (exit 1 if different)",
    description:
      "Compares the master's replicated rows with the replica's (row count and per-row content hash)\n" +
      "and prints the differences. Exit 0 identical, 1 different.",
    flags: {
      json: json("the report"),
      repair: { type: "boolean", help: "apply the master's state where they differ, then compare again" },
    },
    checkOperands: noOperands,
    config: () => "master",
    run: async ({ config, logger, flags, out }) => (await import("./verify.ts")).runVerify(config, logger, { repair: flags.repair === true, json: flags.json === true }, out),
  }),
  configured({
    name: "search",
    summary: "search the local replica (no master needed)",
    description:
      "Hybrid full-text + vector search over the replica file (EMBEDDED_MEMORY_PATH, --path); no master\n" +
      "needed. Vectors need EMBEDDING_PROVIDER to embed the query. The words of <query> are joined.",
    operands: "<query>",
    flags: {
      limit: { type: "string", value: "N", help: "how many results, 1..100 (default 10)" },
      type: { type: "string", value: "T", help: "only memories of this memory_type" },
      tenant: { type: "string", value: "UUID", help: "only memories of this tenant_id" },
      json: json("the whole response"),
    },
    checkOperands: (operands) => (operands.length ? undefined : "search needs a query"),
    config: () => "local",
    run: async ({ config, logger, flags, operands, out }) => {
      const values: Record<string, string> = {};
      for (const k of ["limit", "type", "tenant"]) if (typeof flags[k] === "string") values[k] = flags[k];
      return (await import("./search.ts")).runSearch(config, logger, operands.join(" "), values, flags.json === true, out);
    },
  }),
  configured({
    name: "tables",
    summary: "every replicated table: rows, last sync, filter (from the local file)",
    description:
      "Lists the replicated tables, the memory table first: how many rows the replica holds, when\n" +
      "each last synced and its row filter. Read from the replica file (EMBEDDED_MEMORY_PATH, --path);\nno master needed.",
    flags: { json: json("{<table>: {master_table, key, rows, last_sync, cursor, filter, snapshot_complete}}") },
    checkOperands: noOperands,
    config: () => "local",
    run: async ({ config, flags, out }) => (await import("./tables.ts")).printTables(config, flags.json === true, out),
  }),
  configured({
    name: "get",
    summary: "one row of a replicated table, by key (from the local file)",
    description:
      "Prints the row of <table> (unified_ai_memory or a further replicated table) whose key is <key>,\n" +
      "as JSON, from the replica file; no master needed. Exit 1 when there is none, 2 for an unknown\n" +
      "table or a key not of the key column's type. A key that starts with '-' goes after '--'.",
    operands: "<table> <key>",
    flags: { json: { type: "boolean", help: "print the row as one line of JSON, and nothing else" } },
    checkOperands: (operands) => (operands.length < 2 ? "get needs a table and a key" : operands.length > 2 ? `unexpected argument '${operands[2]}'` : undefined),
    config: () => "local",
    run: async ({ config, flags, operands, out }) => (await import("./tables.ts")).printRow(config, operands[0]!, operands[1]!, flags.json === true, out),
  }),
  fromEnv({
    name: "demo",
    summary: "what `npm start` runs: a local master, sample data, replica, HTTP",
    description:
      "Starts an embedded Postgres master in ./data (reused next time; EMBEDDED_MEMORY_DEMO_DIR moves\n" +
      "it), seeds ~1,000 sample memories, runs the replica and HTTP on HOST:PORT, and prints the URLs and\n" +
      "an API key. 'demo write <text>' inserts a memory on that master, from a second terminal, so you\n" +
      "can watch it arrive in the replica.",
    flags: {},
    forms: [
      ["demo", "what `npm start` runs: a local master, sample data, replica, HTTP"],
      ["demo write <text>", "write a memory on the demo's master (from a second terminal)"],
      ["demo task <title>", "write a pending task on the demo's master (replicated to ai_autonomous_tasks)"],
    ],
    checkOperands: (operands) =>
      operands.length && operands[0] !== "write" && operands[0] !== "task" ? `unexpected argument '${operands[0]}' (did you mean 'demo write ${operands.join(" ")}'?)` : undefined,
    config: "none",
    run: async ({ env, operands, out }) => {
      try {
        return await (await import("./demo.ts")).runDemo(operands, env, out);
      } catch (e) {
        if (e instanceof Error && /EADDRINUSE/.test(e.message)) e.message = `${e.message} (set PORT to another port)`;
        throw e;
      }
    },
  }),
];

export const commands: ReadonlyMap<string, CommandSpec> = new Map(COMMANDS.map((c) => [c.name, c]));
