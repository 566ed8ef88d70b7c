/** `sync [--full] [--json]`: one-shot — copy if needed, pull until caught up, upload the outbox, exit. */
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";
import { progressReporter } from "./progress.ts";

export async function runSync(config: Config, logger: Logger, options: { readonly full: boolean; readonly json: boolean }, out: (t: string) => void): Promise<number> {
  const memory = new EmbeddedMemory(config, { logger });
  const progress = options.json ? undefined : progressReporter("copying");
  try {
    const r = await memory.syncOnce({ full: options.full, onProgress: progress?.update });
    progress?.done();
    const tables = Object.entries(r.tables ?? {}).map(([name, rows]) => `, ${rows} ${name}`).join("");
    out(options.json ? JSON.stringify(r) : `synced: ${r.applied} rows applied, ${r.total_memories} memories${tables} in the replica (${r.duration_ms} ms)`);
    return 0;
  } finally {
    progress?.done();
    await memory.stop();
  }
}
