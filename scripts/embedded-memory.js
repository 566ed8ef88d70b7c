#!/usr/bin/env node
// The CLI from the TypeScript sources, through tsx's loader: what `npm start` and the tests run,
// so neither depends on (or can be fooled by a stale) dist/. Same call as bin/embedded-memory.js.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2), process.env);
