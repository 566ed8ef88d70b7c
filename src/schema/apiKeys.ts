/**
 * API_KEYS entries: `key` (every tenant) or `key:<tenant uuid>` (a key scoped to one tenant: it
 * reads that tenant's rows and the shared NULL-tenant ones, and writes into that tenant). A colon
 * always introduces a tenant, so a mistyped UUID is a configuration error — never a key that
 * silently sees every tenant.
 */
import { UUID_RE } from "./fields.ts";

export interface ApiKey {
  readonly key: string;
  /** null: the key sees every tenant. */
  readonly tenant: string | null;
}

/** Parses one entry; returns an error message (never containing the key) when it is malformed. */
export function parseApiKey(entry: string): ApiKey | string {
  const colon = entry.lastIndexOf(":");
  if (colon < 0) return { key: entry, tenant: null };
  const key = entry.slice(0, colon);
  const tenant = entry.slice(colon + 1);
  if (key.length === 0) return "an entry has a tenant but no key (expected key or key:<tenant uuid>)";
  if (!UUID_RE.test(tenant)) return "a key's tenant after ':' is not a UUID (expected key or key:<tenant uuid>; keys cannot contain ':')";
  return { key, tenant: tenant.toLowerCase() };
}

/** Every entry parsed (the config schema has already refused malformed ones). */
export const apiKeysOf = (entries: readonly string[]): ApiKey[] => entries.map((e) => parseApiKey(e)).filter((k): k is ApiKey => typeof k !== "string");
