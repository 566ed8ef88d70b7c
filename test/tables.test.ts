/**
 * Local reads of the replicated tables through the library (`table(name).get/list`), on a real
 * replica file (test/support/tableReplica.ts): values of every kind, filters, orders, pagination,
 * each refusal, tenant scoping and the memory table's raw rows.
 */
import { describe } from "vitest";
import { expect } from "./support/fixtures.ts";
import { EVENTS, markCopied, MEMORY, SETTINGS, TASKS, test, TENANT_A, TENANT_B, taskRows, uuid } from "./support/tableReplica.ts";
import type { Row, TableDescriptor } from "../src/schema/tableDescriptor.ts";
import { makeTableReader, tableHandle, type TablePage, type TableRow, type TableView } from "../src/runtime/tables.ts";
import { LIST_STATEMENTS_MAX } from "../src/store/tableReads.ts";
import type { Statements } from "../src/store/statements.ts";
import { InvalidInputError } from "../src/schema/decode.ts";
import type { TableListQuery } from "../src/schema/tables.ts";

/** Every page of a list, each checked against the limit. */
function allPages(t: TableView, query: TableListQuery, limit: number): TableRow[] {
  const rows: TableRow[] = [];
  let cursor: string | undefined;
  for (let pages = 0; ; pages++) {
    const page: TablePage = t.list({ ...query, limit, ...(cursor ? { cursor } : {}) });
    expect(page.rows.length).toBeLessThanOrEqual(limit);
    rows.push(...page.rows);
    if (page.next_cursor === null) return rows;
    expect(page.rows.length).toBe(limit);
    cursor = page.next_cursor;
    expect(pages).toBeLessThan(1000);
  }
}

/** SQLite's order: NULLs first ascending (and so last descending), ties by the key in the same direction. */
function sorted(rows: TableRow[], column: string, key: string, desc: boolean, cmp: (a: unknown, b: unknown) => number = (a, b) => (a === b ? 0 : (a as never) < (b as never) ? -1 : 1)): TableRow[] {
  const nullFirst = (a: unknown, b: unknown) => (a === null ? (b === null ? 0 : -1) : b === null ? 1 : cmp(a, b));
  const out = [...rows].sort((x, y) => nullFirst(x[column], y[column]) || cmp(x[key], y[key]));
  return desc ? out.reverse() : out;
}

const badInput = (f: () => unknown, field: string, message: RegExp) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    expect((e as InvalidInputError).field).toBe(field);
    expect((e as InvalidInputError).message).toMatch(message);
    return;
  }
  throw new Error(`expected InvalidInputError for ${field}`);
};

