/**
 * Search input: validated filters and their SQL predicates. Filters are applied in SQL,
 * before any ranking, never to a result list afterwards. Expired and archived rows are
 * never returned.
 */
import * as Data from "effect/Data";
import { isoMicros } from "../store/LocalStore.ts";

/** Bad search input: names the field, becomes a 400. */
export class SearchInputError extends Data.TaggedError("SearchInputError")<{ readonly field: string; readonly message: string }> {}

export interface SearchFilters {
  readonly tenant_id?: string;
  readonly memory_type?: string;
  readonly source_agent?: string;
  readonly min_importance?: number;
  /** Every listed tag must be present. */
  readonly tags?: readonly string[];
  /** ISO-8601 bounds on created_at (inclusive). */
  readonly created_after?: string;
  readonly created_before?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TEXT = 200;

const fail = (field: string, message: string): never => {
  throw new SearchInputError({ field, message: `${field}: ${message}` });
};

function text(field: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") return fail(field, "expected a string");
  if (v.length > MAX_TEXT) return fail(field, `longer than ${MAX_TEXT} characters`);
  return v;
}

function date(field: string, v: unknown): string | undefined {
  const s = text(field, v);
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return fail(field, `not an ISO-8601 date: ${JSON.stringify(s.slice(0, 40))}`);
  return isoMicros(new Date(t));
}

/** Checks untrusted filter input (HTTP bodies, query strings) and normalises it. */
export function parseFilters(input: unknown): SearchFilters {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input)) return fail("filters", "expected an object");
  const f = input as Record<string, unknown>;
  const known = ["tenant_id", "memory_type", "source_agent", "min_importance", "tags", "created_after", "created_before"];
  for (const k of Object.keys(f)) if (!known.includes(k)) fail(`filters.${k}`, `unknown filter (known: ${known.join(", ")})`);
  const tenant = text("tenant_id", f.tenant_id);
  if (tenant !== undefined && !UUID_RE.test(tenant)) fail("tenant_id", "expected a UUID");
  let minImportance: number | undefined;
  if (f.min_importance !== undefined && f.min_importance !== null && f.min_importance !== "") {
    minImportance = typeof f.min_importance === "string" ? Number(f.min_importance) : (f.min_importance as number);
    if (typeof minImportance !== "number" || !Number.isFinite(minImportance) || minImportance < 0 || minImportance > 1) fail("min_importance", "expected a number from 0 to 1");
  }
  let tags: string[] | undefined;
  if (f.tags !== undefined && f.tags !== null) {
    const raw = typeof f.tags === "string" ? f.tags.split(",").filter((t) => t !== "") : f.tags;
    if (!Array.isArray(raw) || raw.some((t) => typeof t !== "string" || t.length > MAX_TEXT)) fail("tags", "expected a list of strings");
    if ((raw as string[]).length > 20) fail("tags", "at most 20 tags");
    tags = raw as string[];
  }
  return {
    ...(tenant !== undefined ? { tenant_id: tenant.toLowerCase() } : {}),
    ...(text("memory_type", f.memory_type) !== undefined ? { memory_type: f.memory_type as string } : {}),
    ...(text("source_agent", f.source_agent) !== undefined ? { source_agent: f.source_agent as string } : {}),
    ...(minImportance !== undefined ? { min_importance: minImportance } : {}),
    ...(tags?.length ? { tags } : {}),
    ...(date("created_after", f.created_after) !== undefined ? { created_after: date("created_after", f.created_after)! } : {}),
    ...(date("created_before", f.created_before) !== undefined ? { created_before: date("created_before", f.created_before)! } : {}),
  };
}

/** The predicate (alias `m` = the memory table) and its parameters. */
export function filterSql(f: SearchFilters, now = isoMicros()): { where: string; params: unknown[] } {
  const parts = ["(m.expires_at IS NULL OR m.expires_at > ?)", "(m.archived IS NULL OR m.archived = 0)"];
  const params: unknown[] = [now];
  // A tenant sees its own rows and shared (NULL-tenant) ones, never another tenant's.
  if (f.tenant_id !== undefined) parts.push("(m.tenant_id = ? OR m.tenant_id IS NULL)"), params.push(f.tenant_id);
  if (f.memory_type !== undefined) parts.push("m.memory_type = ?"), params.push(f.memory_type);
  if (f.source_agent !== undefined) parts.push("m.source_agent = ?"), params.push(f.source_agent);
  if (f.min_importance !== undefined) parts.push("m.importance_score >= ?"), params.push(f.min_importance);
  for (const tag of f.tags ?? []) parts.push("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(m.tags) THEN m.tags ELSE '[]' END) WHERE value = ?)"), params.push(tag);
  if (f.created_after !== undefined) parts.push("m.created_at >= ?"), params.push(f.created_after);
  if (f.created_before !== undefined) parts.push("m.created_at <= ?"), params.push(f.created_before);
  return { where: parts.join(" AND "), params };
}

export const hasNarrowingFilters = (f: SearchFilters): boolean => Object.keys(f).length > 0;
