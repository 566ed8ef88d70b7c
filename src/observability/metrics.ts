/**
 * Prometheus metrics (prom-client), on a registry of this replica's own (several replicas in
 * one process do not collide). Gauges that mirror the file (row count, outbox) are read when
 * scraped; the rest are fed by the composition from machine events and actor results.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsSources {
  readonly memories: () => number;
  readonly outbox: () => { pending: number; parked: number };
  /** Whether the change feed is `listening` (its NOTIFY self-test passed). Absent: reads as 0. */
  readonly notifyHealthy?: () => boolean;
  /** With DATABASE_READ_URL: the standby's replay lag (ms; null before its first read). Absent: no gauge. */
  readonly standbyLagMs?: () => number | null;
  /** Rows in every replicated table (the memory table included), by local name. */
  readonly tables?: () => Readonly<Record<string, number>>;
}

export type Metrics = ReturnType<typeof createMetrics>;

const SYNC_STATES = ["awaitingPool", "empty", "settling", "syncing", "idle", "backoff", "stopped"];
const UPLOAD_STATES = ["awaitingPool", "uploading", "idle", "backoff", "stopped"];

const DEFAULT_PREFIX = "embedded_memory_process_";
/**
 * prom-client's default gauges that end in `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` refuses them). Dropped rather than renamed: each is the sum of the
 * labelled gauge of the same name without the suffix (`sum(…nodejs_active_handles)`).
 */
const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export function createMetrics(sources: MetricsSources, options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: DEFAULT_PREFIX });
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(DEFAULT_PREFIX + name);
  }
  const r = { registers: [registry] };
  const syncState = new Gauge({ name: "embedded_memory_sync_state", help: "1 for the sync machine's current state", labelNames: ["state"], ...r });
  const uploadState = new Gauge({ name: "embedded_memory_upload_state", help: "1 for the upload machine's current state", labelNames: ["state"], ...r });
  // Every label is set once; a transition then moves the 1 from the previous state to the new
  // one (two sets, not one per state: it runs twice per pull).
  const stateGauge = (g: Gauge, states: string[]) => {
    let current = "awaitingPool";
    for (const st of states) g.set({ state: st }, st === current ? 1 : 0);
    return (next: string) => {
      if (next === current) return;
      g.set({ state: current }, 0);
      g.set({ state: next }, 1);
      current = next;
    };
  };
  const setSyncState = stateGauge(syncState, SYNC_STATES);
  const setUploadState = stateGauge(uploadState, UPLOAD_STATES);
  const metrics = {
    registry,
    pulls: new Counter({ name: "embedded_memory_pulls_total", help: "Pulls (and first copies) by result", labelNames: ["result"], ...r }),
    rowsApplied: new Counter({ name: "embedded_memory_rows_applied_total", help: "Rows applied to the replica (upserts, deletes, expired rows swept)", ...r }),
    tableRowsApplied: new Counter({ name: "embedded_memory_table_rows_applied_total", help: "Rows applied by pulls, per replicated table (the memory table included)", labelNames: ["table"], ...r }),
    bytesPulled: new Counter({ name: "embedded_memory_bytes_pulled_total", help: "Approximate bytes of row data read from the master", ...r }),
    pullDuration: new Histogram({ name: "embedded_memory_pull_duration_seconds", help: "Duration of one pull", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], ...r }),
    lag: new Gauge({ name: "embedded_memory_replication_lag_seconds", help: "From the master change to its local apply, for the oldest change of the last pull that applied any", ...r }),
    oldestOpenXact: new Gauge({ name: "embedded_memory_master_oldest_open_xact_seconds", help: "Age of the oldest open write transaction on the master (the cursor waits on it)", ...r }),
    lastSync: new Gauge({ name: "embedded_memory_last_sync_timestamp_seconds", help: "When the last pull completed (unix time)", ...r }),
    feedReconnects: new Counter({ name: "embedded_memory_feed_reconnects_total", help: "Change-feed (LISTEN) connections made, after the first", ...r }),
    uploaded: new Counter({ name: "embedded_memory_uploaded_total", help: "Outbox entries acknowledged by the master", ...r }),
    uploadErrors: new Counter({ name: "embedded_memory_upload_errors_total", help: "Upload runs that failed (and went to backoff)", ...r }),
    searchDuration: new Histogram({ name: "embedded_memory_search_duration_seconds", help: "Local search latency by method", labelNames: ["method"], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], ...r }),
    httpRequests: new Counter({ name: "embedded_memory_http_requests_total", help: "HTTP requests by route and status", labelNames: ["method", "route", "status"], ...r }),
    httpDuration: new Histogram({ name: "embedded_memory_http_request_duration_seconds", help: "HTTP request duration by route", labelNames: ["method", "route"], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5], ...r }),
    setSyncState,
    setUploadState,
  };
  new Gauge({ name: "embedded_memory_memories", help: "Rows in the replica", ...r, collect() { this.set(sources.memories()); } });
  if (sources.tables) {
    const tables = sources.tables;
    new Gauge({
      name: "embedded_memory_table_rows",
      help: "Rows in each replicated table of the replica (the memory table included)",
      labelNames: ["table"],
      ...r,
      collect() {
        this.reset(); // a table dropped from REPLICATE_TABLES leaves no series behind
        for (const [table, rows] of Object.entries(tables())) this.set({ table }, rows);
      },
    });
  }
  new Gauge({ name: "embedded_memory_outbox_pending", help: "Local writes (and access deltas) not yet acknowledged by the master", ...r, collect() { this.set(sources.outbox().pending); } });
  new Gauge({
    name: "embedded_memory_notify_healthy",
    help: "1 while the change feed's NOTIFY self-test passes; 0 while it is connecting or unavailable (pulls then poll every POLL_INTERVAL_MS)",
    ...r,
    collect() {
      this.set(sources.notifyHealthy?.() ? 1 : 0);
    },
  });
  if (sources.standbyLagMs) {
    const lag = sources.standbyLagMs;
    new Gauge({
      name: "embedded_memory_standby_replay_lag_seconds",
      help: "How far the read standby (DATABASE_READ_URL) is behind in replaying the WAL it received, as of the last pull",
      ...r,
      collect() {
        this.set((lag() ?? 0) / 1000);
      },
    });
  }
  new Gauge({ name: "embedded_memory_outbox_parked", help: "Local writes the master refused for good", ...r, collect() { this.set(sources.outbox().parked); } });
  return metrics;
}
