import { readFileSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { runCli } from "./support/cli.ts";
import { flagOf, parseCommandLine, UsageError } from "../src/cli/args.ts";
import { commands, DEFAULT_INSPECT_URL } from "../src/cli/commands.ts";
import { main } from "../src/cli/main.ts";
import { ENV_VARS } from "../src/schema/config.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";

const parse = (...argv: string[]) => parseCommandLine(argv, commands);

/** main() in this process, with its output captured. */
async function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, env, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

async function usageError(...argv: string[]): Promise<UsageError> {
  const e = await parse(...argv).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UsageError);
  return e as UsageError;
}

describe("CLI arguments", () => {
  test("A setting flag is read before or after the command, as --x v or --x=v, and the command's own flags anywhere.", async () => {
    for (const argv of [
      ["--path", "x.db", "stats", "--json"],
      ["stats", "--json", "--path", "x.db"],
      ["--json", "--path=x.db", "stats"],
    ]) {
      const line = await parse(...argv);
      expect(line.command?.name).toBe("stats");
      expect(line.env).toEqual({ EMBEDDED_MEMORY_PATH: "x.db" });
      expect(line.flags).toEqual({ json: true });
      expect(line.help).toBe(false);
    }
    const sync = await parse("--database-url=postgres://u:p@h/db", "sync", "--sync-interval-ms", "50", "--full");
    expect(sync.env).toEqual({ DATABASE_URL: "postgres://u:p@h/db", SYNC_INTERVAL_MS: "50" });
    expect(sync.flags).toEqual({ full: true });
  });

  test("Every environment variable is a flag, and of --path and --embedded-memory-path the last one given wins.", async () => {
    for (const variable of ENV_VARS) {
      expect((await parse("stats", `--${flagOf(variable)}`, "v")).env).toEqual({ [variable]: "v" });
    }
    expect((await parse("--path", "a.db", "stats", "--embedded-memory-path=b.db")).env).toEqual({ EMBEDDED_MEMORY_PATH: "b.db" });
    expect((await parse("--embedded-memory-path", "a.db", "stats", "--path", "b.db")).env).toEqual({ EMBEDDED_MEMORY_PATH: "b.db" });
  });

  test("No command's flag has the name of a setting flag, so the two can never be confused.", () => {
    const settings = new Set([...ENV_VARS.map(flagOf), "path"]);
    for (const c of commands.values()) for (const name of Object.keys(c.flags)) expect(settings.has(name), `${c.name} --${name}`).toBe(false);
  });

  test("search takes its value flags and a query of several words; after -- every word is part of the query.", async () => {
    const line = await parse("search", "green", "tea", "--limit", "3", "--type=semantic", "--tenant", "00000000-0000-0000-0000-000000000001", "--json");
    expect(line.operands).toEqual(["green", "tea"]);
    expect(line.flags).toEqual({ limit: "3", type: "semantic", tenant: "00000000-0000-0000-0000-000000000001", json: true });
    const literal = await parse("search", "--limit", "2", "--", "--json", "-h");
    expect(literal.operands).toEqual(["--json", "-h"]);
    expect(literal.flags).toEqual({ limit: "2" });
    expect(literal.help).toBe(false);
  });

  test("A bare --inspect means the default inspector, --inspect=URL that URL, and a URL after a space is refused.", async () => {
    expect((await parse("serve", "--inspect")).flags).toEqual({ inspect: DEFAULT_INSPECT_URL });
    expect((await parse("--inspect", "serve")).flags).toEqual({ inspect: DEFAULT_INSPECT_URL });
    expect((await parse("serve", "--inspect=ws://127.0.0.1:9999")).flags).toEqual({ inspect: "ws://127.0.0.1:9999" });
    expect((await parse("serve")).flags).toEqual({});
    expect((await usageError("serve", "--inspect", "ws://127.0.0.1:9999")).message).toMatch(/unexpected argument 'ws:\/\/127\.0\.0\.1:9999' .*--inspect=URL/);
  });

  test("Unknown flags, flags of another command, missing values and values on a switch are usage errors that name the flag.", async () => {
    expect(await usageError("sync", "--fast")).toMatchObject({ message: "unknown flag --fast", command: { name: "sync" } });
    expect(await usageError("--fast=1", "sync")).toMatchObject({ message: "unknown flag --fast", command: { name: "sync" } });
    expect(await usageError("stats", "-x")).toMatchObject({ message: "unknown flag -x", command: { name: "stats" } });
    expect(await usageError("stats", "--full")).toMatchObject({ message: "stats does not take --full", command: { name: "stats" } });
    expect(await usageError("stats", "--path")).toMatchObject({ message: "--path needs a value", command: { name: "stats" } });
    expect((await usageError("search", "tea", "--limit", "--json")).message).toMatch(/^--limit needs a value/);
    expect(await usageError("stats", "--json=yes")).toMatchObject({ message: "--json takes no value" });
    expect(await usageError("stats", "extra")).toMatchObject({ message: "unexpected argument 'extra'" });
    expect(await usageError("search")).toMatchObject({ message: "search needs a query" });
    expect(await usageError("demo", "wirte", "hi")).toMatchObject({ message: expect.stringMatching(/^unexpected argument 'wirte'/) });
    expect(await usageError("frobnicate")).toMatchObject({ message: "unknown command 'frobnicate'", command: undefined });
  });

  test("--help, -h and 'help <command>' ask for help anywhere on the line, for the overview or one command, and no flag that exists nowhere.", async () => {
    expect(await parse("--help")).toMatchObject({ help: true, command: undefined });
    expect(await parse("help")).toMatchObject({ help: true, command: undefined });
    expect(await parse("verify", "--help")).toMatchObject({ help: true, command: { name: "verify" } });
    expect(await parse("-h", "search")).toMatchObject({ help: true, command: { name: "search" } });
    expect(await parse("help", "serve")).toMatchObject({ help: true, command: { name: "serve" } });
    expect(await parse("--path", "x.db", "stats", "--full", "extra", "-h")).toMatchObject({ help: true, command: { name: "stats" } });
    // Help ignores what the command would refuse, but a flag that exists nowhere is still a typo.
    expect(await usageError("stats", "--bogus", "x", "--help")).toMatchObject({ message: "unknown flag --bogus", command: { name: "stats" } });
  });
});

