/**
 * The MCP tools that read the replicated tables (REPLICATE_TABLES: the agents' tasks beside their
 * memories; the memory table's raw rows too): the same reads as GET /tables/:name and
 * GET /tables/:name/:key, through the same scoped view, decoded by the same schemas.
 */
import * as Schema from "effect/Schema";
import { decodeInput, MemoryNotFoundError, TableKey, TableListQuery, type MemoryApi } from "../index.ts";

type Json = Record<string, unknown>;

const TableName = Schema.String.check(Schema.isMinLength(1, { message: "must not be empty" })).annotate({
  description: "a replicated table's local name: unified_ai_memory, or one named in REPLICATE_TABLES (e.g. ai_autonomous_tasks)",
});
export const TableListInput = Schema.Struct({ table: TableName, ...TableListQuery.fields });
export const TableGetInput = Schema.Struct({ table: TableName, key: TableKey });

export const PAGE_OUT: Json = {
  type: "object",
  required: ["table", "rows", "next_cursor", "complete"],
  properties: {
    table: { type: "string" },
    rows: { type: "array", items: { type: "object", description: "a row: the master's column names and values" } },
    next_cursor: { type: ["string", "null"], description: "pass as `cursor` (same order_by) for the next page; null on the last" },
    complete: { type: "boolean", description: "false while the table is being copied (first copy, or anew): the rows may be missing or partial" },
  },
};

const args = (raw: unknown) => (raw === undefined || raw === null ? {} : raw);

export const tableList = async (api: MemoryApi, raw: unknown): Promise<Json> => {
  const { table, ...query } = decodeInput(TableListInput, args(raw), "arguments");
  return (await api.table(table).list(query)) as unknown as Json;
};

export const tableGet = async (api: MemoryApi, raw: unknown): Promise<Json> => {
  const { table, key } = decodeInput(TableGetInput, args(raw), "arguments");
  const row = await api.table(table).get(key);
  if (!row) throw new MemoryNotFoundError({ id: String(key), message: `no row ${String(key).slice(0, 100)} in table ${table.slice(0, 100)}` });
  return row as Json;
};
