/**
 * A memory write (library `store`, HTTP `POST /memory`, MCP `memory_store`) and a memory id:
 * the one schema each, so every entry point accepts and refuses exactly the same input.
 */
import * as Schema from "effect/Schema";
import { IsoDate, JsonObject, jsonAtMost, LIMITS, opt, Text, textAtMostBytes, Unit, Uuid, Vector } from "./fields.ts";

const Content = Schema.Union([
  Schema.String.check(
    Schema.makeFilter((s: string) => s.trim() !== "" || "must not be empty"),
    textAtMostBytes(LIMITS.contentBytes),
  ),
  JsonObject.check(jsonAtMost(LIMITS.contentBytes)),
]).annotate({ description: "Text (stored as {text} in a jsonb column) or a JSON object" });

export const MemoryWrite = Schema.Struct({
  content: Content,
  id: opt(Uuid.annotate({ description: "Update this memory (insert when it does not exist)" })),
  memory_type: opt(Text(LIMITS.text).annotate({ description: "episodic, semantic, procedural, working, meta… (default semantic)" })),
  importance_score: opt(Unit.annotate({ description: "0..1, default 0.5" })),
  source_agent: opt(Text(LIMITS.text)),
  source_system: opt(Text(LIMITS.text)),
  created_by: opt(Text(LIMITS.text)),
  tags: opt(Schema.Array(Text(LIMITS.text)).check(Schema.isMaxLength(LIMITS.tags))),
  metadata: opt(JsonObject.check(jsonAtMost(LIMITS.metadataBytes))),
  tenant_id: opt(Schema.NullOr(Uuid)),
  context_id: opt(Schema.NullOr(Uuid)),
  search_text: opt(Schema.NullOr(Text(LIMITS.searchText))),
  expires_at: opt(Schema.NullOr(IsoDate)),
  embedding: opt(Schema.NullOr(Vector)),
}).annotate({ title: "MemoryWrite", description: "A memory to store: insert, or update by id (absent fields keep their value)" });

/** What `store()` takes. */
export type MemoryWrite = typeof MemoryWrite.Type;

export const MemoryId = Uuid.annotate({ title: "MemoryId" });
