/** `migrate [--print]`: installs (or prints) the master objects, for the memory table and every further one. */
import * as Effect from "effect/Effect";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { Master, masterLayer } from "../master/Master.ts";
import { checkObjects, installObjects, introspectColumns } from "../master/masterObjects.ts";
import type { MasterColumn } from "../master/columnsSql.ts";
import { installStatements } from "../master/installSql.ts";
import { describeTable } from "../master/tableShape.ts";
import { memoryTableDescriptor, type TableDescriptor } from "../schema/tableDescriptor.ts";
import { localTableName, type ReplicatedTableConfig } from "../schema/replicatedTables.ts";

/** Offline, a further table's triggers need only its key: given, or unknown until the master is asked. */
const offlineDescriptor = (t: ReplicatedTableConfig): TableDescriptor | undefined =>
  t.key === undefined ? undefined : { masterTable: t.name, localName: localTableName(t.name), key: t.key, columns: [] };

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
    for (const t of config.replicatedTables) {
      const further = columns ? await withMaster((m) => describeTable(m, t, { planFilter: false })).catch(() => offlineDescriptor(t)) : offlineDescriptor(t);
      // The shared objects were printed above: only the table's own function and triggers.
      if (further) statements.push(...installStatements(further, undefined).filter((s) => s.includes(`"${further.key}"`) || /CREATE TRIGGER/.test(s)));
      else statements.push(`-- ${t.name}: its key is the master's primary key, read when migrate runs against the master (or give "key" in REPLICATE_CONFIG to print it offline)`);
    }
    out(["BEGIN", ...statements, "COMMIT"].map((s) => (s.startsWith("--") ? s : `${s};`)).join("\n\n"));
    return 0;
  }
  const status = await withMaster((m) => Effect.andThen(installObjects(m, d), checkObjects(m, d)));
  if (!status.installed) throw new Error("migrate ran but the objects are still incomplete");
  out(`master objects installed for ${d.masterTable} (schema embedded_memory); running it again changes nothing`);
  for (const t of config.replicatedTables) {
    const further = await withMaster((m) => Effect.flatMap(describeTable(m, t), (fd) => Effect.as(Effect.andThen(installObjects(m, fd), checkObjects(m, fd)), fd)));
    out(`change capture installed for ${further.masterTable} (key ${further.key}${further.filter ? `, filter ${further.filter}` : ""})`);
  }
  return 0;
}
