import { describe, expect, test } from "vitest";
import { REQUIRE_SYSTEM_ENV, requireSystem } from "./support/systemDeps.ts";

const missing = { pkg: "chromium", path: "/nonexistent/usr/bin/chromium" };
const present = { pkg: "nodejs", path: process.execPath };

function run(program: { pkg: string; path?: string; probe?: () => boolean }, env: Record<string, string | undefined>) {
  const lines: string[] = [];
  const result = requireSystem("the inspector test", program, { env, warn: (l) => lines.push(l) });
  return { result, lines };
}

describe("requireSystem", () => {
  test("A program that is there is reported present, silently, whatever the variable says.", () => {
    expect(run(present, {})).toEqual({ result: true, lines: [] });
    expect(run(present, { [REQUIRE_SYSTEM_ENV]: "1" })).toEqual({ result: true, lines: [] });
    expect(run({ pkg: "x", probe: () => true }, { [REQUIRE_SYSTEM_ENV]: "1" })).toEqual({ result: true, lines: [] });
  });

  test("A missing program skips with one line naming the package to install.", () => {
    expect(run(missing, {})).toEqual({ result: false, lines: ["skipped: the inspector test needs chromium (apt-get install chromium)"] });
    expect(run({ pkg: "prometheus", probe: () => false }, { [REQUIRE_SYSTEM_ENV]: "0" })).toEqual({
      result: false,
      lines: ["skipped: the inspector test needs prometheus (apt-get install prometheus)"],
    });
  });

  test(`With ${REQUIRE_SYSTEM_ENV}=1 a missing program is a failure, not a skip.`, () => {
    const lines: string[] = [];
    expect(() => requireSystem("the inspector test", missing, { env: { [REQUIRE_SYSTEM_ENV]: "1" }, warn: (l) => lines.push(l) })).toThrow(
      /the inspector test needs chromium \(\/nonexistent\/usr\/bin\/chromium\), which is missing.*apt-get install chromium/,
    );
    expect(lines).toEqual([]);
  });
});
