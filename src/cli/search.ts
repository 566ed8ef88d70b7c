/** `search <query> [--limit N] [--type T] [--tenant UUID] [--json]`: local search, from the file alone. */
import { existsSync } from "node:fs";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { makeLocalStore } from "../store/LocalStore.ts";
import { makeSearch } from "../search/Search.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";
import { embedderFromConfig } from "../search/embedding/Embedder.ts";
import { decodeInput, InvalidInputError } from "../schema/decode.ts";
import { SearchQuery, searchRequestFromQuery } from "../schema/search.ts";

/** The CLI's flags for the query-string fields, so that an error names what the user typed. */
const FLAG_OF: Record<string, string> = { limit: "--limit", memory_type: "--type", tenant_id: "--tenant", q: "<query>" };

/** The flags decode like GET /memory/search's query string: the same schema, the same refusals. */
function searchRequest(query: string, values: Record<string, string>) {
  try {
    const fields = { q: query, limit: values.limit, memory_type: values.type, tenant_id: values.tenant };
    // An absent flag is an absent key (the schema's optional keys do not take undefined).
    const input = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    return searchRequestFromQuery(decodeInput(SearchQuery, input, "query"));
  } catch (e) {
    if (!(e instanceof InvalidInputError) || !FLAG_OF[e.field]) throw e;
    const flag = FLAG_OF[e.field]!;
    throw new InvalidInputError({ field: flag, message: `${flag}${e.message.slice(e.field.length)}` });
  }
}

export async function runSearch(config: Config, logger: Logger, query: string, values: Record<string, string>, json: boolean, out: (t: string) => void): Promise<number> {
  const request = searchRequest(query, values);
  if (!existsSync(config.localPath)) throw new Error(`no replica file at ${config.localPath} (run 'embedded-memory sync' or 'serve' first, or set EMBEDDED_MEMORY_PATH)`);
  const store = makeLocalStore(config.localPath);
  const d = memoryTableDescriptor(config.memoryTable);
  const complete = store.syncState(d).snapshotComplete;
  const search = makeSearch({ store, table: d.localName, embedder: embedderFromConfig(config), status: () => ({ state: complete ? "idle" : "empty", complete }), logger });
  try {
    // A person looking from the command line is not an agent's read: no access is counted.
    const r = await search.search({ ...request, trackAccess: false });
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
