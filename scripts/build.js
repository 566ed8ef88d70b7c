#!/usr/bin/env node
/**
 * `npm run build`: src/ → dist/ (JavaScript and .d.ts by tsc, then every file tsc does not
 * emit — inspector assets, the WebAssembly kernel, anything added later — copied to the same
 * relative path, because the code reads them next to itself via import.meta.url).
 *
 * dist/ is emptied first so that a source that was moved or deleted never ships a stale copy.
 * `--unless-packing` (used by `prepare`): `npm pack`/`npm publish` run both `prepack` and
 * `prepare`, and prepack has already built, so the second build is skipped there.
 */
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const SRC = path.join(ROOT, "src");
const DIST = path.join(ROOT, "dist");

if (process.argv.includes("--unless-packing") && ["pack", "publish"].includes(process.env.npm_command ?? "")) process.exit(0);

rmSync(DIST, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const result = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
if (result.status !== 0) {
  console.error("build: tsc failed; dist/ is incomplete");
  process.exit(result.status ?? 1);
}

let copied = 0;
for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith(".ts")) continue;
  const from = path.join(entry.parentPath, entry.name);
  cpSync(from, path.join(DIST, path.relative(SRC, from)));
  copied++;
}
console.log(`build: dist/ written (${copied} asset file${copied === 1 ? "" : "s"} copied from src/)`);
