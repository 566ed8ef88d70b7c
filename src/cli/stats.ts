/** `stats [--json]`: the stats object, read from the local file alone. */
import { existsSync } from "node:fs";
import { secretsOf, type Config } from "../schema/config.ts";
import { makeLocalStore } from "../store/LocalStore.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";
import { buildStats, outboxCounts } from "../runtime/stats.ts";

export function printStats(config: Config, json: boolean, out: (t: string) => void): number {
  if (!existsSync(config.localPath)) throw new Error(`no replica file at ${config.localPath} (run 'embedded-memory sync' or 'serve' first, or set EMBEDDED_MEMORY_PATH)`);
  const store = makeLocalStore(config.localPath);
  try {
    const d = memoryTableDescriptor(config.memoryTable);
    const complete = store.syncState(d).snapshotComplete;
    // No machine runs in this process: the state says what the file holds, and no master is connected.
    const stats = buildStats({
      store,
      descriptor: d,
      state: complete ? "idle" : "empty",
      poolConnected: false,
      feedConnected: false,
      attempt: 0,
      lastError: null,
      tenantId: config.tenantId,
      snapshotRowsCopied: 0,
      outbox: { ...outboxCounts(store), state: "stopped", uploaded: 0 },
      further: store.tables(),
      secrets: secretsOf(config),
    });
    if (json) out(JSON.stringify(stats, null, 2));
    else {
      out(`replica ${stats.local_db_path}: ${stats.total_memories} memories (${stats.snapshot.complete ? "complete copy" : `copy in progress, ${stats.snapshot.rows_copied} rows so far`})`);
      out(`last sync: ${stats.last_sync ?? "never"} (${stats.sync_metadata.last_sync_count} rows applied)`);
      out(`cursor: ${stats.cursor.snapshot ?? "none"}  epoch: ${stats.cursor.epoch ?? "none"}`);
      out(`outbox: ${stats.outbox.pending} pending, ${stats.outbox.parked} parked`);
      for (const [name, t] of Object.entries(stats.tables).slice(1)) {
        out(`table ${name}: ${t.rows} rows, last sync ${t.last_sync ?? "never"}${t.filter ? `, filter ${t.filter}` : ""}`);
      }
    }
    return 0;
  } finally {
    store.close();
  }
}
