/**
 * Installing and checking the master-side objects (schema `embedded_memory`: changelog,
 * triggers, meta/epoch). Idempotent; the memory table is created only when missing and an
 * existing one is never altered.
 */
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import { checkObjectsSql, installStatements, introspectColumnsSql, qualified, type MasterColumn } from "./masterSql.ts";
import type { MasterError, MasterShape } from "./Master.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";

/** The master lacks the objects sync needs, and this process may not install them. */
export class MasterObjectsMissing extends Data.TaggedError("MasterObjectsMissing")<{ readonly message: string }> {}

export interface ObjectsStatus {
  readonly tableExists: boolean;
  readonly installed: boolean;
}

export const checkObjects = (master: MasterShape, d: TableDescriptor): Effect.Effect<ObjectsStatus, MasterError> =>
  master.query<{ table_exists: boolean; changes_exists: boolean; meta_exists: boolean; receipts_exists: boolean; triggers: number }>(checkObjectsSql, [qualified(d.masterTable)]).pipe(
    Effect.map(({ rows: [r] }) => ({
      tableExists: r!.table_exists,
      installed: r!.table_exists && r!.changes_exists && r!.meta_exists && r!.receipts_exists && r!.triggers === 3,
    })),
  );

export const introspectColumns = (master: MasterShape, d: TableDescriptor): Effect.Effect<MasterColumn[], MasterError> =>
  master.query<MasterColumn>(introspectColumnsSql, [qualified(d.masterTable)]).pipe(Effect.map((r) => r.rows));

/** The statements `migrate` would run now (for `migrate --print`). */
export const plannedStatements = (master: MasterShape, d: TableDescriptor): Effect.Effect<string[], MasterError> =>
  introspectColumns(master, d).pipe(Effect.map((cols) => installStatements(d, cols.length ? cols : undefined)));

/** Installs whatever is missing, in one transaction under an advisory lock. */
export const installObjects = (master: MasterShape, d: TableDescriptor): Effect.Effect<void, MasterError> =>
  master.withClient((client) =>
    Effect.gen(function* () {
      yield* client.query("BEGIN");
      // Columns are read after the lock, so a table another installer just created is seen.
      const statements = installStatements(d, undefined);
      yield* client.query(statements[0]!);
      const { rows: cols } = yield* client.query<MasterColumn>(introspectColumnsSql, [qualified(d.masterTable)]);
      for (const sql of installStatements(d, cols.length ? cols : undefined).slice(1)) yield* client.query(sql);
      yield* client.query("COMMIT");
    }),
  );

/** Makes sure the objects exist: installs them when allowed, else fails naming `migrate`. */
export const ensureObjects = (master: MasterShape, d: TableDescriptor, autoMigrate: boolean): Effect.Effect<void, MasterError | MasterObjectsMissing> =>
  Effect.gen(function* () {
    const status = yield* checkObjects(master, d);
    if (status.installed) return;
    if (!autoMigrate) {
      return yield* Effect.fail(
        new MasterObjectsMissing({
          message: `the master lacks the sync objects for ${d.masterTable}${status.tableExists ? "" : " (and the table itself)"}: run \`embedded-memory migrate\` (AUTO_MIGRATE is off)`,
        }),
      );
    }
    yield* installObjects(master, d);
  });
