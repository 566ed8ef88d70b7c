/**
 * The composition module and library API: builds the services (one Effect runtime that
 * owns the pg pool, the change feed and the SQLite handle), wires them into the sync
 * machine, and exposes start/stop, stats, force-sync and verify.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { createActor, type Actor } from "xstate";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import * as ManagedRuntime from "effect/ManagedRuntime";
import { ConfigError, secretsOf, type Config } from "./config.ts";
import { createLogger, type Logger } from "./services/logger.ts";
import { Master, masterLayer } from "./services/Master.ts";
import { LocalStore, localStoreLayer, type LocalStoreShape } from "./services/LocalStore.ts";
import { ChangeFeed, changeFeedLayer } from "./services/ChangeFeed.ts";
import { Replicator, replicatorLayer, type ReplicatorShape } from "./services/Replicator.ts";
import { memoryTableDescriptor } from "./services/tableDescriptor.ts";
import { verifyReplica, type VerifyReport } from "./services/verify.ts";
import { provideSyncActors } from "./syncActors.ts";
import { errorMessage, type SyncMachine, type SyncStateName } from "./machines/syncMachine.ts";
import { buildStats, type MemoryStats } from "./stats.ts";
import { makeEmbedder, type Embedder } from "./services/Embedder.ts";
import { makeSearch, type SearchRequest, type SearchResponse, type SearchService } from "./services/Search.ts";

export interface ForceSyncResult {
  readonly success: boolean;
  readonly before_count: number;
  readonly after_count: number;
  readonly synced_count: number;
  readonly last_sync: string | null;
  readonly pool_connected: boolean;
  readonly state: SyncStateName;
  readonly error?: string;
}

export interface TransitionEvent {
  readonly machine: "sync";
  readonly from: string | null;
  readonly to: string;
  readonly event: string;
  readonly at: string;
}

export interface EmbeddedMemoryOptions {
  /** The root logger; one is made from `config.logLevel` when absent. */
  readonly logger?: Logger;
}

type Services = Master | LocalStore | ChangeFeed | Replicator;

export class EmbeddedMemory {
  readonly config: Config;
  readonly log: Logger;
  /** Emits "transition" (TransitionEvent) for every state change of the machines. */
  readonly events = new EventEmitter();
  private runtime: ManagedRuntime.ManagedRuntime<Services, unknown> | undefined;
  private actor: Actor<SyncMachine> | undefined;
  private store: LocalStoreShape | undefined;
  private replicator: ReplicatorShape | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly waiters = new Map<string, (r: { ok: true; applied: number } | { ok: false; error: string }) => void>();
  private snapshotRowsCopied = 0;
  private readonly embedder: Embedder | undefined;
  private searchService: SearchService | undefined;
  private embedding: Promise<void> | undefined;
  private readonly embedAbort = new AbortController();

  constructor(config: Config, options: EmbeddedMemoryOptions = {}) {
    if (!config.databaseUrl) throw new ConfigError("DATABASE_URL", "is not set; the replica needs the master Postgres URL");
    this.config = config;
    this.log = options.logger ?? createLogger({ level: config.logLevel, secrets: secretsOf(config) });
    this.embedder = embedderFor(config);
  }

  private layer() {
    const c = this.config;
    const base = Layer.mergeAll(
      masterLayer({ databaseUrl: c.databaseUrl!, connectTimeoutMs: c.connectTimeoutMs, logger: this.log }),
      localStoreLayer(c.localPath),
      changeFeedLayer({ databaseUrl: c.databaseUrl!, connectTimeoutMs: c.connectTimeoutMs, logger: this.log }),
    );
    const replicator = replicatorLayer({
      descriptor: memoryTableDescriptor(c.memoryTable),
      tenantId: c.tenantId,
      autoMigrate: c.autoMigrate,
      snapshotChunkRows: c.snapshotChunkRows,
      pullBatchRows: c.pullBatchRows,
      changelogRetentionMs: c.changelogRetentionMs,
      logger: this.log,
    });
    return Layer.provideMerge(replicator, base);
  }

  /** Opens the replica file and builds the services (no master connection yet). */
  private async open(): Promise<void> {
    if (this.runtime) return;
    const runtime = ManagedRuntime.make(this.layer());
    const services = await runtime.runPromise(Effect.all({ store: LocalStore, replicator: Replicator, feed: ChangeFeed }));
    this.runtime = runtime as ManagedRuntime.ManagedRuntime<Services, unknown>;
    this.store = services.store;
    this.replicator = services.replicator;
    this.searchService = makeSearch({
      store: services.store,
      table: services.replicator.descriptor.localName,
      embedder: this.embedder,
      status: () => ({ state: this.state(), complete: services.store.syncState(services.replicator.descriptor).snapshotComplete }),
      logger: this.log,
    });
    if (this.embedder) {
      services.store.onChange(() => this.embedInBackground());
      this.embedInBackground();
    }
  }

