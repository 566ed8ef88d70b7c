/**
 * Decoding untrusted input with the shared schemas. One error class for every bad input,
 * whichever entry point saw it (library call, HTTP route, MCP tool): it names the field, and
 * the adapters turn it into a 400 or a tool error.
 */
import * as Data from "effect/Data";
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";

/** Bad input: `field` is the path of the first value at fault (`filters.tenant_id`), `message` says what is wrong. */
export class InvalidInputError extends Data.TaggedError("InvalidInputError")<{ readonly field: string; readonly message: string }> {}

/** Throws InvalidInputError for `field` (for the few checks that need the replica's state). */
export const invalid = (field: string, message: string): never => {
  throw new InvalidInputError({ field, message: `${field}: ${message}` });
};

/** Deeper input is refused (no memory, filter or tool argument needs it; deep JSON would overflow the stack). */
export const MAX_INPUT_DEPTH = 64;

/**
 * A copy of the input in which a key set to `undefined` is absent, as JavaScript callers mean
 * it (`{ query, limit: opts.limit }`); JSON never has one, so HTTP input is unchanged. Every key
 * is copied as an own property (defineProperty): a JSON `"__proto__"` key stays a key — refused
 * as unknown — and never becomes the copy's prototype, whose fields the decoder would then read.
 */
function withoutUndefined(v: unknown, depth = 0): unknown {
  if (depth > MAX_INPUT_DEPTH) return invalid("body", `nested more than ${MAX_INPUT_DEPTH} levels deep`);
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => withoutUndefined(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x !== undefined) Object.defineProperty(out, k, { value: withoutUndefined(x, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Whole inputs whose fields are named alone (`limit`, not `body.limit`). */
const UNPREFIXED_ROOTS = new Set(["body", "query", "arguments"]);

/**
 * Decodes untrusted input, rejecting unknown fields. Throws InvalidInputError naming the first
 * field at fault: `limit: Expected an integer`.
 */
export function decodeInput<S extends Schema.Top>(schema: S, input: unknown, root = "body"): S["Type"] {
  const result = Schema.decodeUnknownResult(schema as never)(withoutUndefined(input), { onExcessProperty: "error", errors: "all" }) as Result.Result<S["Type"], Schema.SchemaError>;
  if (Result.isSuccess(result)) return result.success;
  const text = String(result.failure.message ?? result.failure);
  const lines = text.split("\n");
  const message = lines[0] ?? "invalid";
  const at = /^\s*at (.*)$/.exec(lines[1] ?? "")?.[1];
  const path = at ? [...at.matchAll(/\["?([^"\]]*)"?\]/g)].map((m) => m[1]).join(".") : "";
  const field = path ? (UNPREFIXED_ROOTS.has(root) ? path : `${root}.${path}`) : root;
  const friendly = message.startsWith("Expected no excess property") ? "unknown field" : message;
  throw new InvalidInputError({ field, message: `${field}: ${friendly}` });
}
