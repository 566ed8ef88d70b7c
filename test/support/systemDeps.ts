/**
 * Tests that drive a program of the system (Debian's chromium, pgbouncer, promtool, openssl)
 * run when it is installed, and are skipped with one printed line naming the package when it
 * is not: `npm test` passes on a machine that has only Node and npm.
 *
 * EMBEDDED_MEMORY_REQUIRE_SYSTEM=1 turns a missing program into a failure instead. `.ci/run`
 * installs the programs and sets it, so CI never skips these tests quietly.
 *
 *   const hasChromium = requireSystem("the inspector test", SYSTEM.chromium);
 *   describe.skipIf(!hasChromium)("inspector", () => { ... });
 */
import { accessSync, constants } from "node:fs";

export const REQUIRE_SYSTEM_ENV = "EMBEDDED_MEMORY_REQUIRE_SYSTEM";

export interface SystemProgram {
  /** The Debian package that provides it. */
  readonly pkg: string;
  /** An executable that must exist... */
  readonly path?: string;
  /** ...or a check of its own (e.g. a version that must be recent enough). */
  readonly probe?: () => boolean;
}

/** The programs tests use, where Debian installs them. */
export const SYSTEM = {
  chromium: { pkg: "chromium", path: "/usr/bin/chromium" },
  pgbouncer: { pkg: "pgbouncer", path: "/usr/sbin/pgbouncer" },
  promtool: { pkg: "prometheus", path: "/usr/bin/promtool" },
  openssl: { pkg: "openssl", path: "/usr/bin/openssl" },
  sqlite3: { pkg: "sqlite3", path: "/usr/bin/sqlite3" },
} as const satisfies Record<string, SystemProgram>;

export interface RequireOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly warn?: (line: string) => void;
}

export const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Whether `program` is present. When it is not: prints one line and returns false, or throws
 * when EMBEDDED_MEMORY_REQUIRE_SYSTEM=1. Call it at module level, so the file is skipped (or
 * fails) before any Postgres starts.
 */
export function requireSystem(what: string, program: SystemProgram, options: RequireOptions = {}): boolean {
  const present = program.probe ? program.probe() : program.path !== undefined && isExecutable(program.path);
  if (present) return true;
  const install = `apt-get install ${program.pkg}`;
  const where = program.path ? ` (${program.path})` : "";
  if ((options.env ?? process.env)[REQUIRE_SYSTEM_ENV] === "1") {
    throw new Error(`${what} needs ${program.pkg}${where}, which is missing, and ${REQUIRE_SYSTEM_ENV}=1 makes that a failure: ${install}`);
  }
  (options.warn ?? console.warn)(`skipped: ${what} needs ${program.pkg} (${install})`);
  return false;
}
