/**
 * Runs the real CLI as a child process, from the sources (scripts/embedded-memory.js, through
 * tsx) so that tests never need, or silently run a stale, dist/. test/package.test.ts runs the
 * built bin.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const CLI_ENTRY = path.resolve(import.meta.dirname, "../../scripts/embedded-memory.js");

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A clean environment: only what the test passes, plus PATH/HOME. */
export function cliEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "warn", ...vars };
}

export function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI_ENTRY, ...args], { env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
}

export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
