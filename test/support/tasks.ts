/** A tasks table beside the memories, for the further-tables tests (REPLICATE_TABLES). */
import { installMaster, seedMemories } from "./seed.ts";
import type { TestPostgres } from "./postgres.ts";
import type { EmbeddedMemory } from "../../src/runtime/embeddedMemory.ts";

export const TASKS_DDL = `CREATE TABLE ai_autonomous_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title text NOT NULL, status text NOT NULL, priority int NOT NULL DEFAULT 3,
  agent text, memory_ids uuid[] NOT NULL DEFAULT '{}', done boolean NOT NULL DEFAULT false, payload jsonb,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX ai_autonomous_tasks_status ON ai_autonomous_tasks (status);
  CREATE INDEX ai_autonomous_tasks_priority ON ai_autonomous_tasks (priority)`;
export const PENDING = { name: "ai_autonomous_tasks", filter: "status IN ('pending','in_progress')" };

export const localRows = (m: EmbeddedMemory, table: string, key: string) =>
  m._db().prepare(`SELECT * FROM "${table}" ORDER BY "${key}"`).all() as Record<string, unknown>[];
export const localKeys = (m: EmbeddedMemory, table: string, key: string) =>
  (m._db().prepare(`SELECT CAST("${key}" AS TEXT) FROM "${table}" ORDER BY "${key}"`).pluck().all() as string[]);

export async function setUp(pg: TestPostgres) {
  await installMaster(pg);
  await seedMemories(pg, 30);
  await pg.sql(TASKS_DDL);
  await pg.sql(
    `INSERT INTO ai_autonomous_tasks (title, status, priority, agent, memory_ids, payload)
     SELECT 'task ' || i, (ARRAY['pending','in_progress','done','failed'])[1 + i % 4], 1 + i % 5, 'agent-' || (i % 3),
            ARRAY(SELECT id FROM unified_ai_memory ORDER BY id LIMIT 1 + i % 3), jsonb_build_object('step', i)
     FROM generate_series(1, 40) AS i`,
  );
}

