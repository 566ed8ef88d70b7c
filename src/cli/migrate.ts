/** `migrate [--print]`: installs (or prints) the master objects. */
import * as Effect from "effect/Effect";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { Master, masterLayer } from "../master/Master.ts";
import { checkObjects, installObjects, introspectColumns } from "../master/masterObjects.ts";
import type { MasterColumn } from "../master/columnsSql.ts";
import { installStatements } from "../master/installSql.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";

export async function runMigrate(config: Config, logger: Logger, print: boolean, out: (t: string) => void): Promise<number> {
  const d = memoryTableDescriptor(config.memoryTable);
  const withMaster = <A, E>(f: (master: typeof Master.Service) => Effect.Effect<A, E>) =>
    Effect.runPromise(
      Effect.gen(function* () {
        return yield* f(yield* Master);
      }).pipe(Effect.provide(masterLayer({ databaseUrl: config.databaseUrl!, connectTimeoutMs: config.connectTimeoutMs, statementTimeoutMs: config.statementTimeoutMs, maxConnections: 1, logger }))),
    );

  if (print) {
    // With a reachable master the triggers match its real columns; offline, the reference shape.
    let columns: MasterColumn[] | undefined;
    if (config.databaseUrl) columns = await withMaster((m) => introspectColumns(m, d)).catch(() => undefined);
    const statements = installStatements(d, columns && columns.length ? columns : undefined);
    out(["BEGIN", ...statements, "COMMIT"].map((s) => `${s};`).join("\n\n"));
    return 0;
  }
  const status = await withMaster((m) => Effect.andThen(installObjects(m, d), checkObjects(m, d)));
  if (!status.installed) throw new Error("migrate ran but the objects are still incomplete");
  out(`master objects installed for ${d.masterTable} (schema embedded_memory); running it again changes nothing`);
  return 0;
}