  /**
   * Embeds rows that arrived without a vector, a small batch at a time with a yield between
   * batches, so neither the sync nor the HTTP server waits on it. One run at a time; a
   * failure is logged and retried at the next change.
   */
  private embedInBackground(): void {
    if (this.embedding || this.embedAbort.signal.aborted) return;
    const log = this.log.child({ module: "embedder" });
    this.embedding = (async () => {
      try {
        let total = 0;
        for (;;) {
          await new Promise((r) => setImmediate(r));
          if (this.embedAbort.signal.aborted) break;
          const n = await this.searchService!.vectors.embedMissing(EMBED_BATCH, this.embedAbort.signal);
          total += n;
          if (n < EMBED_BATCH) break;
        }
        if (total > 0) log.info({ rows: total, model: this.embedder!.model }, "embedded rows that had no vector");
      } catch (err) {
        if (!this.embedAbort.signal.aborted) log.warn({ err }, "embedding rows failed; will retry at the next change");
      } finally {
        this.embedding = undefined;
      }
    })();
  }

  /** Local search (CONTRACT: /memory/search). Works before the first copy completes, and says so. */
  async search(request: SearchRequest): Promise<SearchResponse> {
    await this.open();
    return this.searchService!.search(request);
  }

  private run = <A, E>(effect: Effect.Effect<A, E, Services>, signal?: AbortSignal): Promise<A> =>
    this.runtime!.runPromise(effect, signal ? { signal } : undefined);

  /** Starts syncing in the background. Resolves once the machine runs (not once synced). Safe to call twice. */
  start(): Promise<void> {
    return (this.starting ??= (async () => {
      await this.open();
      const feed = await this.run(ChangeFeed);
      const machine = provideSyncActors({
        replicator: this.replicator!,
        feed,
        run: (effect, signal) => this.run(effect, signal),
        onSnapshotProgress: (p) => (this.snapshotRowsCopied = p.rowsCopied),
      });
      const actor = createActor(machine, {
        input: { syncIntervalMs: this.config.syncIntervalMs, backoffBaseMs: this.config.backoffBaseMs, backoffMaxMs: this.config.backoffMaxMs },
      });
      this.subscribeTransitions(actor);
      actor.on("forceSyncDone", (e) => e.requestIds.forEach((id) => this.settle(id, { ok: true, applied: e.applied })));
      actor.on("forceSyncFailed", (e) => e.requestIds.forEach((id) => this.settle(id, { ok: false, error: e.error })));
      this.actor = actor;
      actor.start();
    })());
  }

  /** The one subscriber that logs machine transitions and republishes them as events. */
  private subscribeTransitions(actor: Actor<SyncMachine>): void {
    const log = this.log.child({ module: "sync" });
    let previous: string | null = null;
    actor.subscribe({
      next: (snapshot) => {
        const to = String(snapshot.value);
        if (to === previous) return;
        const { attempt, lastError } = snapshot.context;
        const level = to === "backoff" ? "warn" : "info";
        log[level]({ from: previous, to, attempt, ...(to === "backoff" ? { lastError } : {}) }, `sync ${to}`);
        const event: TransitionEvent = { machine: "sync", from: previous, to, event: "", at: new Date().toISOString() };
        previous = to;
        this.events.emit("transition", event);
      },
      error: (err) => log.error({ err }, "sync machine failed"),
    });
  }

  private settle(id: string, result: { ok: true; applied: number } | { ok: false; error: string }): void {
    const w = this.waiters.get(id);
    this.waiters.delete(id);
    w?.(result);
  }

