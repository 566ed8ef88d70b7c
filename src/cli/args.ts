/**
 * The command line, read by one `node:util` parseArgs call. Every setting in ENV_VARS is a
 * global string flag (DATABASE_URL ⇄ --database-url; --path is short for
 * --embedded-memory-path); global flags and --help/-h go anywhere on the line, before or
 * after the command; each command declares its own flags. Anything else is a UsageError
 * (exit 2) that names the flag.
 */
import { parseArgs } from "node:util";
import type { CommandSpec, FlagSpec, FlagValues } from "./commands.ts";

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage to show; none: the overview. */
    readonly command?: CommandSpec,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export interface CommandLine {
  /** Undefined when the line names no command. */
  readonly command: CommandSpec | undefined;
  readonly operands: readonly string[];
  /** The command's own flags. */
  readonly flags: FlagValues;
  /** Settings given as flags, by variable name; they win over the environment. */
  readonly env: Readonly<Record<string, string>>;
  /** --help, -h or `help [command]`: print help and run nothing. */
  readonly help: boolean;
}

export const flagOf = (variable: string): string => variable.toLowerCase().replace(/_/g, "-");

/**
 * Flag name → the variable it sets, derived from ENV_VARS so a new variable is a new flag.
 * Read from schema/envVars.ts, which imports nothing: schema/config.ts loads effect/Schema,
 * ~100 ms that `--help` need not pay (compiled, `--help` takes ~0.1 s without it, ~0.2 s with it).
 */
export async function settingFlags(): Promise<ReadonlyMap<string, string>> {
  const { ENV_VARS } = await import("../schema/envVars.ts");
  const flags = new Map<string, string>(ENV_VARS.map((v) => [flagOf(v), v]));
  flags.set("path", "EMBEDDED_MEMORY_PATH");
  return flags;
}

type Options = Record<string, { type: "boolean" | "string"; short?: string }>;

/** Every command's flags in one table, so a single parse reads them wherever they are. */
function commandOptions(commands: ReadonlyMap<string, CommandSpec>): Options {
  const options: Options = { help: { type: "boolean", short: "h" } };
  for (const c of commands.values()) {
    for (const [name, spec] of Object.entries(c.flags)) {
      const known = options[name];
      // One name, one meaning: otherwise the parse could not read it before knowing the command.
      if (known && (known.type !== spec.type || name === "help")) throw new Error(`cli: flag --${name} of ${c.name} clashes with another flag`);
      options[name] = { type: spec.type };
    }
  }
  return options;
}

/**
 * The other long flags on the line (before a `--`): settings, or mistakes. They go into the
 * option table as string options, so the one parse reads their values (`--x v`, `--x=v`) and
 * their missing values; afterwards each must turn out to be a setting. This way the settings
 * table is loaded only for a line that has settings on it.
 */
function otherFlags(args: readonly string[], options: Options): string[] {
  const end = args.indexOf("--");
  const names = (end < 0 ? args : args.slice(0, end)).filter((a) => a.startsWith("--") && a.length > 2).map((a) => a.slice(2).split("=")[0]!);
  return [...new Set(names)].filter((n) => !(n in options));
}

/**
 * parseArgs wants a value for a string option, so a bare `--inspect` is written as
 * `--inspect=<its default>` before the parse (only before a `--`, which ends the flags).
 * Then `--inspect ws://x` is a bare --inspect and a stray operand, reported as such,
 * rather than a URL silently taken or ignored.
 */
function expandBareFlags(argv: readonly string[], commands: ReadonlyMap<string, CommandSpec>): string[] {
  const bare = new Map<string, string>();
  for (const c of commands.values()) for (const [name, spec] of Object.entries(c.flags)) if (spec.bare !== undefined) bare.set(`--${name}`, spec.bare);
  const end = argv.indexOf("--");
  return argv.map((a, i) => (bare.has(a) && (end < 0 || i < end) ? `${a}=${bare.get(a)}` : a));
}

/** parseArgs's messages, in one line that names the flag. */
function describeParseError(e: { code?: string; message: string }): string {
  const flag = /'(-{1,2}[^' =<]+)/.exec(e.message)?.[1];
  if (!flag) return e.message.split("\n")[0]!;
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag ${flag}`;
  if (/does not take an argument/.test(e.message)) return `${flag} takes no value`;
  if (/ambiguous/.test(e.message)) return `${flag} needs a value (a value that starts with '-' is written ${flag}=-…)`;
  return `${flag} needs a value`;
}

export async function parseCommandLine(argv: readonly string[], commands: ReadonlyMap<string, CommandSpec>): Promise<CommandLine> {
  const args = expandBareFlags(argv, commands);
  const options = commandOptions(commands);
  const others = otherFlags(args, options);
  for (const name of others) options[name] = { type: "string" };
  const settings = others.length ? await settingFlags() : new Map<string, string>();
  const unknown = others.find((n) => !settings.has(n));

  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: Options; allowPositionals: true; strict: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (!err.code?.startsWith("ERR_PARSE_ARGS")) throw e;
    // Only to show the right usage: which command the line was meant for.
    const meant = parseArgs({ args, options, allowPositionals: true, strict: false }).positionals[0];
    throw new UsageError(unknown ? `unknown flag --${unknown}` : describeParseError(err), meant === undefined ? undefined : commands.get(meant));
  }

  let [name, ...operands] = parsed.positionals;
  let help = parsed.values.help === true;
  if (name === "help") {
    help = true;
    [name, ...operands] = operands;
  }
  const command = name === undefined ? undefined : commands.get(name);
  if (name !== undefined && !command) throw new UsageError(`unknown command '${name}'`);
  // A flag no command knows is refused even with --help (which ignores the rest): it is a typo.
  if (unknown) throw new UsageError(`unknown flag --${unknown}`, command);

  const env: Record<string, string> = {};
  const flags: Record<string, string | boolean> = {};
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || t.name === "help") continue;
    const variable = settings.get(t.name);
    // Tokens come in line order, so of --path and --embedded-memory-path the last one wins.
    if (variable) env[variable] = t.value!;
    else if (help) continue;
    else if (!command) throw new UsageError(`${t.rawName} is a command's flag, and no command was given`);
    else if (!(t.name in command.flags)) throw new UsageError(`${command.name} does not take ${t.rawName}`, command);
    else flags[t.name] = (command.flags[t.name] as FlagSpec).type === "string" ? t.value! : true;
  }
  if (command && !help) {
    const problem = command.checkOperands(operands);
    if (problem) throw new UsageError(problem, command);
  }
  return { command, operands, flags, env, help };
}
