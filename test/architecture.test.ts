/**
 * The layout's rules (DESIGN.md, "Where the code goes"): dependency-cruiser finds no violation
 * in src/, and the same rules do catch deliberate violations; nothing below the CLI reads the
 * environment or argv.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const CONFIG = path.join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = path.join(ROOT, "node_modules/.bin/depcruise");
const run = promisify(execFile);

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

/** Runs dependency-cruiser on `cwd`'s src/ with the project's rules and returns what it found. */
async function cruise(cwd: string): Promise<Violation[]> {
  const out = await run(DEPCRUISE, ["src", "--config", CONFIG, "--output-type", "json"], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch((e: { stdout?: string }) => {
    // depcruise exits non-zero when it finds violations; the JSON report is still on stdout.
    if (e.stdout) return { stdout: e.stdout };
    throw e;
  });
  return (JSON.parse(out.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe("dependency rules", () => {
  test("The source tree follows every rule.", async () => {
    const violations = await cruise(ROOT);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  test("The rules catch a machine importing a service, http reaching past the root, a service importing the runtime, and a type-only cycle.", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "em-deps-"));
    try {
      const file = (rel: string, text: string) => {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        writeFileSync(path.join(dir, rel), text);
      };
      file("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true } }));
      file("src/index.ts", 'export { x } from "./store/LocalStore.ts";\n');
      file("src/store/LocalStore.ts", "export const x = 1;\n");
      file("src/machines/syncMachine.ts", 'import { x } from "../store/LocalStore.ts";\nexport const m = x;\n');
      file("src/http/app.ts", 'import { x } from "../store/LocalStore.ts";\nexport const a = x;\n');
      file("src/search/Search.ts", 'import type { R } from "../runtime/embeddedMemory.ts";\nexport type S = R;\n');
      file("src/runtime/embeddedMemory.ts", "export type R = 1;\n");
      file("src/sync/a.ts", 'import type { B } from "./b.ts";\nexport type A = B | 1;\n');
      file("src/sync/b.ts", 'import type { A } from "./a.ts";\nexport type B = A | 2;\n');
      const found = new Set((await cruise(dir)).map((v) => `${v.rule.name} ${v.from}`));
      expect(found).toContain("machines-are-pure src/machines/syncMachine.ts");
      expect(found).toContain("adapters-use-the-package-root src/http/app.ts");
      expect(found).toContain("services-know-no-runtime src/search/Search.ts");
      expect(found).toContain("no-cycles src/sync/a.ts");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("configuration is read once, by the CLI", () => {
  test("Nothing in src/ outside src/cli/ reads process.env or process.argv.", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) {
          if (path.relative(ROOT, p) !== path.join("src", "cli")) walk(p);
        } else if (/\.(ts|js)$/.test(name)) {
          readFileSync(p, "utf8")
            .split("\n")
            .forEach((line, i) => {
              // Comments may name them (to say they are not read); code may not.
              if (/process\.(env|argv)\b/.test(line) && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`${path.relative(ROOT, p)}:${i + 1}`);
            });
        }
      }
    };
    walk(path.join(ROOT, "src"));
    expect(offenders).toEqual([]);
  });
});
