/**
 * The further replicated tables as configuration (issue 14): REPLICATE_TABLES and its flag,
 * REPLICATE_CONFIG's JSON file, their union, and the checks makeConfig and the CLI share. No
 * Postgres: the master plans the filters later, at start.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { parseCommandLine } from "../src/cli/args.ts";
import { commands } from "../src/cli/commands.ts";
import { main } from "../src/cli/main.ts";
import { ConfigError, loadConfig, makeConfig, type Env } from "../src/schema/config.ts";
import { filterProblem } from "../src/schema/replicatedTables.ts";

/** The ConfigError `f` throws (fails the test when it throws none, or another error). */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const tablesOf = (env: Env) => loadConfig(env).replicatedTables;

describe("REPLICATE_TABLES", () => {
  test("A name, or a name and a predicate after a colon, make one table each; whitespace around the names is trimmed.", () => {
    expect(tablesOf({ REPLICATE_TABLES: "ai_autonomous_tasks:status='pending'" })).toEqual([{ name: "ai_autonomous_tasks", filter: "status='pending'" }]);
    expect(tablesOf({ REPLICATE_TABLES: " tasks , ops.runs : done = false ," })).toEqual([{ name: "tasks" }, { name: "ops.runs", filter: "done = false" }]);
    expect(tablesOf({})).toEqual([]);
    expect(tablesOf({ REPLICATE_TABLES: "  " })).toEqual([]);
  });

  test("Commas inside quoted strings, quoted identifiers and parentheses belong to the predicate, not to the list.", () => {
    expect(tablesOf({ REPLICATE_TABLES: "ai_autonomous_tasks:status IN ('pending','in_progress'),other_table" })).toEqual([
      { name: "ai_autonomous_tasks", filter: "status IN ('pending','in_progress')" },
      { name: "other_table" },
    ]);
    expect(tablesOf({ REPLICATE_TABLES: `a:"odd,name" = 'x,''y' AND coalesce(b, 1) > 0,b:c = $$,$$,d` })).toEqual([
      { name: "a", filter: `"odd,name" = 'x,''y' AND coalesce(b, 1) > 0` },
      { name: "b", filter: "c = $$,$$" },
      { name: "d" },
    ]);
  });

  test("An entry splits on its first colon only, so a predicate keeps its :: casts.", () => {
    expect(tablesOf({ REPLICATE_TABLES: "tasks:created_at::date = '2026-01-02'::date,t2:x::text LIKE 'a:b%'" })).toEqual([
      { name: "tasks", filter: "created_at::date = '2026-01-02'::date" },
      { name: "t2", filter: "x::text LIKE 'a:b%'" },
    ]);
  });

  test("--replicate-tables and --replicate-config are setting flags, and a refused table is exit 2 with one line naming the variable.", async () => {
    const line = await parseCommandLine(["stats", "--replicate-tables", "tasks:status='pending'", "--replicate-config=/x/t.json"], commands);
    expect(line.env).toEqual({ REPLICATE_TABLES: "tasks:status='pending'", REPLICATE_CONFIG: "/x/t.json" });
    const err: string[] = [];
    const code = await main(["stats", "--replicate-tables", "sync_state"], {}, { out: () => {}, err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err.join("\n")).toBe('error: REPLICATE_TABLES: [0].name: the local table "sync_state" would clash with one of the replica file\'s own tables (table "sync_state")');
  });
});

describe("REPLICATE_CONFIG", () => {
  test("The file may be {\"tables\": [...]} or a bare array, with filter, columns, key and indexes.", ({ tmp }) => {
    const file = path.join(tmp, "tables.json");
    const tasks = { name: "ai_autonomous_tasks", filter: "status IN ('pending','in_progress')", columns: ["id", "title", "status", "priority"], key: "id", indexes: ["priority"] };
    writeFileSync(file, JSON.stringify({ tables: [tasks, { name: "ops.agents" }] }));
    expect(tablesOf({ REPLICATE_CONFIG: file })).toEqual([tasks, { name: "ops.agents" }]);
    writeFileSync(file, JSON.stringify([{ name: "ops.agents" }]));
    expect(tablesOf({ REPLICATE_CONFIG: file })).toEqual([{ name: "ops.agents" }]);
  });

  test("With both variables set the tables are the union, and a local name given twice is refused naming the second place.", ({ tmp }) => {
    const file = path.join(tmp, "tables.json");
    writeFileSync(file, JSON.stringify({ tables: [{ name: "agents" }] }));
    expect(tablesOf({ REPLICATE_TABLES: "tasks:done = false", REPLICATE_CONFIG: file })).toEqual([{ name: "tasks", filter: "done = false" }, { name: "agents" }]);
    writeFileSync(file, JSON.stringify({ tables: [{ name: "agents" }, { name: "ops.Tasks" }] }));
    const e = configError(() => loadConfig({ REPLICATE_TABLES: "tasks", REPLICATE_CONFIG: file }));
    expect(e.variable).toBe("REPLICATE_CONFIG");
    expect(e.message).toBe(`REPLICATE_CONFIG: ${file}: tables[1].name: the local table "Tasks" is already named by REPLICATE_TABLES [0] (table "ops.Tasks")`);
    expect(configError(() => loadConfig({ REPLICATE_TABLES: "a.tasks,b.tasks" })).message).toBe('REPLICATE_TABLES: [1].name: the local table "tasks" is already named by [0] (table "b.tasks")');
  });

  test("A file that cannot be read, is not JSON, has the wrong shape or an unknown key is refused naming the variable, the file and the place.", ({ tmp }) => {
    const file = path.join(tmp, "tables.json");
    const refused = (text: string) => {
      writeFileSync(file, text);
      const e = configError(() => loadConfig({ REPLICATE_CONFIG: file }));
      expect(e.variable).toBe("REPLICATE_CONFIG");
      return e.message;
    };
    expect(configError(() => loadConfig({ REPLICATE_CONFIG: path.join(tmp, "none.json") })).message).toBe(`REPLICATE_CONFIG: ${path.join(tmp, "none.json")}: cannot read the file (ENOENT)`);
    expect(refused("{ tables: [] }")).toMatch(new RegExp(`^REPLICATE_CONFIG: ${file}: not valid JSON \\(.+\\)$`));
    expect(refused('"tasks"')).toBe(`REPLICATE_CONFIG: ${file}: expected {"tables": [...]} or a JSON array of tables`);
    expect(refused('{"tables": [], "version": 2}')).toBe(`REPLICATE_CONFIG: ${file}: unknown key "version" (expected only "tables")`);
    expect(refused('{"tables": {"name": "tasks"}}')).toBe(`REPLICATE_CONFIG: ${file}: tables: expected an array of tables`);
    expect(refused('{"tables": [{"name": "tasks"}, {"name": "runs", "filtr": "x = 1"}]}')).toBe(
      `REPLICATE_CONFIG: ${file}: tables[1]: unknown key "filtr" (expected name, filter, columns, key, indexes) (table "runs")`,
    );
    expect(refused('[{"name": "tasks", "filter": ""}]')).toBe(`REPLICATE_CONFIG: ${file}: [0].filter: must not be empty (table "tasks")`);
    expect(refused('{"tables": ["tasks"]}')).toBe(`REPLICATE_CONFIG: ${file}: tables[0]: expected an object {"name": …}`);
    expect(refused('{"tables": [{"filter": "x = 1"}]}')).toBe(`REPLICATE_CONFIG: ${file}: tables[0].name: is missing`);
    expect(refused('{"tables": [{"name": "t", "columns": ["id", 7]}]}')).toBe(`REPLICATE_CONFIG: ${file}: tables[0].columns[1]: expected a string (table "t")`);
  });
});

describe("checks shared by makeConfig and the CLI", () => {
  // [entry, the message after the place]; each is refused by makeConfig, by REPLICATE_CONFIG and, when it has only a name and a filter, by REPLICATE_TABLES.
  const cases: [Record<string, unknown>, string][] = [
    [{ name: "bad-name" }, '.name: expected a table name, optionally schema-qualified (schema.table) (table "bad-name")'],
    [{ name: "a.b.c" }, '.name: expected a table name, optionally schema-qualified (schema.table) (table "a.b.c")'],
    [{ name: "outbox" }, '.name: the local table "outbox" would clash with one of the replica file\'s own tables (table "outbox")'],
    [{ name: "x.Sync_State" }, '.name: the local table "sync_state" would clash with one of the replica file\'s own tables (table "x.Sync_State")'],
    [{ name: "memory_fts_data" }, '.name: the local table "memory_fts_data" would clash with one of the replica file\'s own tables (table "memory_fts_data")'],
    [{ name: "public.unified_ai_memory" }, '.name: the local table "unified_ai_memory" is where the memory table is kept (table "public.unified_ai_memory")'],
    [{ name: "tasks", filter: "   " }, '.filter: must not be empty (table "tasks")'],
    [{ name: "tasks", filter: "done = false; DROP TABLE tasks" }, ".filter: must be one SQL predicate: ';' is not allowed outside a string literal (table \"tasks\")"],
    [{ name: "tasks", filter: "done = false -- and more" }, '.filter: must not hold a comment (--) outside a string literal (table "tasks")'],
    [{ name: "tasks", filter: "done /* x */ = false" }, '.filter: must not hold a comment (/*) outside a string literal (table "tasks")'],
    [{ name: "tasks", filter: "done = false) OR (true" }, '.filter: has unbalanced parentheses (table "tasks")'],
    [{ name: "tasks", filter: "(done = false" }, '.filter: has unbalanced parentheses (table "tasks")'],
    [{ name: "tasks", filter: "title = 'open" }, ".filter: has an unterminated string literal (') (table \"tasks\")"],
    [{ name: "tasks", filter: "title = E'it\\'s'; DELETE FROM tasks; --'" }, ".filter: must be one SQL predicate: ';' is not allowed outside a string literal (table \"tasks\")"],
    [{ name: "tasks", columns: [] }, '.columns: must not be empty (leave it out to keep every column) (table "tasks")'],
    [{ name: "tasks", columns: ["id", "title", "ID"] }, '.columns: names "ID" twice (table "tasks")'],
    [{ name: "tasks", columns: ["id", "title-x"] }, '.columns[1]: expected a column name (letters, digits, _) (table "tasks")'],
    [{ name: "tasks", columns: ["title"], key: "id" }, ': columns must include the key "id" (table "tasks")'],
    [{ name: "tasks", columns: ["id", "title"], indexes: ["priority"] }, ': indexes must be among the columns: "priority" is not (table "tasks")'],
    [{ name: "tasks", indexes: ["a", "a"] }, '.indexes: names "a" twice (table "tasks")'],
  ];

  test("Each refused entry is refused alike by makeConfig (naming replicatedTables), REPLICATE_CONFIG and REPLICATE_TABLES, with its place and its name.", ({ tmp }) => {
    const file = path.join(tmp, "tables.json");
    for (const [entry, message] of cases) {
      const lib = configError(() => makeConfig({ replicatedTables: [{ name: "fine" }, entry as never] }));
      expect(lib.variable).toBe("replicatedTables");
      expect(lib.message).toBe(`replicatedTables: [1]${message}`);
      writeFileSync(file, JSON.stringify({ tables: [{ name: "fine" }, entry] }));
      expect(configError(() => loadConfig({ REPLICATE_CONFIG: file })).message).toBe(`REPLICATE_CONFIG: ${file}: tables[1]${message}`);
      if (Object.keys(entry).every((k) => k === "name" || k === "filter")) {
        const text = entry.filter === undefined ? String(entry.name) : `${String(entry.name)}:${String(entry.filter)}`;
        expect(configError(() => loadConfig({ REPLICATE_TABLES: `fine,${text}` })).message).toBe(`REPLICATE_TABLES: [1]${message}`);
      }
    }
  });

  test("A table with the memory table's name is refused, naming the variable that sets the memory table.", () => {
    expect(configError(() => makeConfig({ memoryTable: "agents.memories", replicatedTables: [{ name: "memories" }] })).message).toBe(
      'replicatedTables: [0].name: is the memory table\'s name (memoryTable is agents.memories), which is always replicated (table "memories")',
    );
    expect(configError(() => loadConfig({ MEMORY_TABLE: "agents.memories", REPLICATE_TABLES: "archive.memories" })).message).toBe(
      'REPLICATE_TABLES: [0].name: is the memory table\'s name (MEMORY_TABLE is agents.memories), which is always replicated (table "archive.memories")',
    );
  });

  test("Semicolons and comment marks inside quotes are part of the predicate, and are accepted.", () => {
    for (const filter of ["note = 'a; b -- c /* d'", `"weird;--col" = 1`, "body = $$x; y$$", "body = $t$ -- $t$", "title = E'it\\'s; fine'", "x IN (SELECT 1)", "a - -1 = 0"]) {
      expect(filterProblem(filter), filter).toBeUndefined();
    }
    expect(filterProblem("body = $$x")).toBe("has an unterminated dollar-quoted string ($$)");
    expect(filterProblem(`"col = 1`)).toBe('has an unterminated quoted identifier (")');
  });

  test("The decoded tables are frozen through, filters trimmed; the default is an empty frozen list.", () => {
    const c = makeConfig({ replicatedTables: [{ name: "tasks", filter: "  done = false ", columns: ["id", "done"], key: "id", indexes: ["done"] }] });
    expect(c.replicatedTables).toEqual([{ name: "tasks", filter: "done = false", columns: ["id", "done"], key: "id", indexes: ["done"] }]);
    const [t] = c.replicatedTables;
    for (const part of [c.replicatedTables, t, t?.columns, t?.indexes]) expect(Object.isFrozen(part)).toBe(true);
    expect(makeConfig().replicatedTables).toEqual([]);
    expect(Object.isFrozen(makeConfig().replicatedTables)).toBe(true);
    expect(Object.isFrozen(loadConfig({ REPLICATE_TABLES: "tasks" }).replicatedTables[0])).toBe(true);
    expect(configError(() => makeConfig({ replicatedTables: "tasks" as never })).message).toBe("replicatedTables: expected an array of tables");
  });
});
