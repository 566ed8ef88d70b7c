/**
 * Search filters as SQL predicates. Filters are applied in SQL,
 * before any ranking, never to a result list afterwards. Expired and archived rows are
 * never returned.
 */
import { isoMicros } from "../store/statements.ts";
import type { SearchFilters } from "../schema/search.ts";

/**
 * Decoded filters (schema/search.ts validates them) in the form the SQL compares: tenant ids
 * lower-case, dates as the stored microsecond ISO text, empty values dropped.
 */
export function normalizeFilters(f: SearchFilters | undefined): SearchFilters {
  if (!f) return {};
  return {
    ...(f.tenant_id ? { tenant_id: f.tenant_id.toLowerCase() } : {}),
    ...(f.memory_type ? { memory_type: f.memory_type } : {}),
    ...(f.source_agent ? { source_agent: f.source_agent } : {}),
    ...(f.min_importance !== undefined ? { min_importance: f.min_importance } : {}),
    ...(f.tags?.length ? { tags: f.tags } : {}),
    ...(f.created_after ? { created_after: isoMicros(new Date(f.created_after)) } : {}),
    ...(f.created_before ? { created_before: isoMicros(new Date(f.created_before)) } : {}),
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
