#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx's loader, so there is no build step
// that could drift from the code the tests run.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2), process.env);
