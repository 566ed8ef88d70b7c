/**
 * The pull's changes query against a changelog of realistic size: it must find the changes by
 * index (its cost may not grow with the changelog every replica reads on every pull), and it
 * must still return a change committed by a transaction that was in progress at the cursor.
 */
import { describe } from "vitest";
import { test, expect } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { TableQueries } from "../src/master/tableQueries.ts";
import { introspectColumnsSql, type MasterColumn } from "../src/master/columnsSql.ts";
import { memoryTableDescriptor } from "../src/schema/tableDescriptor.ts";

type PlanNode = { "Node Type": string; "Relation Name"?: string; Plans?: PlanNode[] };
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe("the pull's changes query", () => {
  test("On a changelog of 20,000 changes it reads the changelog by index, never a full scan, and finds the one change since the cursor.", async ({ pg }) => {
    await installMaster(pg);
    await seedMemories(pg, 1_000);
    const c = await pg.client();
    try {
      for (let i = 0; i < 19; i++) await c.query("UPDATE unified_ai_memory SET importance_score = importance_score");
      await c.query("ANALYZE embedded_memory.changes");
      expect(Number((await c.query("SELECT count(*) AS n FROM embedded_memory.changes")).rows[0].n)).toBeGreaterThanOrEqual(20_000);
      const cols = (await c.query<MasterColumn>(introspectColumnsSql, ['"unified_ai_memory"'])).rows;
      const tq = new TableQueries(memoryTableDescriptor("unified_ai_memory"), cols, undefined);
      const cursor = (await c.query("SELECT pg_current_snapshot()::text AS s")).rows[0].s as string;
      const { rows: [one] } = await c.query("UPDATE unified_ai_memory SET importance_score = 0.5 WHERE id = (SELECT id FROM unified_ai_memory ORDER BY id LIMIT 1) RETURNING id::text");
      const { text, values } = tq.changesSince(cursor);
      const plan = (await c.query(`EXPLAIN (FORMAT JSON) ${text}`, values)).rows[0]["QUERY PLAN"][0].Plan as PlanNode;
      const onChanges = nodes(plan).filter((n) => n["Relation Name"] === "changes");
      expect(onChanges.length).toBeGreaterThan(0);
      expect(onChanges.map((n) => n["Node Type"])).not.toContain("Seq Scan");
      const { rows } = await c.query(text, values);
      expect(rows.map((r) => r.id)).toEqual([one.id]);
    } finally {
      await c.end();
    }
  });

  test("A change committed by a transaction that was in progress at the cursor is found (the cursor's in-progress list).", async ({ pg }) => {
    await installMaster(pg);
    await seedMemories(pg, 100);
    const [writer, reader] = [await pg.client(), await pg.client()];
    try {
      const cols = (await reader.query<MasterColumn>(introspectColumnsSql, ['"unified_ai_memory"'])).rows;
      const tq = new TableQueries(memoryTableDescriptor("unified_ai_memory"), cols, undefined);
      await writer.query("BEGIN");
      const { rows: [late] } = await writer.query("UPDATE unified_ai_memory SET importance_score = 0.9 WHERE id = (SELECT id FROM unified_ai_memory ORDER BY id DESC LIMIT 1) RETURNING id::text, pg_current_xact_id()::text AS xid");
      // A later transaction commits first: the cursor is past the open one, which is in its list.
      await reader.query("UPDATE unified_ai_memory SET importance_score = 0.1 WHERE id = (SELECT id FROM unified_ai_memory ORDER BY id LIMIT 1)");
      const cursor = (await reader.query("SELECT pg_current_snapshot()::text AS s")).rows[0].s as string;
      expect(cursor.split(":")[2]!.split(",")).toContain(late.xid);
      await writer.query("COMMIT");
      const { text, values } = tq.changesSince(cursor);
      expect((await reader.query(text, values)).rows.map((r) => r.id)).toEqual([late.id]);
    } finally {
      await writer.end();
      await reader.end();
    }
  });
});