describe("CLI usage and help output", () => {
  test("A usage error prints one error line naming the flag, then the command's usage, on stderr, with exit code 2.", async () => {
    const r = await run(["sync", "--fast"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const [first, blank, usage] = r.stderr.split("\n");
    expect(first).toBe("error: unknown flag --fast");
    expect(blank).toBe("");
    expect(usage).toBe("Usage: embedded-memory sync [--full] [--json]");

    const unknown = await run(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: unknown command 'frobnicate'\n\n.*\n\nUsage: embedded-memory <command>/);
  });

  test("--help prints the overview on stdout (exit 0); no command prints it on stderr (exit 2).", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
    for (const c of commands.values()) expect(help.stdout).toContain(`  ${c.name}`);
    expect(help.stdout).toMatch(/--path FILE is short for\s+--embedded-memory-path/);
    expect((await run(["help"])).stdout).toBe(help.stdout);
    const none = await run([]);
    expect(none).toMatchObject({ code: 2, stdout: "", stderr: help.stdout });
  });

  test("Each command's --help prints its usage, description and flags, with exit code 0.", async () => {
    for (const c of commands.values()) {
      const r = await run([c.name, "--help"]);
      expect(r.code, c.name).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: embedded-memory ${c.name}`));
      for (const flag of Object.keys(c.flags)) expect(r.stdout).toContain(`--${flag}`);
    }
    expect((await run(["search", "--help"])).stdout).toMatch(/^Usage: embedded-memory search <query> \[--limit N\] \[--type T\] \[--tenant UUID\] \[--json\]$/m);
    expect((await run(["verify", "-h"])).stdout).toMatch(/^Usage: embedded-memory verify \[--json\] \[--repair\]$/m);
  });

  test("Bad configuration given as a flag is one line naming the variable, with exit code 2.", async () => {
    const r = await run(["--port", "abc", "stats"]);
    expect(r).toMatchObject({ code: 2, stdout: "", stderr: 'error: PORT: expected a whole number, got "abc"' });
  });

  test("main.ts loads only the parser, the command table and the help texts; everything else is imported when a command runs.", () => {
    const cli = path.resolve(import.meta.dirname, "../src/cli");
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, "utf8");
      // Static value imports only: `import type` and `await import()` load nothing at start-up.
      for (const m of source.matchAll(/^import\s+(?!type\b)(?:[^;]*?\sfrom\s+)?"([^"]+)";/gms)) {
        const specifier = m[1]!;
        if (specifier.startsWith("node:")) continue;
        expect(specifier, `${path.basename(file)} imports ${specifier}`).toMatch(/^\.\//);
        visit(path.resolve(path.dirname(file), specifier));
      }
    };
    visit(path.join(cli, "main.ts"));
    expect([...seen].map((f) => path.relative(cli, f)).sort()).toEqual(["args.ts", "commands.ts", "help.ts", "main.ts"]);
  });

  test("The real CLI reads --path before the command: 'embedded-memory --path <file> stats --json' prints the file's stats.", async ({ tmp }) => {
    const file = path.join(tmp, "x.db");
    makeLocalStore(file).close();
    const r = await runCli(["--path", file, "stats", "--json"], {});
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ local_db_path: file, total_memories: 0, state: "empty" });
    const after = await runCli(["stats", "--json", `--path=${file}`], {});
    expect(after.code).toBe(0);
  });
});
