/**
 * The HTTP input schemas (Effect Schema). Requests are decoded with them, and the OpenAPI
 * document is generated from them (openapi.ts), so the document cannot drift from what
 * the routes accept. The library checks its input again (it is used without HTTP too).
 */
import * as Effect from "effect/Effect";
import * as Schema from "effect/Schema";
import { LIMITS } from "../outbox/LocalWrites.ts";

const opt = Schema.optionalKey;
const Text = (max: number) => Schema.String.check(Schema.isMaxLength(max));
const NonEmpty = (max: number) => Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(max));
export const Uuid = Schema.String.check(Schema.isPattern(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, { message: "expected a UUID" })).annotate({ format: "uuid" });
const IsoDate = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$/, { message: "expected an ISO-8601 date" })).annotate({ format: "date-time" });
const Importance = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }));
const Vector = Schema.Array(Schema.Finite).check(Schema.isMinLength(1), Schema.isMaxLength(LIMITS.dim));
const Tag = Text(LIMITS.text);

export const SearchFilters = Schema.Struct({
  tenant_id: opt(Uuid),
  memory_type: opt(Text(200)),
  source_agent: opt(Text(200)),
  min_importance: opt(Importance),
  tags: opt(Schema.Array(Tag).check(Schema.isMaxLength(20))),
  created_after: opt(IsoDate),
  created_before: opt(IsoDate),
}).annotate({ description: "SQL predicates applied before ranking; tenant_id also admits shared (NULL-tenant) rows" });

export const SearchBody = Schema.Struct({
  query: opt(Text(10_000)),
  embedding: opt(Vector.annotate({ description: "A query vector with the replica's dimension" })),
  limit: opt(Schema.Int.annotate({ description: "1..100, default 10; clamped" })),
  filters: opt(SearchFilters),
});

const IntString = Schema.String.check(Schema.isPattern(/^-?\d+$/, { message: "expected a whole number" }));
const NumberString = Schema.String.check(Schema.isPattern(/^\d+(\.\d+)?$/, { message: "expected a number" }));
/** GET /memory/search query string (every value is text). */
export const SearchQuery = Schema.Struct({
  q: opt(Text(10_000)),
  query: opt(Text(10_000)),
  limit: opt(IntString.annotate({ description: "1..100, default 10; clamped" })),
  memory_type: opt(Text(200)),
  source_agent: opt(Text(200)),
  min_importance: opt(NumberString.annotate({ description: "0..1" })),
  tenant_id: opt(Uuid),
  tags: opt(Text(4_000).annotate({ description: "comma-separated; all must be present" })),
  created_after: opt(IsoDate),
  created_before: opt(IsoDate),
});

export const MemoryBody = Schema.Struct({
  content: Schema.Union([NonEmpty(LIMITS.contentBytes), Schema.Record(Schema.String, Schema.Unknown)]).annotate({ description: "Text (stored as {text} in a jsonb column) or a JSON object" }),
  id: opt(Uuid),
  memory_type: opt(Text(LIMITS.text)),
  importance_score: opt(Importance),
  source_agent: opt(Text(LIMITS.text)),
  source_system: opt(Text(LIMITS.text)),
  created_by: opt(Text(LIMITS.text)),
  tags: opt(Schema.Array(Tag).check(Schema.isMaxLength(LIMITS.tags))),
  metadata: opt(Schema.Record(Schema.String, Schema.Unknown)),
  tenant_id: opt(Schema.NullOr(Uuid)),
  context_id: opt(Schema.NullOr(Uuid)),
  search_text: opt(Schema.NullOr(Text(LIMITS.searchText))),
  expires_at: opt(Schema.NullOr(IsoDate)),
  embedding: opt(Schema.NullOr(Vector)),
});

export const ForceSyncQuery = Schema.Struct({ full: opt(Schema.Literals(["true", "false"])) });

export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decodes untrusted input, rejecting unknown fields. Throws InputError naming the first
 * field at fault: `limit: Expected an integer`.
 */
export function decode<S extends Schema.Top>(schema: S, input: unknown, root = "body"): S["Type"] {
  const result = Effect.runSync(Effect.result(Schema.decodeUnknownEffect(schema as never)(input, { onExcessProperty: "error", errors: "all" })));
  if (result._tag === "Success") return result.success as S["Type"];
  const text = String(result.failure).replace(/^SchemaError\(/, "").replace(/\)$/, "");
  const lines = text.split("\n");
  const message = lines[0] ?? "invalid";
  const at = /^\s*at (.*)$/.exec(lines[1] ?? "")?.[1];
  const field = at ? [...at.matchAll(/\["?([^"\]]*)"?\]/g)].map((m) => m[1]).join(".") : root;
  const friendly = message.startsWith("Expected no excess property") ? "unknown field" : message;
  throw new InputError(field, `${field}: ${friendly}`);
}
