/** The help texts, written from the command table and ENV_VARS so they cannot drift from them. */
import type { CommandSpec, FlagSpec } from "./commands.ts";

const BIN = "embedded-memory";

function flagSyntax(name: string, spec: FlagSpec): string {
  if (spec.type === "boolean") return `--${name}`;
  return spec.bare !== undefined ? `--${name}[=${spec.value}]` : `--${name} ${spec.value}`;
}

/** The usage lines of one command (without the program name), each with its summary. */
function forms(c: CommandSpec): readonly (readonly [string, string])[] {
  if (c.forms) return c.forms;
  const parts = [c.name, ...(c.operands ? [c.operands] : []), ...Object.entries(c.flags).map(([n, s]) => `[${flagSyntax(n, s)}]`)];
  return [[parts.join(" "), c.summary]];
}

export function usage(c: CommandSpec): string {
  return forms(c)
    .map(([f], i) => `${i === 0 ? "Usage:" : "      "} ${BIN} ${f}`)
    .join("\n");
}

const SETTINGS_NOTE = `Settings (DATABASE_URL, EMBEDDED_MEMORY_PATH, …) are flags too, before or after the command;\nsee '${BIN} --help'.`;

export function commandHelp(c: CommandSpec): string {
  const flags = Object.entries(c.flags).map(([n, s]) => [flagSyntax(n, s), s.help] as const);
  const width = Math.max(0, ...flags.map(([f]) => f.length)) + 3;
  const flagLines = flags.map(([f, h]) => `  ${f.padEnd(width)}${h.replace(/\n/g, `\n  ${" ".repeat(width)}`)}`);
  return [usage(c), "", c.description, ...(flagLines.length ? ["", "Flags:", ...flagLines] : []), "", SETTINGS_NOTE].join("\n");
}

export function overview(commands: ReadonlyMap<string, CommandSpec>): string {
  // A usage too long for the column puts its summary on the next line.
  const lines = [...commands.values()].flatMap(forms).map(([f, s]) => (f.length > 28 ? `  ${f}\n  ${" ".repeat(29)}${s}` : `  ${f.padEnd(29)}${s}`));
  return `${BIN} — a local SQLite replica of the agents' memory table in Postgres

Usage: ${BIN} <command> [flags]

Commands:
${lines.join("\n")}

Settings: every environment variable in README.md's Configuration table is also a flag, accepted
before or after the command, and a flag wins over the variable. The name says which: DATABASE_URL
is --database-url, SYNC_INTERVAL_MS is --sync-interval-ms; --path FILE is short for
--embedded-memory-path. Each takes a value: --database-url URL or --database-url=URL.

Run '${BIN} <command> --help' (or '${BIN} help <command>') for one command.`;
}
