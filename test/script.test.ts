/**
 * Master scripts: statements sent in one simple-protocol round trip, their values inlined as
 * literals. Checked against the server: each inlined statement must read its values exactly as
 * the same statement with parameters does.
 */
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { inlineValues, scriptText } from "../src/master/script.ts";

describe("master scripts", () => {
  test("Placeholders become quoted literals in one pass, and placeholders inside strings, quoted names and comments stay as written.", () => {
    expect(inlineValues("SELECT $1::int, $2, $10", [1, "it's", null, 4, 5, 6, 7, 8, 9, "ten"])).toBe("SELECT '1'::int, 'it''s', 'ten'");
    // A value that holds a placeholder is not read again.
    expect(inlineValues("SELECT $1, $2", ["$2", "b"])).toBe("SELECT '$2', 'b'");
    expect(inlineValues(`SELECT '$1', "a$1", x$1, $1 -- $1\n/* $1 */`, ["v"])).toBe(`SELECT '$1', "a$1", x$1, 'v' -- $1\n/* $1 */`);
    expect(inlineValues(`SELECT E'it\\'s $1', $1`, ["v"])).toBe(`SELECT E'it\\'s $1', 'v'`);
    expect(inlineValues("SELECT $$ $1 $$, $q$ it's $1 $q$, $1", ["v"])).toBe("SELECT $$ $1 $$, $q$ it's $1 $q$, 'v'");
    expect(inlineValues("SELECT $1, $2, $3", [true, 12n, "back\\slash"])).toBe("SELECT 'true', '12',  E'back\\\\slash'");
  });

  test("The same text inlined again takes its new values (its parsed template is kept), also past the cache's bound.", () => {
    const text = `SELECT $1 AS a, '$2' AS b, $2 AS c`;
    expect(inlineValues(text, ["x", "y"])).toBe(`SELECT 'x' AS a, '$2' AS b, 'y' AS c`);
    expect(inlineValues(text, ["it's", null])).toBe(`SELECT 'it''s' AS a, '$2' AS b, NULL AS c`);
    for (let i = 0; i < 300; i++) expect(inlineValues(`SELECT $1 + ${i}`, [i])).toBe(`SELECT '${i}' + ${i}`);
    expect(inlineValues(text, ["p", "q"])).toBe(`SELECT 'p' AS a, '$2' AS b, 'q' AS c`);
    expect(() => inlineValues(text, ["only one"])).toThrow(/\$2 has no value/);
  });

  test("A value the script cannot inline, or a placeholder without a value, is refused naming the placeholder.", () => {
    expect(() => inlineValues("SELECT $1", [[1, 2]])).toThrow(/cannot inline parameter \$1 \(object\)/);
    expect(() => inlineValues("SELECT $1", [Number.NaN])).toThrow(/parameter \$1/);
    expect(() => inlineValues("SELECT $2", ["a"])).toThrow(/placeholder \$2 has no value \(1 given\)/);
  });

  test("The server reads every inlined value as it reads the same value sent as a parameter.", async ({ pg }) => {
    const text = "SELECT $1::text AS s, $2::int AS i, $3::bigint AS b, $4::boolean AS t, $5::text AS n, $6::jsonb AS j, $7::pg_snapshot AS snap, $$ $1 $$ AS dq, 'a$1' AS q";
    const values = ["quote ' and backslash \\ and $1 and \u00e9", 42, 9007199254740993n, false, null, '{"k": "v\\"w"}', "10:20:15"];
    const c = await pg.client();
    try {
      const direct = (await c.query(text, values)).rows;
      const inlined = (await c.query(scriptText([{ text: "SELECT 1" }, { text, values }]))) as unknown as { rows: unknown[] }[];
      expect(inlined[1]!.rows).toEqual(direct);
      expect(direct[0]).toMatchObject({ dq: " $1 ", q: "a$1", s: values[0], i: 42, b: "9007199254740993", t: false, n: null, j: { k: 'v"w' } });
    } finally {
      await c.end();
    }
  });
});
