/** `verify [--json] [--repair]`: master and replica compared row by row; exit 1 when they differ. */
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";

export async function runVerify(config: Config, logger: Logger, options: { readonly repair: boolean; readonly json: boolean }, out: (t: string) => void): Promise<number> {
  const memory = new EmbeddedMemory(config, { logger });
  try {
    let r = await memory.verify({ repair: options.repair });
    // After a repair, check again: the answer is about the replica as it is now.
    if (r.repaired > 0) r = { ...(await memory.verify()), repaired: r.repaired };
    if (options.json) out(JSON.stringify(r));
    else {
      out(`master: ${r.master_count} rows, replica: ${r.replica_count} rows — ${r.identical ? "identical" : "DIFFERENT"}`);
      for (const [label, ids] of [["missing in replica", r.missing], ["extra in replica", r.extra], ["different", r.different]] as const) {
        if (ids.length) out(`  ${label}: ${ids.join(", ")}`);
      }
      for (const [name, t] of Object.entries(r.tables ?? {})) {
        out(`${name}: master: ${t.master_count} rows, replica: ${t.replica_count} rows — ${t.identical ? "identical" : "DIFFERENT"}`);
        for (const [label, ids] of [["missing in replica", t.missing], ["extra in replica", t.extra], ["different", t.different]] as const) {
          if (ids.length) out(`  ${label}: ${ids.join(", ")}`);
        }
      }
      if (r.repaired) out(`repaired ${r.repaired} rows`);
    }
    return r.identical ? 0 : 1;
  } finally {
    await memory.stop();
  }
}
