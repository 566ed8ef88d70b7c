/** `search <query> [--limit N] [--type T] [--tenant UUID] [--json]`: local search, from the file alone. */
import { existsSync } from "node:fs";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { makeLocalStore } from "../store/LocalStore.ts";
import { makeSearch } from "../search/Search.ts";
import { memoryTableDescriptor } from "../store/tableDescriptor.ts";
import { embedderFromConfig } from "../search/embedding/Embedder.ts";

export async function runSearch(config: Config, logger: Logger, query: string, values: Record<string, string>, json: boolean, out: (t: string) => void): Promise<number> {
  if (!existsSync(config.localPath)) throw new Error(`no replica file at ${config.localPath} (run 'embedded-memory sync' or 'serve' first, or set EMBEDDED_MEMORY_PATH)`);
  const store = makeLocalStore(config.localPath);
  const d = memoryTableDescriptor(config.memoryTable);
  const complete = store.syncState(d).snapshotComplete;
  const search = makeSearch({ store, table: d.localName, embedder: embedderFromConfig(config), status: () => ({ state: complete ? "idle" : "empty", complete }), logger });
  try {
    // A person looking from the command line is not an agent's read: no access is counted.
    const r = await search.search({
      query,
      limit: values.limit,
      filters: { memory_type: values.type, tenant_id: values.tenant },
      trackAccess: false,
    });
    if (json) out(JSON.stringify(r, null, 2));
    else {
      out(`${r.total} result${r.total === 1 ? "" : "s"} (${r.search_method}${r.complete ? "" : ", replica still copying"})`);
      for (const m of r.results) {
        const content = typeof m.content === "object" && m.content !== null && "text" in m.content ? String((m.content as { text: unknown }).text) : JSON.stringify(m.content);
        out(`${m.score.toFixed(4)}  ${m.id}  [${m.memory_type ?? "?"}] ${content.length > 100 ? `${content.slice(0, 97)}...` : content}`);
      }
    }
    return 0;
  } finally {
    search.close();
    store.close();
  }
}
