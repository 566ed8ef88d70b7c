/**
 * A view of the replica for one tenant (an API key scoped with `key:<tenant uuid>`, over HTTP and
 * MCP alike). It reads only that tenant's rows and the shared (NULL-tenant) ones, stores into
 * that tenant, and treats another tenant's id exactly as a missing one — the same 404 — so ids of
 * other tenants cannot be probed. Shared rows are readable but not writable through a scoped key:
 * writing one would take it away from every other tenant.
 */
import * as Data from "effect/Data";
import type { EmbeddedMemory } from "./embeddedMemory.ts";
import type { MemoryWrite } from "../schema/memory.ts";
import type { SearchRequest } from "../schema/search.ts";
import type { SearchOptions, SearchResponse } from "../search/Search.ts";
import type { StoredMemory } from "../outbox/LocalWrites.ts";
import { decodeInput } from "../schema/decode.ts";
import { MemoryWrite as MemoryWriteSchema } from "../schema/memory.ts";
import { SearchRequest as SearchRequestSchema } from "../schema/search.ts";

/** The request reaches past its key's tenant (another tenant named, or a shared row written): HTTP 403. */
export class TenantScopeError extends Data.TaggedError("TenantScopeError")<{ readonly message: string; readonly field: string }> {}

/** No such memory (for this key): HTTP 404, the same answer as a GET of a missing id. */
export class MemoryNotFoundError extends Data.TaggedError("MemoryNotFoundError")<{ readonly id: string; readonly message: string }> {}

/** What the adapters (HTTP routes, MCP tools) call: the whole replica, or one tenant's view of it. */
export type MemoryApi = Pick<EmbeddedMemory, "search" | "store" | "get" | "remove" | "stats" | "forceSync" | "table">;

const refuse = (field: string, message: string): never => {
  throw new TenantScopeError({ field, message: `${field}: ${message}` });
};

export function scopeToTenant(memory: MemoryApi, tenantRaw: string | null): MemoryApi {
  if (tenantRaw === null) return memory;
  const tenant = tenantRaw.toLowerCase();
  const visible = (m: StoredMemory | undefined) => (m && (m.tenant_id === null || m.tenant_id === tenant) ? m : undefined);
  /**
   * The rule for writing an existing row, checked by LocalWrites in the same step as the write
   * (never between two awaits, where a pull could move the row to another tenant): another
   * tenant's row is the same "absent" as a missing one; a shared row is read-only here.
   */
  const ABSENT = Symbol("absent");
  const writable = (row: StoredMemory | undefined): void => {
    if (!visible(row)) throw ABSENT;
    if (row!.tenant_id === null) refuse("id", "a shared memory (no tenant) is read-only for a tenant-scoped key");
  };
  const absentAs = async <A,>(write: () => Promise<A>, absent: () => A): Promise<A> => {
    try {
      return await write();
    } catch (e) {
      if (e === ABSENT) return absent();
      throw e;
    }
  };
  return {
    // Every check runs on the decoded input, never on the raw body: the schema is what decides
    // what a field is (a raw `"__proto__": {"id": …}` once slipped an id past a raw check).
    search: async (raw: SearchRequest, options?: SearchOptions): Promise<SearchResponse> => {
      const request = decodeInput(SearchRequestSchema, raw);
      const named = request.filters?.tenant_id;
      if (named !== undefined && named.toLowerCase() !== tenant) refuse("filters.tenant_id", "this key is scoped to another tenant");
      return memory.search({ ...request, filters: { ...request.filters, tenant_id: tenant } }, options);
    },
    store: async (raw: MemoryWrite): Promise<StoredMemory> => {
      const input = decodeInput(MemoryWriteSchema, raw);
      if (input.tenant_id !== undefined && (input.tenant_id === null || input.tenant_id.toLowerCase() !== tenant)) {
        refuse("tenant_id", "a tenant-scoped key stores into its own tenant only");
      }
      // With an id, a scoped store is an update: a missing id and another tenant's id are the
      // same 404 (were a missing id an insert, the difference would reveal the other's ids).
      if (input.id === undefined) return memory.store({ ...input, tenant_id: tenant });
      const id = input.id.toLowerCase();
      return absentAs(
        () => memory.store({ ...input, tenant_id: tenant }, { guard: writable }),
        () => {
          throw new MemoryNotFoundError({ id, message: `no memory ${id} in the replica` });
        },
      );
    },
    get: async (id: string) => visible(await memory.get(id)),
    remove: (id: string) => absentAs(() => memory.remove(id, { guard: writable }), () => false),
    stats: () => memory.stats(),
    // A full sync copies every tenant's rows anew (minutes of load on the master and the file):
    // an operator's decision, not one tenant's.
    forceSync: (options) => (options?.full ? refuse("full", "a tenant-scoped key may not copy the whole table anew (use a key of every tenant)") : memory.forceSync(options)),
    // Rows of tables with a tenant column: this tenant's and the shared ones (runtime/tables.ts).
    table: (name) => memory.table(name, { tenant }),
  };
}
