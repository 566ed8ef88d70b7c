/** Helpers that write memories on the master the way other systems would. */
import type { TestPostgres } from "./postgres.ts";

export interface SeedOptions {
  readonly table?: string;
  readonly tenantId?: string | null;
  readonly embeddingDim?: number;
  readonly startAt?: number;
}

/** Inserts `n` memories in one statement; returns nothing (count them on the master). */
export async function seedMemories(pg: TestPostgres, n: number, o: SeedOptions = {}): Promise<void> {
  const table = o.table ?? "unified_ai_memory";
  const start = o.startAt ?? 1;
  const embedding = o.embeddingDim ? `ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, ${o.embeddingDim}) WHERE i > 0)` : "NULL";
  await pg.sql(
    `INSERT INTO ${table} (memory_type, content, source_system, source_agent, importance_score, tags, tenant_id, embedding, search_text)
     SELECT (ARRAY['episodic','semantic','procedural','working','meta'])[1 + i % 5],
            jsonb_build_object('text', 'memory number ' || i || ' about ' || (ARRAY['cats','dogs','rust','postgres','sqlite'])[1 + i % 5]),
            'seed', 'agent-' || (i % 7), ((i % 100) / 100.0)::real, ARRAY['tag-' || (i % 3), 'seed'],
            $1::uuid, ${embedding}, 'memory ' || i
     FROM generate_series($2::int, $3::int) AS i`,
    [o.tenantId ?? null, start, start + n - 1],
  );
}

export const memoryCount = async (pg: TestPostgres, where = "true"): Promise<number> =>
  Number((await pg.sql<{ n: string }>(`SELECT count(*) AS n FROM unified_ai_memory WHERE ${where}`))[0]!.n);

/** Installs the master objects (and the table when missing), as `migrate` does. */
export async function installMaster(pg: TestPostgres, table = "unified_ai_memory"): Promise<void> {
  const { installStatements } = await import("../../src/master/installSql.ts");
  const { memoryTableDescriptor } = await import("../../src/schema/tableDescriptor.ts");
  await pg.sql(["BEGIN", ...installStatements(memoryTableDescriptor(table), undefined), "COMMIT"].join(";\n"));
}
