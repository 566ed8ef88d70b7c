/**
 * The composition module and library API: builds the services (one Effect runtime that
 * owns the pg pool, the change feed and the SQLite handle; see openReplica.ts), wires them
 * into the sync and upload machines (wireMachines.ts), and exposes start/stop, stats,
 * force-sync, search, local writes and verify.
 */
import { EventEmitter } from "node:events";
import type { Actor, InspectionEvent } from "xstate";
import type * as Effect from "effect/Effect";
import * as ManagedRuntime from "effect/ManagedRuntime";
import { ConfigError, secretsOf, type Config } from "../schema/config.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { ChangeFeed, type ChangeFeedShape } from "../master/ChangeFeed.ts";
import type { VerifyReport } from "../sync/verify.ts";
import { syncOnce, verify, type SyncOnceOptions, type SyncOnceResult } from "./oneShot.ts";
import type { SearchOptions, SearchResponse } from "../search/Search.ts";
import type { StoredMemory } from "../outbox/LocalWrites.ts";
import { decodeInput } from "../schema/decode.ts";
import { MemoryId, MemoryWrite } from "../schema/memory.ts";
import { SearchRequest } from "../schema/search.ts";
import { Replica, replicaLayer, type Opened, type Services } from "./openReplica.ts";
import { wireMachines, type Outcome } from "./wireMachines.ts";
import { forceSync } from "./forceSync.ts";
import { firstCopyComplete, waitForFirstCopy } from "./firstCopy.ts";
import { readerOf, tableHandle, type TableHandle, type TableReadOptions } from "./tables.ts";
import { memoryTableDescriptor } from "../schema/tableDescriptor.ts";
import { withLockCheck } from "../store/locked.ts";
import type { SyncMachine, SyncStateName } from "../machines/syncMachine.ts";
import type { UploadMachine, UploadStateName } from "../machines/uploadMachine.ts";
import { machineView, type ForceSyncResult, type MachinesView, type MemoryStats } from "./stats.ts";
import { replicaStats } from "./replicaStats.ts";
import { describeMachine, type MachineDescription } from "../machines/describe.ts";
import { syncMachine } from "../machines/syncMachine.ts";
import { uploadMachine } from "../machines/uploadMachine.ts";
import type { Metrics } from "../observability/metrics.ts";
import { instrumentMachines } from "./instrumentation.ts";
import type { EmbeddedMemoryOptions, WriteOptions } from "./options.ts";

export type { ForceSyncResult, MachinesView };
export type { TransitionEvent, MachineEvent } from "./machineEvents.ts";
export type { MachineDescription, StateDescription } from "../machines/describe.ts";
export type { SyncStateName, UploadStateName };
export type { Opened, Services } from "./openReplica.ts";
export type { EmbeddedMemoryOptions, WriteOptions } from "./options.ts";

export class EmbeddedMemory {
  readonly config: Config;
  readonly log: Logger;
  /** Emits "transition" (TransitionEvent) for every state change of the machines. */
  readonly events: EventEmitter = new EventEmitter();
  private runtime: ManagedRuntime.ManagedRuntime<Services, unknown> | undefined;
  private opening: Promise<Opened> | undefined;
  private o: Opened | undefined;
  private actor: Actor<SyncMachine> | undefined;
  private uploadActor: Actor<UploadMachine> | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly waiters = new Map<string, (r: Outcome) => void>();
  private snapshotRowsCopied = 0;
  private feed: ChangeFeedShape | undefined;

  /** The config's secrets, scrubbed from every error text stats shows. */
  private readonly secrets: readonly string[];
  private readonly extraInspect: ((event: InspectionEvent) => void) | undefined;

  constructor(config: Config, options: EmbeddedMemoryOptions = {}) {
    if (!config.databaseUrl) throw new ConfigError("DATABASE_URL", "is not set; the replica needs the master Postgres URL");
    this.config = config;
    this.extraInspect = options.inspect;
    this.secrets = secretsOf(config);
    this.log = options.logger ?? createLogger({ level: options.logLevel ?? config.logLevel, secrets: this.secrets });
  }

  /** Opens the replica file and builds the services (no master connection yet). Safe to call twice. */
  private open(): Promise<Opened> {
    return (this.opening ??= (async () => {
      const layer = replicaLayer(this.config, {
        log: this.log,
        syncState: () => this.state(),
        onWrite: () => this.uploadActor?.send({ type: "WRITE" }),
      });
      // Kept before opening, so that stop() disposes of it even when opening fails.
      this.runtime = ManagedRuntime.make(layer) as ManagedRuntime.ManagedRuntime<Services, unknown>;
      const opened = await this.runtime.runPromise(Replica);
      instrumentMachines(this.events, opened.metrics);
      return (this.o = opened);
    })());
  }

