/** Field schemas shared by the input schemas (memory writes, search, config). */
import * as Schema from "effect/Schema";

/** Input size limits: larger values are refused with a 400 naming the field. */
export const LIMITS = Object.freeze({ contentBytes: 100_000, metadataBytes: 64_000, tags: 64, text: 200, searchText: 10_000, query: 10_000, dim: 65_536, filterTags: 20 });

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An optional key (absent, never `undefined`). A function, not an alias: declaration emit cannot name effect's lambda type. */
export const opt = <S extends Schema.Top>(schema: S) => Schema.optionalKey(schema);
export const Text = (max: number) => Schema.String.check(Schema.isMaxLength(max, { message: `longer than ${max} characters` }));
export const Uuid = Schema.String.check(Schema.isPattern(UUID_RE, { message: "expected a UUID" })).annotate({ format: "uuid" });
export const IsoDate = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$/, { message: "expected an ISO-8601 date" }),
  Schema.makeFilter((s: string) => !Number.isNaN(Date.parse(s)) || "expected an ISO-8601 date"),
).annotate({ format: "date-time" });
export const Unit = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }, { message: "expected a number from 0 to 1" }));
export const Vector = Schema.Array(Schema.Finite).check(Schema.isMinLength(1, { message: "expected a non-empty array of finite numbers" }), Schema.isMaxLength(LIMITS.dim));
export const JsonObject = Schema.Record(Schema.String, Schema.Unknown);

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");
/** A JSON value whose serialised form is at most `max` bytes. */
export const jsonAtMost = (max: number) => Schema.makeFilter((v: unknown) => utf8Bytes(JSON.stringify(v) ?? "") <= max || `larger than ${max} bytes`);
export const textAtMostBytes = (max: number) => Schema.makeFilter((s: string) => utf8Bytes(s) <= max || `larger than ${max} bytes`);
