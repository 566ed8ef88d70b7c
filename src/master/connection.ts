/**
 * How every master connection is made (the pool's and the listener's): one place for the
 * bounds on waiting — connect timeout, TCP keepalive with short probes, a client-side query
 * deadline — so no connection can wait on a silent socket forever.
 */
import type pg from "pg";

export interface ConnectionOptions {
  readonly connectTimeoutMs: number;
  /** Client-side deadline per query; the server's statement_timeout is set per transaction (see Master). */
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
}

/**
 * First keepalive probe after this much idle time. Linux then probes every
 * `tcp_keepalive_intvl` (75 s by default, not settable from Node): a silent peer is seen by the
 * heartbeat and the query deadlines long before keepalive gives up.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/** The pg client settings for one master URL. */
export function clientConfig(url: string, o: ConnectionOptions): pg.ClientConfig {
  return {
    connectionString: url,
    connectionTimeoutMillis: o.connectTimeoutMs,
    query_timeout: o.statementTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    application_name: o.applicationName,
  };
}
