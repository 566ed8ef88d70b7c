/**
 * Installing and checking the master-side objects (schema `embedded_memory`: changelog,
 * triggers, meta/epoch). Idempotent; the memory table is created only when missing and an
 * existing one is never altered.
 */
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import { introspectColumnsSql, type MasterColumn } from "./columnsSql.ts";
import { captureFunction, checkObjectsSql, installStatements, MASTER_SCHEMA_VERSION } from "./installSql.ts";
import { qualified } from "./masterSql.ts";
import type { MasterError, MasterShape } from "./Master.ts";
import type { TableDescriptor } from "../schema/tableDescriptor.ts";

/** The master lacks the objects sync needs, and this process may not install them. */
export class MasterObjectsMissing extends Data.TaggedError("MasterObjectsMissing")<{ readonly message: string }> {}

export interface ObjectsStatus {
  readonly tableExists: boolean;
  /** Every object sync needs exists (perhaps installed by an earlier version: sync works). */
  readonly present: boolean;
  /** Present and of this version: nothing for `migrate` to do. */
  readonly installed: boolean;
  /** The version of the table's capture trigger (1 before counters-only changes). */
  readonly captureVersion: number | null;
  /** Why upgrading objects of an earlier version failed (e.g. this role may not replace the trigger). */
  readonly upgradeError?: string;
}

export const checkObjects = (master: MasterShape, d: TableDescriptor): Effect.Effect<ObjectsStatus, MasterError> =>
  master
    .query<{ table_exists: boolean; capture_version: number | null; changes_exists: boolean; meta_exists: boolean; receipts_exists: boolean; triggers: number }>(checkObjectsSql, [
      qualified(d.masterTable),
      `${captureFunction(d.masterTable)}()`,
    ])
    .pipe(
      Effect.map(({ rows: [r] }) => {
        const present = r!.table_exists && r!.changes_exists && r!.meta_exists && r!.receipts_exists && r!.triggers === 3 && r!.capture_version !== null;
        return { tableExists: r!.table_exists, present, installed: present && r!.capture_version! >= Number(MASTER_SCHEMA_VERSION), captureVersion: r!.capture_version };
      }),
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

/**
 * Makes sure the objects exist: installs (or upgrades) them when allowed, else fails naming
 * `migrate`. Objects of an earlier version are usable as they are (every change then comes as
 * a whole row): without AUTO_MIGRATE they stay, and the status says so.
 */
export const ensureObjects = (master: MasterShape, d: TableDescriptor, autoMigrate: boolean): Effect.Effect<ObjectsStatus, MasterError | MasterObjectsMissing> =>
  Effect.gen(function* () {
    const status = yield* checkObjects(master, d);
    if (status.installed || (status.present && !autoMigrate)) return status;
    if (!autoMigrate) {
      return yield* Effect.fail(
        new MasterObjectsMissing({
          message: `the master lacks the sync objects for ${d.masterTable}${status.tableExists ? "" : " (and the table itself)"}: run \`embedded-memory migrate\` (AUTO_MIGRATE is off)`,
        }),
      );
    }
    // An upgrade the master refuses (a role that does not own the objects) leaves a working sync.
    const refused = yield* installObjects(master, d).pipe(
      Effect.as(undefined),
      Effect.catchIf(
        (e: MasterError) => status.present && e._tag === "MasterQueryError",
        (e) => Effect.succeed(e.message),
      ),
    );
    return refused === undefined ? yield* checkObjects(master, d) : { ...status, upgradeError: refused };
  });
