/**
 * How every master connection is made (the pool's and the listener's): one place for the
 * bounds on waiting — connect timeout, TCP keepalive with short probes, a client-side query
 * deadline — and for TLS with libpq's meaning of `sslmode`, so no connection can wait on a
 * silent socket forever and `sslmode=require` means what every other client means by it.
 *
 * node-postgres parses `sslmode` itself, with other meanings (`require` = verify-full), and
 * its parsed URL overrides the `ssl` option: so the TLS parameters are taken out of the URL
 * here and the `ssl` option is built from them.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import type pg from "pg";

export interface ConnectionOptions {
  readonly connectTimeoutMs: number;
  /** Server-side statement_timeout (set per transaction by Master); the client deadline adds QUERY_DEADLINE_GRACE_MS. */
  readonly statementTimeoutMs: number;
  readonly applicationName: string;
}

/**
 * First keepalive probe after this much idle time. Linux then probes every
 * `tcp_keepalive_intvl` (75 s by default, not settable from Node): a silent peer is seen by the
 * heartbeat and the query deadlines long before keepalive gives up.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/**
 * The client-side deadline is the statement timeout plus this: on a live socket the server's
 * own `statement_timeout` error (which names the statement) arrives first; on a silent one the
 * client gives up shortly after.
 */
export const QUERY_DEADLINE_GRACE_MS = 1_000;

export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The URL parameters this module owns; pg never sees them. */
const TLS_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey", "ssl", "uselibpqcompat", "sslpassword"] as const;

export interface TlsSettings {
  /** As given (absent: `disable`, node-postgres's behaviour so far; libpq's default is `prefer`). */
  readonly mode: SslMode;
  readonly rootCert?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** A master URL that cannot be used as given; the message never contains the URL. */
export class MasterUrlError extends Error {
  override readonly name = "MasterUrlError";
}

export interface ParsedMasterUrl {
  /** The URL without the TLS parameters (it still holds the password: hand it to pg only). */
  readonly connectionString: string;
  readonly host: string;
  readonly port: string;
  /** `user@host:port/database`: what pg_hba decides on (no password). */
  readonly target: string;
  readonly tls: TlsSettings;
}

/** Splits a master URL into what pg gets and the TLS settings. Pure. */
export function parseMasterUrl(url: string): ParsedMasterUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // URL's own error carries the input (and so the password): never rethrown.
    throw new MasterUrlError("the master URL is not a valid URL (postgres://user:password@host:port/database?sslmode=…)");
  }
  const p = u.searchParams;
  const rawMode = p.get("sslmode");
  if (rawMode !== null && !(SSL_MODES as readonly string[]).includes(rawMode)) {
    throw new MasterUrlError(`sslmode=${rawMode} in the master URL is not one of ${SSL_MODES.join(", ")}`);
  }
  if (p.has("ssl") || p.has("uselibpqcompat")) {
    throw new MasterUrlError("the master URL uses node-postgres's own `ssl`/`uselibpqcompat` parameters: use sslmode=disable|prefer|require|verify-ca|verify-full (libpq's meanings)");
  }
  if (p.has("sslpassword")) throw new MasterUrlError("sslpassword (an encrypted sslkey) is not supported: give an unencrypted key file");
  const opt = (name: string) => p.get(name) || undefined;
  const tls: TlsSettings = { mode: (rawMode as SslMode | null) ?? "disable", rootCert: opt("sslrootcert"), cert: opt("sslcert"), key: opt("sslkey") };
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new MasterUrlError("sslcert and sslkey go together: the master URL gives only one of them");
  for (const name of TLS_PARAMS) p.delete(name);
  return { connectionString: u.toString(), host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port || "5432", target: `${u.username}@${u.host}${u.pathname}`, tls };
}

