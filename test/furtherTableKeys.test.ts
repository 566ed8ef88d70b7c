/**
 * Keys and values of further tables (REPLICATE_TABLES) as other people's tables have them:
 * citext, enums, bigints of any length, exact numerics; and what the replica refuses because it
 * could not keep it exact (keys it cannot match, filters that do not depend on the row alone).
 */
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { installMaster } from "./support/seed.ts";
import { localKeys } from "./support/tasks.ts";

describe("further table keys and values", () => {
  test("A citext key keeps both rows whose case differs in order, and a key changed only in case replaces the old row.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql("CREATE EXTENSION IF NOT EXISTS citext");
    await pg.sql("CREATE TABLE people (email citext PRIMARY KEY, name text)");
    await pg.sql("INSERT INTO people VALUES ('alice@x', 'a'), ('Bob@x', 'b')");
    const m = replica({ replicatedTables: [{ name: "people" }], snapshotChunkRows: 1 });
    await m.syncOnce();
    expect(localKeys(m, "people", "email")).toEqual(["Bob@x", "alice@x"]);
    await pg.sql("UPDATE people SET email = 'BOB@X' WHERE email = 'bob@x'");
    await m.syncOnce();
    expect(localKeys(m, "people", "email")).toEqual(["BOB@X", "alice@x"]);
    expect((await m.verify()).tables?.people).toMatchObject({ identical: true, master_count: 2 });
  });

  test("Enum and char(n) keys, whose order on the master is not their text order, are copied whole in small chunks.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql("CREATE TYPE lvl AS ENUM ('zeta', 'alpha', 'mid'); CREATE TABLE levels (l lvl PRIMARY KEY, note text)");
    await pg.sql("INSERT INTO levels VALUES ('zeta', 'z'), ('alpha', 'a'), ('mid', 'm')");
    await pg.sql("CREATE TABLE codes (c char(3) PRIMARY KEY, note text)");
    await pg.sql("INSERT INTO codes VALUES ('b', '1'), ('A', '2'), ('a b', '3'), ('_', '4')");
    const m = replica({ replicatedTables: [{ name: "levels" }, { name: "codes" }], snapshotChunkRows: 1 });
    await m.syncOnce();
    expect(localKeys(m, "levels", "l")).toEqual(["alpha", "mid", "zeta"]);
    expect(localKeys(m, "codes", "c")).toEqual(["A", "_", "a b", "b"]);
    expect(await m.verify()).toMatchObject({ identical: true, tables: { levels: { identical: true }, codes: { identical: true } } });
  });

  test("Bigint keys of different lengths verify identical (and a repair changes nothing), and numeric values and keys stay exact past a double's precision.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql("CREATE TABLE big (n bigint PRIMARY KEY, label text)");
    await pg.sql("INSERT INTO big VALUES (9, 'nine'), (10, 'ten'), (9007199254740993, 'past 2^53')");
    await pg.sql("CREATE TABLE ledger (ref numeric PRIMARY KEY, amount numeric(20, 2))");
    await pg.sql("INSERT INTO ledger VALUES (90071992547409931, 123456789012345678.91), (90071992547409932, 0.10)");
    const m = replica({ replicatedTables: [{ name: "big" }, { name: "ledger" }] });
    await m.syncOnce();
    expect(localKeys(m, "big", "n")).toEqual(["9", "10", "9007199254740993"]);
    const report = await m.verify({ repair: true });
    expect(report).toMatchObject({ identical: true, repaired: 0 });
    expect(localKeys(m, "big", "n")).toHaveLength(3);
    const ledger = m._db().prepare("SELECT ref, amount FROM ledger ORDER BY ref").all();
    expect(ledger).toEqual([
      { ref: "90071992547409931", amount: "123456789012345678.91" },
      { ref: "90071992547409932", amount: "0.10" },
    ]);
  });

  test("A key the replica could not match (a timestamp, a nullable or non-unique configured key) and a filter that does not depend on the row alone are refused, naming the table and why.", async ({ pg, replica }) => {
    await installMaster(pg);
    await pg.sql("CREATE TABLE events (at timestamptz PRIMARY KEY, what text)");
    await pg.sql("CREATE TABLE jobs (id serial PRIMARY KEY, ext text, code text NOT NULL, valid_until timestamptz)");
    await pg.sql("CREATE TABLE owners (id int PRIMARY KEY)");
    const refused = async (t: { name: string; key?: string; filter?: string }) => {
      const m = replica({ replicatedTables: [t] });
      const e = await m.syncOnce().then(() => undefined, (err: Error) => err.message);
      await m.stop();
      return e;
    };
    expect(await refused({ name: "events" })).toMatch(/events: its key column at is of type timestamptz: a key must be a uuid, an integer or a text-like column/);
    expect(await refused({ name: "jobs", key: "ext" })).toMatch(/jobs: its key column ext must be NOT NULL and unique/);
    expect(await refused({ name: "jobs", key: "code" })).toMatch(/jobs: its key column code must be NOT NULL and unique/);
    expect(await refused({ name: "jobs", filter: "valid_until > now()" })).toMatch(/jobs: its row filter "valid_until > now\(\)" must depend on the row alone/);
    expect(await refused({ name: "jobs", filter: "id IN (SELECT id FROM owners)" })).toMatch(/jobs: its row filter .* must depend on the row alone/);
    // The table's alias in the copy and the pull does not get past the check (found in review).
    expect(await refused({ name: "jobs", filter: "t.valid_until > now()" })).toMatch(/jobs: its row filter .* must depend on the row alone/);
    expect(await refused({ name: "jobs", filter: "random() < 0.5" })).toMatch(/must depend on the row alone/);
    // The refusals changed nothing on the master: its own writes still work (no trigger on a NULL key).
    await pg.sql("INSERT INTO jobs (ext, code) VALUES (NULL, 'x')");
    // Row-only filters are accepted, STABLE functions of the row's own values included (an enum's
    // text, to_char, concat), and a clock word inside a string literal is only text.
    await pg.sql("CREATE TYPE job_state AS ENUM ('open', 'closed'); ALTER TABLE jobs ADD COLUMN state job_state NOT NULL DEFAULT 'open'");
    const ok = replica({ replicatedTables: [{ name: "jobs", filter: "(valid_until IS NULL OR code <> 'now()') AND state::text IN ('open') AND concat(code, 'x') <> '' AND coalesce(to_char(valid_until, 'YYYY'), '') <> '1999'" }] });
    await expect(ok.syncOnce()).resolves.toMatchObject({ tables: { jobs: 1 } });
  });
});