describe("reads of the replicated tables", () => {
  test("A row reads back with the master's column names and JSON values of every kind.", ({ replica }) => {
    const tasks = replica.reader.table("ai_autonomous_tasks");
    expect(tasks.get(uuid(10))).toEqual({
      id: uuid(10),
      title: "task 10",
      status: "pending",
      priority: 2,
      memory_ids: [uuid(110)],
      payload: { n: 10, nested: { ok: true } },
      done: true,
      weight: 1.25,
      embedding: [0.5, -1, 10],
      due_at: "2026-01-02T00:00:00.000000Z",
      tenant_id: TENANT_B,
    });
    expect(tasks.get(uuid(10).toUpperCase())?.id).toBe(uuid(10));
    expect(tasks.get(uuid(999))).toBeUndefined();
    expect(replica.reader.table("agent_settings").get("a b/c")).toEqual({ name: "a b/c", value: { x: 1 } });
    expect(replica.reader.table("agent_settings").get("plain")).toEqual({ name: "plain", value: "not json" });
    expect(replica.reader.names()).toEqual(["unified_ai_memory", "ai_autonomous_tasks", "event_log", "agent_settings"]);
  });

  test("bigint keys and values are exact: numbers while safe, decimal strings past 2^53.", ({ replica }) => {
    const events = replica.reader.table("event_log");
    expect(events.get("9007199254740993")).toEqual({ seq: "9007199254740993", kind: "big", bytes: "9223372036854775807" });
    expect(events.get("-9223372036854775808")).toEqual({ seq: "-9223372036854775808", kind: "big", bytes: "9007199254740993" });
    expect(events.get(-10)).toEqual({ seq: -10, kind: "read", bytes: 0 });
    expect(events.get("9007199254740992")).toBeUndefined();
    const byKey = allPages(events, {}, 4).map((r) => BigInt(r.seq as string | number));
    expect(byKey).toEqual([...byKey].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(byKey).toHaveLength(15);
    expect(events.list({ filters: { bytes: "9223372036854775807" } }).rows.map((r) => r.seq)).toEqual(["9007199254740993"]);
    const big = (a: unknown, b: unknown) => (BigInt(a as string) < BigInt(b as string) ? -1 : BigInt(a as string) > BigInt(b as string) ? 1 : 0);
    const all = events.list({ limit: 1000 }).rows;
    for (const desc of [false, true]) expect(allPages(events, { order_by: desc ? "-bytes" : "bytes" }, 2)).toEqual(sorted(all, "bytes", "seq", desc, big));
  });

  test("Equality filters check each value against its column's type, and combine.", ({ replica }) => {
    const tasks = replica.reader.table("ai_autonomous_tasks");
    const ids = (filters: Record<string, string | number | boolean | null>) => tasks.list({ filters, limit: 1000 }).rows.map((r) => r.id);
    const expected = (p: (r: Row) => boolean) => taskRows().filter(p).map((r) => r.id);
    expect(ids({ status: "pending", priority: "2" })).toEqual(expected((r) => r.status === "pending" && r.priority === 2));
    expect(ids({ done: "true" })).toEqual(expected((r) => r.done === 1));
    expect(ids({ done: 0 })).toEqual(expected((r) => r.done === 0));
    expect(ids({ priority: null })).toEqual(expected((r) => r.priority === null));
    expect(ids({ weight: "0.5" })).toEqual([uuid(4)]);
    expect(ids({ title: "" })).toEqual([uuid(5)]); // empty text matches empty text, not NULL
    expect(ids({ tenant_id: TENANT_A.toUpperCase() })).toEqual(expected((r) => r.tenant_id === TENANT_A));
    // Another spelling of the same instant finds the stored microsecond form.
    expect(ids({ due_at: "2026-01-02T05:30:00+05:30" })).toEqual(expected((r) => r.due_at === "2026-01-02T00:00:00.000000Z"));
    badInput(() => tasks.list({ filters: { priority: "high" } }), "filters.priority", /expected a whole number \(priority is int\)/);
    badInput(() => tasks.list({ filters: { priority: "" } }), "filters.priority", /whole number/);
    badInput(() => tasks.list({ filters: { done: "yes" } }), "filters.done", /true, false, 1 or 0/);
    badInput(() => tasks.list({ filters: { weight: "1e999" } }), "filters.weight", /expected a number/);
    badInput(() => tasks.list({ filters: { id: "42" } }), "filters.id", /UUID/);
    badInput(() => tasks.list({ filters: { due_at: "yesterday" } }), "filters.due_at", /ISO-8601/);
    badInput(() => tasks.list({ filters: { payload: "{}" } }), "filters.payload", /cannot be compared/);
    badInput(() => tasks.list({ filters: { colour: "red" } }), "filters.colour", /no column colour in table ai_autonomous_tasks \(its columns: id, title/);
    badInput(() => replica.reader.table("event_log").list({ filters: { bytes: "18446744073709551616" } }), "filters.bytes", /64-bit/);
  });

  test("order_by sorts by the key or an indexed column, either way, ties broken by the key, NULLs first ascending.", ({ replica }) => {
    const tasks = replica.reader.table("ai_autonomous_tasks");
    const all = tasks.list({ limit: 1000 }).rows;
    expect(all.map((r) => r.id)).toEqual(taskRows().map((r) => r.id));
    for (const column of ["priority", "status", "due_at", "id"]) {
      for (const desc of [false, true]) {
        const got = tasks.list({ order_by: `${desc ? "-" : ""}${column}`, limit: 1000 }).rows;
        expect(got).toEqual(sorted(all, column, "id", desc));
      }
    }
    badInput(() => tasks.list({ order_by: "title" }), "order_by", /column title is not indexed in table ai_autonomous_tasks; order by the key or an indexed column: id, status, priority, due_at/);
    badInput(() => tasks.list({ order_by: "-nope" }), "order_by", /no column nope/);
    badInput(() => replica.reader.table("agent_settings").list({ order_by: "value" }), "order_by", /indexed column: name \(/);
  });

  test("Pagination visits every row exactly once, in order, for every order, filter and page size.", ({ replica }) => {
    const tasks = replica.reader.table("ai_autonomous_tasks");
    for (const order_by of [undefined, "-id", "priority", "-priority", "due_at", "-due_at", "status"]) {
      for (const filters of [{}, { status: "pending" }, { done: "false" }] as Record<string, string>[]) {
        const whole = tasks.list({ filters, limit: 1000, ...(order_by ? { order_by } : {}) }).rows;
        for (const limit of [1, 3, 7, 40]) {
          const paged = allPages(tasks, { filters, ...(order_by ? { order_by } : {}) }, limit);
          expect(paged).toEqual(whole);
          expect(new Set(paged.map((r) => r.id)).size).toBe(paged.length);
        }
      }
    }
    expect(tasks.list({ limit: 40 }).next_cursor).toBeNull();
    expect(tasks.list({ limit: 39 }).next_cursor).not.toBeNull();
    expect(tasks.list({ filters: { status: "none" } })).toEqual({ table: "ai_autonomous_tasks", rows: [], next_cursor: null, complete: true });
    expect(tasks.list().rows).toHaveLength(40); // default limit 50
  });

  test("Bad input is refused naming it: table, limit, cursor and key.", ({ replica }) => {
    const { reader } = replica;
    badInput(() => reader.table("nope"), "table", /unknown table nope; the replicated tables are: unified_ai_memory, ai_autonomous_tasks, event_log, agent_settings/);
    const tasks = reader.table("ai_autonomous_tasks");
    for (const limit of [0, 1001, 1.5]) badInput(() => tasks.list({ limit }), "limit", /1 to 1000|integer/);
    badInput(() => tasks.list({ sort: "x" } as never), "sort", /unknown field/);
    badInput(() => tasks.list({ cursor: "%%%" }), "cursor", /not a cursor/);
    badInput(() => tasks.list({ cursor: Buffer.from("[1]").toString("base64url") }), "cursor", /not a cursor/);
    const cursor = tasks.list({ order_by: "priority", limit: 2 }).next_cursor!;
    badInput(() => tasks.list({ order_by: "-priority", cursor }), "cursor", /another order \(order_by priority, not -priority\)/);
    badInput(() => tasks.list({ cursor }), "cursor", /another order/);
    badInput(() => reader.table("event_log").list({ order_by: "priority", cursor }), "order_by", /no column priority/);
    badInput(() => reader.table("event_log").list({ cursor }), "cursor", /another table/);
    const forged = Buffer.from(JSON.stringify({ t: "ai_autonomous_tasks", o: "priority", v: "high", k: uuid(1) })).toString("base64url");
    badInput(() => tasks.list({ order_by: "priority", cursor: forged }), "cursor", /not a cursor of this table/);
    badInput(() => reader.table("event_log").get("abc"), "key", /64-bit whole number \(seq is bigint\)/);
    badInput(() => tasks.get("42"), "key", /UUID/);
    badInput(() => tasks.get(""), "key", /must not be empty/);
  });

  test("A tenant-scoped read sees its tenant's rows and the shared ones; tables without a tenant column are read whole.", ({ replica }) => {
    const scoped = replica.reader.table("ai_autonomous_tasks", { tenant: TENANT_A });
    const seen = allPages(scoped, {}, 5);
    expect(seen.map((r) => r.id)).toEqual(taskRows().filter((r) => r.tenant_id !== TENANT_B).map((r) => r.id));
    expect(scoped.get(uuid(1))).toBeUndefined(); // tenant B's: the same answer as a missing row
    expect(scoped.get(uuid(2))?.tenant_id).toBeNull();
    expect(scoped.list({ filters: { tenant_id: TENANT_B } }).rows).toEqual([]);
    expect(replica.reader.table("event_log", { tenant: TENANT_A }).list({ limit: 1000 }).rows).toHaveLength(15);
  });

  test("The memory table reads as raw rows, and an expired memory is not served.", ({ replica }) => {
    const memory = replica.reader.table("unified_ai_memory");
    expect(memory.get(uuid(900))).toMatchObject({ id: uuid(900), content: { text: `memory ${uuid(900)}` }, tags: ["a", "b"], archived: false, embedding: null });
    expect(memory.get(uuid(901))).toBeUndefined();
    expect(memory.list().rows.map((r) => r.id)).toEqual([uuid(900)]);
  });

  test("The library's asynchronous handle answers the same, and its errors are the same.", async ({ replica }) => {
    const handle = tableHandle("event_log", {}, replica.file, async () => replica.reader);
    expect(await handle.get("9223372036854775807")).toMatchObject({ kind: "big" });
    expect((await handle.list({ limit: 2 })).rows).toHaveLength(2);
    await expect(tableHandle("nope", {}, replica.file, async () => replica.reader).list()).rejects.toBeInstanceOf(InvalidInputError);
  });

  test("A list says whether its table's copy is complete: not before the first copy ends, nor while it is copied anew.", ({ replica }) => {
    const { reader, store } = replica;
    const complete = (name: string) => reader.table(name).list({ limit: 5 }).complete;
    expect(reader.names().map(complete)).toEqual([true, true, true, true]);
    // Copied anew (a changed filter or columns, an expired cursor): the old rows are still read, marked incomplete.
    store.resetSync(EVENTS, "another source", "epoch");
    expect(reader.table("event_log").list({ limit: 5 })).toMatchObject({ rows: expect.arrayContaining([expect.anything()]), complete: false });
    markCopied(store, EVENTS);
    // A TRUNCATE on the master: a copy begun, not ended.
    store.beginSnapshot(TASKS, "200:200:", "epoch/1");
    expect(complete("ai_autonomous_tasks")).toBe(false);
    expect(reader.table("ai_autonomous_tasks").list({ filters: { status: "none" } })).toEqual({ table: "ai_autonomous_tasks", rows: [], next_cursor: null, complete: false });
    expect(reader.summaries().ai_autonomous_tasks!.snapshot_complete).toBe(false);
    markCopied(store, TASKS);
    expect(complete("ai_autonomous_tasks")).toBe(true);
    // A table just made at connect, its first copy not begun (no sync state yet).
    const runs: TableDescriptor = { ...SETTINGS, masterTable: "agent_runs", localName: "agent_runs" };
    store.ensureTables([TASKS, EVENTS, SETTINGS, runs]);
    expect(reader.table("agent_runs").list()).toEqual({ table: "agent_runs", rows: [], next_cursor: null, complete: false });
    expect(store.statement("SELECT count(*) AS n FROM sync_state WHERE table_name = 'agent_runs'").get()).toEqual({ n: 0 }); // a read creates no state
  });

  test("A table the configuration names but the file does not hold yet reads as empty and incomplete; a name neither configured nor held stays unknown.", async ({ replica }) => {
    const reader = makeTableReader(replica.store, MEMORY, [{ name: "ops.agent_runs", filter: "state = 'open'", key: "run_id" }, { name: "public.ai_autonomous_tasks" }]);
    const runs = reader.table("agent_runs");
    expect(runs.list()).toEqual({ table: "agent_runs", rows: [], next_cursor: null, complete: false });
    expect(runs.list({ filters: { state: "open" }, order_by: "-started_at", limit: 10 }).rows).toEqual([]); // its columns are not known yet
    expect(runs.get("1")).toBeUndefined();
    badInput(() => runs.get(""), "key", /must not be empty/);
    badInput(() => runs.list({ limit: 0 }), "limit", /1 to 1000/);
    // The held table named in the configuration is read as held.
    expect(reader.table("ai_autonomous_tasks").list({ limit: 1 }).complete).toBe(true);
    expect(reader.names()).toEqual(["unified_ai_memory", "ai_autonomous_tasks", "event_log", "agent_settings", "agent_runs"]);
    badInput(() => reader.table("nope"), "table", /unknown table nope; the replicated tables are: unified_ai_memory, ai_autonomous_tasks, event_log, agent_settings, agent_runs$/);
    badInput(() => reader.table("ops.agent_runs"), "table", /unknown table ops\.agent_runs/); // by its local name only
    expect(reader.summaries().agent_runs).toEqual({ master_table: "ops.agent_runs", key: "run_id", rows: 0, last_sync: null, cursor: null, filter: "state = 'open'", snapshot_complete: false });
    const handle = tableHandle("agent_runs", { tenant: TENANT_A }, replica.file, async () => reader);
    expect(await handle.list()).toEqual({ table: "agent_runs", rows: [], next_cursor: null, complete: false });
    expect(await handle.get(7)).toBeUndefined();
    // Once the file holds it (the first connect), it is read as the file has it.
    replica.store.ensureTables([TASKS, EVENTS, SETTINGS, { ...SETTINGS, masterTable: "ops.agent_runs", localName: "agent_runs", filter: "state = 'open'" }]);
    badInput(() => reader.table("agent_runs").list({ filters: { state: "open" } }), "filters.state", /no column state in table agent_runs/);
  });

  test("10,000 distinct filter sets and orders keep the prepared list statements bounded, and the store's cache unchanged.", ({ replica }) => {
    const texts = new Set<string>();
    let prepared = 0;
    const counted = <F extends (sql: string) => unknown>(f: F) => ((sql: string) => (texts.add(sql), f(sql))) as F;
    const spy: Statements = {
      ...replica.store,
      statement: counted(replica.store.statement),
      pluck: counted(replica.store.pluck),
      prepare: (sql) => (prepared++, replica.store.prepare(sql)),
    };
    const reader = makeTableReader({ ...replica.store, ...spy }, MEMORY);
    const tasks = reader.table("ai_autonomous_tasks");
    // Each column absent, equal to a value, or NULL: 3^8 filter sets, in two orders.
    const values: Record<string, string | number | boolean> = { id: uuid(1), title: "task 1", status: "in_progress", priority: 1, done: false, weight: 0.125, due_at: "2026-01-02T00:00:00Z", tenant_id: TENANT_B };
    const columns = Object.keys(values);
    for (let i = 0; i < 10_000; i++) {
      const filters: Record<string, string | number | boolean | null> = {};
      columns.forEach((c, j) => {
        const state = Math.floor(i / 3 ** j) % 3;
        if (state) filters[c] = state === 1 ? values[c]! : null;
      });
      const rows = tasks.list({ filters, ...(i >= 3 ** columns.length ? { order_by: "-priority" } : {}) }).rows;
      if (i === 0) expect(rows).toHaveLength(40);
      if (i === 3 ** columns.length - 1) expect(rows).toEqual([]);
    }
    expect(prepared).toBe(10_000);
    expect(reader.listStatements()).toBe(LIST_STATEMENTS_MAX);
    expect(texts.size).toBeLessThanOrEqual(2); // the catalog and the sync state, one text each
    // A list in use stays prepared.
    tasks.list({ filters: { status: "pending" } });
    tasks.list({ filters: { status: "done" } });
    expect(prepared).toBe(10_001);
  });

});