export interface TlsFiles {
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** Reads the certificate files once; a missing one is an error naming the parameter and path. */
export function readTlsFiles(tls: TlsSettings, read: (file: string) => Buffer = readFileSync): TlsFiles {
  const load = (param: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return read(file);
    } catch (e) {
      throw new MasterUrlError(`${param}=${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  // `sslrootcert=system` (libpq 16): the system's trusted CAs, which are Node's defaults.
  return { ca: tls.rootCert === "system" ? undefined : load("sslrootcert", tls.rootCert), cert: load("sslcert", tls.cert), key: load("sslkey", tls.key) };
}

/** Whether a connection in `mode` starts with TLS; `allow` starts plain and `prefer` encrypted (see TlsChoice). */
export const startsEncrypted = (mode: SslMode): boolean => mode !== "disable" && mode !== "allow";

/**
 * pg's `ssl` option for one attempt. `encrypted` is the attempt's choice (fixed for disable,
 * require and verify-*; allow and prefer may try both). Like libpq, `require` with a root
 * certificate verifies the chain (as verify-ca); without one it encrypts without verifying.
 */
export function sslOption(tls: TlsSettings, files: TlsFiles, encrypted: boolean): false | TlsOptions {
  if (!encrypted || tls.mode === "disable") return false;
  const client = files.cert && files.key ? { cert: files.cert, key: files.key } : {};
  const verifyChain = tls.mode === "verify-ca" || tls.mode === "verify-full" || (tls.mode === "require" && tls.rootCert !== undefined);
  if (!verifyChain) return { ...client, rejectUnauthorized: false };
  const ca = files.ca ? { ca: files.ca } : {};
  if (tls.mode === "verify-full") return { ...client, ...ca, rejectUnauthorized: true };
  // verify-ca: the chain must lead to the root certificate; the host name is not compared.
  return { ...client, ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

const CHAIN_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

const NO_SSL = /server does not support SSL/i;
/** pg_hba has only `hostssl` lines for this client: it refuses a plain connection. */
const NEEDS_SSL = /(no pg_hba\.conf entry|pg_hba\.conf rejects connection) .*no encryption/i;

/**
 * A clear message for a TLS failure at connect (undefined for other errors). It names the
 * certificate problem and what to change; it is built from the error only, never the URL.
 */
export function describeTlsError(err: unknown, mode: SslMode): string | undefined {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? "";
  const message = e?.message ?? String(err);
  const at = `TLS (sslmode=${mode})`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `${at}: hostname mismatch: ${message} (connect by a name the certificate holds, or use sslmode=verify-ca to check only the chain)`;
  }
  if (CHAIN_CODES.has(code)) {
    const problem = code === "SELF_SIGNED_CERT_IN_CHAIN" ? "self-signed certificate in chain" : code === "DEPTH_ZERO_SELF_SIGNED_CERT" ? "self-signed certificate" : message;
    return `${at}: the server's certificate is not trusted: ${problem} (${code}); give the CA that signed it with sslrootcert=<file>, or use sslmode=require to encrypt without verifying`;
  }
  if (NO_SSL.test(message)) return `${at}: the server does not support SSL (ssl=off on the server); use sslmode=prefer or sslmode=disable`;
  if (NEEDS_SSL.test(message)) return `${at}: the server accepts only encrypted connections from this host (pg_hba.conf hostssl): use sslmode=require or stronger`;
  if (/^ERR_SSL_|^ERR_TLS_|^EPROTO$/.test(code) || /error establishing an SSL connection/i.test(message)) return `${at}: the TLS handshake failed: ${message}`;
  return undefined;
}

/**
 * The TLS choice for the next connection attempt, with libpq's fallbacks for `allow` (plain
 * first, TLS when the server demands it) and `prefer` (TLS first, plain when the server does not
 * offer it). node-postgres cannot fall back within one attempt, so the fallback is the *next*
 * attempt: `failed(err)` switches the choice when the other one would have worked, and the
 * choice that worked is kept for later connections. No certificate is verified in either mode.
 */
export class TlsChoice {
  #encrypted: boolean;
  constructor(private readonly mode: SslMode) {
    this.#encrypted = startsEncrypted(mode);
  }
  get encrypted(): boolean {
    return this.#encrypted;
  }
  /** True when the choice switched and one more attempt is worth making at once. */
  failed(err: unknown): boolean {
    if (this.mode !== "allow" && this.mode !== "prefer") return false;
    const message = (err as Error | undefined)?.message ?? "";
    const tlsTrouble = describeTlsError(err, this.mode) !== undefined && !NEEDS_SSL.test(message);
    if (this.#encrypted && tlsTrouble) this.#encrypted = false;
    else if (!this.#encrypted && NEEDS_SSL.test(message)) this.#encrypted = true;
    else return false;
    return true;
  }
}

/**
 * What was learnt about a server's TLS is about the server, not about one pool: the pool and
 * the listener of every replica in this process share one choice per user, host, port,
 * database (what pg_hba decides on) and sslmode,
 * so a fallback the pool found is used by the listener's next reconnect as well.
 */
const choices = new Map<string, TlsChoice>();
function sharedChoice(p: ParsedMasterUrl): TlsChoice {
  const key = `${p.target}|${p.tls.mode}`;
  let choice = choices.get(key);
  if (!choice) choices.set(key, (choice = new TlsChoice(p.tls.mode)));
  return choice;
}

/** Everything needed to open connections to one master URL (parsed, files read, once). */
export interface MasterEndpoint {
  readonly tls: TlsSettings;
  readonly choice: TlsChoice;
  /**
   * pg settings for a new connection. `ssl` is a live getter: pg-listen and others that copy
   * the object on each reconnect pick up a switched allow/prefer choice.
   */
  readonly config: () => pg.ClientConfig;
  /** A connect error as a clear message for a TLS problem (undefined for other errors). */
  readonly explain: (err: unknown) => string | undefined;
}

/** Parses `url` and reads its certificate files; throws MasterUrlError (never echoing the URL). */
export function masterEndpoint(url: string, o: ConnectionOptions, read?: (file: string) => Buffer): MasterEndpoint {
  const parsed = parseMasterUrl(url);
  const files = readTlsFiles(parsed.tls, read);
  const choice = sharedChoice(parsed);
  const base = baseConfig(parsed.connectionString, o);
  const config = (): pg.ClientConfig =>
    Object.defineProperty({ ...base }, "ssl", { enumerable: true, get: () => sslOption(parsed.tls, files, choice.encrypted) }) as pg.ClientConfig;
  return { tls: parsed.tls, choice, config, explain: (err) => describeTlsError(err, parsed.tls.mode) };
}

/**
 * The pg client settings for one master URL, TLS included. For allow/prefer the fallback needs
 * `masterEndpoint(...).choice.failed(err)` after a failed connect: use masterEndpoint for
 * connections that reconnect.
 */
export function clientConfig(url: string, o: ConnectionOptions): pg.ClientConfig {
  return masterEndpoint(url, o).config();
}

/** Connect timeout, keepalive and the client-side query deadline, for a URL without TLS parameters. */
function baseConfig(url: string, o: ConnectionOptions): pg.ClientConfig {
  return {
    connectionString: url,
    connectionTimeoutMillis: o.connectTimeoutMs,
    query_timeout: o.statementTimeoutMs + QUERY_DEADLINE_GRACE_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    application_name: o.applicationName,
  };
}

/** The statement that bounds a transaction's statements on the server (no session state: PgBouncer-safe). */
export const setLocalStatementTimeout = (ms: number): string => `SET LOCAL statement_timeout = ${Math.max(1, Math.floor(ms))}`;