  private run = <A, E>(effect: Effect.Effect<A, E, Services>, signal?: AbortSignal): Promise<A> => this.runtime!.runPromise(effect, signal ? { signal } : undefined);

  /** Starts syncing and uploading in the background. Resolves once the machines run (not once synced). Safe to call twice. */
  start(): Promise<void> {
    return (this.starting ??= (async () => {
      const o = await this.open();
      const feed = await this.run(ChangeFeed);
      this.feed = feed;
      const { sync, upload } = wireMachines(o, feed, (effect, signal) => this.run(effect, signal), {
        config: this.config,
        log: this.log,
        events: this.events,
        inspect: this.extraInspect,
        onRowsCopied: (rows) => (this.snapshotRowsCopied = rows),
        settle: (id, outcome) => this.settle(id, outcome),
        stopping: () => !!this.stopping,
      });
      this.actor = sync;
      this.uploadActor = upload;
      sync.start();
      upload.start();
    })());
  }

  private settle(id: string, result: Outcome): void {
    const w = this.waiters.get(id);
    this.waiters.delete(id);
    w?.(result);
  }

  /** Stops everything, in reverse order of start, within `deadlineMs`. Safe to call twice. */
  stop(deadlineMs = 10_000): Promise<void> {
    return (this.stopping ??= (async () => {
      this.events.emit("stopping");
      await this.starting?.catch(() => undefined);
      for (const actor of [this.uploadActor, this.actor]) {
        actor?.send({ type: "STOP" });
        actor?.stop();
      }
      for (const id of [...this.waiters.keys()]) this.settle(id, { ok: false, error: "stopping" });
      await this.opening?.catch(() => undefined);
      // The layers' finalizers run in reverse order of acquisition: embedding and search, then
      // the replicator, the change feed, the SQLite file and the pg pool.
      if (this.runtime) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.runtime.dispose(), new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
        clearTimeout(timer);
      }
    })());
  }

  /** Closes what `syncOnce`/`verify`/`search` opened (same as stop). */
  close(): Promise<void> {
    return this.stop();
  }

  /** @internal The replica's SQLite handle, for tests and benchmarks that look inside the file. */
  _db(): ReturnType<LocalStoreShape["unsafeHandle"]> {
    if (!this.o) throw new Error("_db: the replica is not open yet");
    return this.o.store.unsafeHandle();
  }

  /** The sync machine's state. */
  state(): SyncStateName {
    return (this.actor ? String(this.actor.getSnapshot().value) : "awaitingPool") as SyncStateName;
  }

  /** Both machines' current states (for the inspector and the event stream). */
  machines(): MachinesView {
    return { sync: machineView(this.actor), upload: machineView(this.uploadActor) };
  }

  /** The machines' states and transitions, read from their definitions. */
  static machineDescriptions(): { sync: MachineDescription; upload: MachineDescription } {
    return { sync: describeMachine(syncMachine), upload: describeMachine(uploadMachine) };
  }

  uploadState(): UploadStateName {
    return (this.uploadActor ? String(this.uploadActor.getSnapshot().value) : "awaitingPool") as UploadStateName;
  }

  /**
   * Resolves once the replica holds a complete first copy of the table and of every further one (at once when the file
   * already does); rejects when `stop()` is called first, or when `signal` aborts. Call
   * `start()` too: this only waits, it does not sync.
   */
  async waitForFirstSync(options: { signal?: AbortSignal } = {}): Promise<void> {
    const o = await this.open();
    await waitForFirstCopy(this.events, () => firstCopyComplete(o.store, o.replicator.descriptor, this.config.replicatedTables), !!this.stopping, options.signal);
  }

  /**
   * Ready: a complete copy answers and the master is reachable — also while a stale replica
   * copies the table anew into a new file (its old copy keeps answering until the swap).
   */
  ready(): boolean {
    const s = this.actor?.getSnapshot();
    if (!s || !this.o || !s.context.poolConnected) return false;
    const serving = s.value === "idle" || s.value === "settling" || s.value === "syncing" || (s.value === "empty" && this.o.replicator.stale());
    return serving && this.o.store.syncState(this.o.replicator.descriptor).snapshotComplete;
  }

  /** `stale`: the replica was away past the changelog retention and answers from its older copy while a new one is made. */
  stats(): MemoryStats & { readonly stale: boolean } {
    const [sync, upload] = [this.actor?.getSnapshot().context, this.uploadActor?.getSnapshot().context];
    const view = { config: this.config, state: this.state(), uploadState: this.uploadState(), sync, upload, feed: this.feed, snapshotRowsCopied: this.snapshotRowsCopied, secrets: this.secrets };
    return replicaStats(this.o!, view);
  }

  /** Runs a sync that starts after this call and answers when it ends (CONTRACT: force-sync). */
  async forceSync(options: { full?: boolean } = {}): Promise<ForceSyncResult> {
    if (!this.actor) throw new Error("forceSync: call start() first");
    const { store, replicator } = this.o!;
    return forceSync({ actor: this.actor, store, descriptor: replicator.descriptor, waiters: this.waiters, stats: () => this.stats() }, options.full === true);
  }

  /**
   * One-shot sync without the machines (CLI `sync`): connect, copy if needed, pull until
   * caught up, drain the outbox. Fails with the first error instead of backing off.
   */
  async syncOnce(options: SyncOnceOptions = {}): Promise<SyncOnceResult> {
    return syncOnce(await this.open(), (effect) => this.run(effect), options);
  }

  /**
   * Local search (CONTRACT: /memory/search). Works before the first copy completes, and says
   * so. Throws InvalidInputError naming the field for a request the schema refuses.
   */
  async search(request: SearchRequest, options: SearchOptions = {}): Promise<SearchResponse> {
    const decoded = decodeInput(SearchRequest, request);
    const o = await this.open();
    const started = performance.now();
    const response = await withLockCheck(this.config.localPath, () => o.search.search({ ...decoded, ...options }));
    o.metrics.searchDuration.observe({ method: response.search_method }, (performance.now() - started) / 1000);
    return response;
  }

  /** The Prometheus registry (GET /metrics). */
  get metrics(): Metrics {
    if (!this.o) throw new Error("metrics: the replica is not open yet (call start())");
    return this.o.metrics;
  }

  /**
   * Stores a memory locally (insert, or update by id); durable and searchable on return,
   * uploaded later. Throws InvalidInputError naming the field for input the schema refuses.
   */
  async store(memory: MemoryWrite, options: WriteOptions = {}): Promise<StoredMemory> {
    const input = decodeInput(MemoryWrite, memory);
    const { writes } = await this.open();
    return withLockCheck(this.config.localPath, () => writes.store(input, options.guard));
  }

  /** Deletes a memory locally at once; the delete is uploaded. False when there was none. */
  async remove(id: string, options: WriteOptions = {}): Promise<boolean> {
    const valid = decodeInput(MemoryId, id, "id");
    const { writes } = await this.open();
    return withLockCheck(this.config.localPath, () => writes.remove(valid, options.guard));
  }

  /** One memory from the replica, or undefined. */
  async get(id: string): Promise<StoredMemory | undefined> {
    const valid = decodeInput(MemoryId, id, "id");
    const { writes } = await this.open();
    return withLockCheck(this.config.localPath, () => writes.get(valid));
  }

  /** Counts reads of these memories (added to access_count on the master). */
  async recordAccess(ids: readonly string[]): Promise<void> {
    const valid = ids.map((id, i) => decodeInput(MemoryId, id, `ids.${i}`));
    const { writes } = await this.open();
    await withLockCheck(this.config.localPath, () => writes.recordAccess(valid));
  }

  /**
   * Local reads of a replicated table: the memory table (unified_ai_memory, its raw rows) or a
   * further one (REPLICATE_TABLES), by its local name; `tenant` reads as a key scoped to it.
   * Bad input (unknown table or column, a value not of its column's type, a bad cursor or
   * limit): InvalidInputError naming it. Read-only: writes go to the memory table (`store`).
   */
  table(name: string, options: TableReadOptions = {}): TableHandle {
    return tableHandle(name, options, this.config.localPath, async () => readerOf((await this.open()).store, memoryTableDescriptor(this.config.memoryTable), this.config.replicatedTables));
  }

  /** Compares master and replica row by row (every replicated table); with `repair`, applies the master's state where they differ. */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    await this.open();
    return verify((effect) => this.run(effect), options.repair === true);
  }
}

export function createEmbeddedMemory(config: Config, options?: EmbeddedMemoryOptions): EmbeddedMemory {
  return new EmbeddedMemory(config, options);
}
