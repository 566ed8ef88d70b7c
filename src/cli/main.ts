/**
 * The command line: the only place that reads argv and the environment, and the only one
 * that handles signals. Exit codes: 0 ok, 1 failed (or: replica differs), 2 bad usage or
 * configuration.
 *
 * Start-up matters (`--help` in well under 0.5 s): this file loads only the parser, the
 * command table and the help texts. The configuration (effect/Schema) and a command's
 * implementation (the library, pg, better-sqlite3, pino) are imported when a command runs.
 */
import type { Env } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { parseCommandLine, UsageError, type CommandLine } from "./args.ts";
import { commands } from "./commands.ts";
import { commandHelp, overview, usage } from "./help.ts";

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export async function main(argv: readonly string[], processEnv: Env, io: Io = defaultIo): Promise<number> {
  let line: CommandLine;
  try {
    line = await parseCommandLine(argv, commands);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const hint = e.command ? `${usage(e.command)}\nRun 'embedded-memory ${e.command.name} --help' for more.` : overview(commands);
    io.err(`error: ${e.message}\n\n${hint}`);
    return 2;
  }
  const { command } = line;
  if (line.help) {
    io.out(command ? commandHelp(command) : overview(commands));
    return 0;
  }
  if (!command) {
    io.err(overview(commands));
    return 2;
  }

  const env: Env = { ...processEnv, ...line.env };
  const { ConfigError, loadConfig, scrub, secretsOf } = await import("../schema/config.ts");
  let secrets: readonly string[] = [];
  let logger: Logger | undefined;
  try {
    if (command.config === "none") return await command.run({ env, operands: line.operands, out: io.out });
    const config = loadConfig(env);
    if (!config.databaseUrl && command.config(line.flags) === "master") {
      throw new ConfigError("DATABASE_URL", "is not set; give the master Postgres URL (postgres://user:password@host:port/database)");
    }
    secrets = secretsOf(config);
    const { createLogger } = await import("../observability/logger.ts");
    logger = createLogger({ level: config.logLevel, secrets });
    return await command.run({ config, logger, flags: line.flags, operands: line.operands, out: io.out });
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`error: ${e.message}`);
      return 2;
    }
    io.err(`error: ${scrub(e instanceof Error ? e.message : String(e ?? "unknown error"), secrets)}`);
    logger?.debug({ err: e }, "command failed");
    // Bad input (a --limit that is not a number) is a usage error, found by the shared input schema.
    return (e as { _tag?: string } | undefined)?._tag === "InvalidInputError" ? 2 : 1;
  }
}