  /** Stops syncing and releases everything, in reverse order of start, within `deadlineMs`. Safe to call twice. */
  stop(deadlineMs = 10_000): Promise<void> {
    return (this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      const actor = this.actor;
      if (actor) {
        actor.send({ type: "STOP" });
        actor.stop();
      }
      for (const id of [...this.waiters.keys()]) this.settle(id, { ok: false, error: "stopping" });
      this.embedAbort.abort();
      await this.embedding;
      this.searchService?.close();
      const runtime = this.runtime;
      if (runtime) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
        await Promise.race([runtime.dispose(), deadline]);
        clearTimeout(timer);
      }
    })());
  }

  /** The sync machine's state. */
  state(): SyncStateName {
    return (this.actor ? String(this.actor.getSnapshot().value) : "awaitingPool") as SyncStateName;
  }

  /** Ready: the first snapshot is complete and the master is reachable. */
  ready(): boolean {
    const s = this.actor?.getSnapshot();
    return !!s && (s.value === "idle" || s.value === "syncing") && s.context.poolConnected && this.store!.syncState(this.replicator!.descriptor).snapshotComplete;
  }

  stats(): MemoryStats {
    const ctx = this.actor?.getSnapshot().context;
    return buildStats({
      store: this.store!,
      descriptor: this.replicator!.descriptor,
      state: this.state(),
      poolConnected: ctx?.poolConnected ?? false,
      feedConnected: ctx?.feedConnected ?? false,
      attempt: ctx?.attempt ?? 0,
      lastError: ctx?.lastError ?? null,
      tenantId: this.config.tenantId,
      snapshotRowsCopied: this.snapshotRowsCopied,
      vectors: this.searchService!.vectorInfo(),
      embeddingProvider: this.config.embeddingProvider,
    });
  }

  /** Runs a sync that starts after this call and answers when it ends (CONTRACT: force-sync). */
  async forceSync(options: { full?: boolean } = {}): Promise<ForceSyncResult> {
    if (!this.actor) throw new Error("forceSync: call start() first");
    const d = this.replicator!.descriptor;
    const before = this.store!.count(d);
    // Rows applied between the request and the answer, by whichever pulls applied them
    // (a pull already in flight may apply the rows a caller is waiting for).
    const appliedBefore = this.store!.syncState(d).totalApplied;
    const requestId = randomUUID();
    const outcome = await new Promise<{ ok: true; applied: number } | { ok: false; error: string }>((resolve) => {
      this.waiters.set(requestId, resolve);
      this.actor!.send({ type: "FORCE_SYNC", requestId, full: options.full === true });
    });
    const stats = this.stats();
    return {
      success: outcome.ok,
      before_count: before,
      after_count: stats.total_memories,
      synced_count: outcome.ok ? this.store!.syncState(d).totalApplied - appliedBefore : 0,
      last_sync: stats.last_sync,
      pool_connected: stats.pool_connected,
      state: this.state(),
      ...(outcome.ok ? {} : { error: outcome.error }),
    };
  }

  /**
   * One-shot sync without the machine (CLI `sync`): connect, copy if needed, pull until
   * caught up. Fails with the first error instead of backing off.
   */
  async syncOnce(options: { full?: boolean; onProgress?: (rowsCopied: number) => void } = {}): Promise<{ applied: number; total_memories: number; duration_ms: number }> {
    const started = Date.now();
    await this.open();
    const r = this.replicator!;
    let applied = 0;
    let connected = await this.run(r.connect());
    for (let round = 0; round < 3; round++) {
      if (!connected.snapshotComplete || options.full) {
        applied += await this.run(r.snapshot({ restart: options.full === true, onProgress: (p) => options.onProgress?.(p.rowsCopied) }));
        options = { ...options, full: false };
      }
      const pulled = await this.run(r.pull());
      applied += pulled.applied;
      if (!pulled.epochChanged) return { applied, total_memories: this.store!.count(r.descriptor), duration_ms: Date.now() - started };
      connected = await this.run(r.connect());
    }
    throw new Error("the master's epoch kept changing during sync; try again");
  }

  /** Compares master and replica row by row; with `repair`, applies the master's state where they differ. */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    await this.open();
    return this.run(
      Effect.gen(function* () {
        const master = yield* Master;
        const store = yield* LocalStore;
        const replicator = yield* Replicator;
        yield* replicator.connect();
        const queries = yield* replicator.queries();
        return yield* verifyReplica(master, store, queries, options.repair === true);
      }),
    );
  }

  /** Closes what `syncOnce`/`verify` opened (same as stop). */
  close(): Promise<void> {
    return this.stop();
  }
}

/** Rows embedded per background batch (one provider call). */
const EMBED_BATCH = 32;

export function embedderFor(config: Config): Embedder | undefined {
  return makeEmbedder({
    provider: config.embeddingProvider,
    baseUrl: config.embeddingBaseUrl,
    model: config.embeddingModel,
    apiKey: config.embeddingApiKey,
    dim: config.embeddingDim,
  });
}

export function createEmbeddedMemory(config: Config, options?: EmbeddedMemoryOptions): EmbeddedMemory {
  return new EmbeddedMemory(config, options);
}

export { errorMessage };
