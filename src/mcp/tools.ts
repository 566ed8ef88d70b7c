/**
 * The MCP tools, named as memory MCP servers converge on (mem0, mcp-memory-service). Each
 * input schema is generated from the schema the library decodes with (so a tool refuses exactly
 * what HTTP refuses), each result carries `structuredContent` matching its output schema, and a
 * refusal is a tool error naming the field — never a protocol error.
 */
import * as Schema from "effect/Schema";
import {
  InvalidInputError,
  MemoryId,
  MemoryNotFoundError,
  MemoryWrite,
  ReplicaLockedError,
  SearchRequest,
  TenantScopeError,
  decodeInput,
  type MemoryApi,
} from "../index.ts";
import { PAGE_OUT, tableGet, tableList, TableGetInput, TableListInput } from "./tableTools.ts";

type Json = Record<string, unknown>;

export interface ToolResult {
  readonly content: { type: "text"; text: string }[];
  readonly structuredContent?: Json;
  readonly isError?: boolean;
  [key: string]: unknown;
}

export interface ToolDefinition {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: Json;
  readonly outputSchema: Json;
  readonly annotations: { readonly readOnlyHint: boolean; readonly destructiveHint: boolean; readonly idempotentHint: boolean; readonly openWorldHint: boolean };
  readonly run: (api: MemoryApi, args: unknown) => Promise<Json>;
}

const inputOf = (s: Schema.Top): Json => {
  const { type: _t, ...rest } = Schema.toJsonSchemaDocument(s).schema as Json;
  return { type: "object", ...rest };
};
const nullable = (type: string) => ({ type: [type, "null"] });
const MEMORY_OUT: Json = {
  type: "object",
  required: ["id", "content"],
  properties: {
    id: { type: "string" },
    content: {},
    memory_type: nullable("string"),
    importance_score: nullable("number"),
    source_agent: nullable("string"),
    tags: {},
    metadata: {},
    tenant_id: nullable("string"),
    created_at: nullable("string"),
    updated_at: nullable("string"),
    pending: { type: "boolean", description: "true until the master has this write" },
  },
};
const SEARCH_OUT: Json = {
  type: "object",
  required: ["results", "total", "search_method", "state", "complete"],
  properties: {
    results: { type: "array", items: { type: "object", required: ["id", "score"], properties: { id: { type: "string" }, content: {}, score: { type: "number", description: "0..1, relevance first" } } } },
    total: { type: "integer" },
    query: { type: "string" },
    search_method: { type: "string" },
    state: { type: "string", description: "the sync state when the search ran" },
    complete: { type: "boolean", description: "the replica holds a complete copy of the master table" },
    stale: { type: "boolean", description: "the replica answers from an older copy while a new one is made (it was away past the changelog retention)" },
  },
};
const IdInput = Schema.Struct({ id: MemoryId });
const SyncInput = Schema.Struct({ full: Schema.optionalKey(Schema.Boolean) });
const EmptyInput = Schema.Struct({});
const args = (raw: unknown) => (raw === undefined || raw === null ? {} : raw);

const notFound = (id: string) => new MemoryNotFoundError({ id, message: `no memory ${id} in the replica` });

export const TOOLS: readonly ToolDefinition[] = [
  {
    name: "memory_search",
    title: "Search memories",
    description: "Search the local replica by text and/or embedding (relevance first; importance and recency break near-ties). Answers from the local file at once, also while the master is away.",
    inputSchema: inputOf(SearchRequest),
    outputSchema: SEARCH_OUT,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: async (api, raw) => (await api.search(decodeInput(SearchRequest, args(raw), "arguments"))) as unknown as Json,
  },
  {
    name: "memory_store",
    title: "Store a memory",
    description: "Store a memory locally (durable before the answer) and upload it to the master; with an id, update that memory.",
    inputSchema: inputOf(MemoryWrite),
    outputSchema: MEMORY_OUT,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: async (api, raw) => (await api.store(decodeInput(MemoryWrite, args(raw), "arguments"))) as unknown as Json,
  },
  {
    name: "memory_get",
    title: "Get a memory",
    description: "One memory from the local replica, by id.",
    inputSchema: inputOf(IdInput),
    outputSchema: MEMORY_OUT,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: async (api, raw) => {
      const { id } = decodeInput(IdInput, args(raw), "arguments");
      const m = await api.get(id);
      if (!m) throw notFound(id);
      return m as unknown as Json;
    },
  },
  {
    name: "memory_delete",
    title: "Delete a memory",
    description: "Delete a memory locally at once; the delete is uploaded to the master.",
    inputSchema: inputOf(IdInput),
    outputSchema: { type: "object", required: ["id", "deleted"], properties: { id: { type: "string" }, deleted: { type: "boolean" } } },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    run: async (api, raw) => {
      const { id } = decodeInput(IdInput, args(raw), "arguments");
      if (!(await api.remove(id))) throw notFound(id);
      return { id, deleted: true };
    },
  },
  {
    name: "memory_stats",
    title: "Replica statistics",
    description: "The replica's sync state, counts, outbox and change feed (the /memory/stats object).",
    inputSchema: inputOf(EmptyInput),
    outputSchema: { type: "object", required: ["state", "total_memories"], properties: { state: { type: "string" }, total_memories: { type: "integer" }, pool_connected: { type: "boolean" } } },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: async (api, raw) => {
      decodeInput(EmptyInput, args(raw), "arguments");
      return api.stats() as unknown as Json;
    },
  },
  {
    name: "memory_sync",
    title: "Sync now",
    description: "Run a sync with the master that starts now and answer when it ends (full: copy the table anew).",
    inputSchema: inputOf(SyncInput),
    outputSchema: { type: "object", required: ["success"], properties: { success: { type: "boolean" }, synced_count: { type: "integer" }, state: { type: "string" }, error: { type: "string" } } },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    run: async (api, raw) => (await api.forceSync({ full: decodeInput(SyncInput, args(raw), "arguments").full === true })) as unknown as Json,
  },
  {
    name: "table_list",
    title: "List rows of a replicated table",
    description:
      "Rows of a table replicated beside the memories (e.g. the agents' pending tasks, ai_autonomous_tasks), from the local file: equality filters on columns, order_by the key or an indexed column (-column descending), limit, cursor for the next page.",
    inputSchema: inputOf(TableListInput),
    outputSchema: PAGE_OUT,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: tableList,
  },
  {
    name: "table_get",
    title: "Get a row of a replicated table",
    description: "One row of a replicated table (e.g. a task of ai_autonomous_tasks), by its key, from the local file.",
    inputSchema: inputOf(TableGetInput),
    outputSchema: { type: "object", description: "the row: the master's column names and values" },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: tableGet,
  },
];

/** Runs one tool; an error the caller can act on becomes a tool error (isError), anything else is thrown. */
export async function callTool(api: MemoryApi, name: string, raw: unknown): Promise<ToolResult> {
  const tool = TOOLS.find((t) => t.name === name);
  if (!tool) return { content: [{ type: "text", text: `unknown tool ${name} (tools: ${TOOLS.map((t) => t.name).join(", ")})` }], isError: true };
  try {
    const out = await tool.run(api, raw);
    return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
  } catch (e) {
    if (e instanceof InvalidInputError || e instanceof TenantScopeError || e instanceof MemoryNotFoundError || e instanceof ReplicaLockedError) {
      return { content: [{ type: "text", text: e.message }], isError: true };
    }
    throw e;
  }
}
