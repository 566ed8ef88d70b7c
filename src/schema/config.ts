/**
 * Configuration: read once (by the CLI) from the environment and flags into a frozen
 * object whose names carry their units. The library never reads `process.env`; it takes
 * a `Config` as an argument (see `createEmbeddedMemory`).
 */

export type EmbeddingProvider = "none" | "hash" | "openai";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  /** Master Postgres connection string. Holds the password: never log it. */
  readonly databaseUrl: string | undefined;
  readonly localPath: string;
  readonly memoryTable: string;
  readonly syncIntervalMs: number;
  readonly tenantId: string | undefined;
  readonly autoMigrate: boolean;
  readonly apiKeys: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly embeddingProvider: EmbeddingProvider;
  readonly embeddingBaseUrl: string | undefined;
  readonly embeddingModel: string | undefined;
  readonly embeddingApiKey: string | undefined;
  readonly embeddingDim: number | undefined;
  /** First delay of the sync machine's backoff; it doubles up to `backoffMaxMs`. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Rows per keyset chunk of the initial copy (each chunk is one SQLite transaction). */
  readonly snapshotChunkRows: number;
  /** Safety-net upload interval; a local write wakes the uploader at once. */
  readonly uploadIntervalMs: number;
  /** Outbox entries per master transaction. */
  readonly uploadBatchSize: number;
  /** How a local delete reaches the master: deleted, or `soft` (expires_at = now()). */
  readonly deleteMode: "hard" | "soft";
  /** Master changelog rows older than this are pruned (0 = never). */
  readonly changelogRetentionMs: number;
  /** Changed rows fetched per round trip during an incremental pull. */
  readonly pullBatchRows: number;
  /** How long one attempt to reach the master may take before it counts as a failure. */
  readonly connectTimeoutMs: number;
}

export class ConfigError extends Error {
  readonly _tag = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export const DEFAULTS = Object.freeze({
  localPath: "./data/ai-memory.db",
  memoryTable: "unified_ai_memory",
  syncIntervalMs: 30_000,
  host: "127.0.0.1",
  port: 8080,
  logLevel: "info" as LogLevel,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  snapshotChunkRows: 2_000,
  pullBatchRows: 1_000,
  connectTimeoutMs: 5_000,
});

/** Every environment variable the CLI understands; each is also a flag (`--sync-interval-ms`). */
export const ENV_VARS = [
  "DATABASE_URL",
  "EMBEDDED_MEMORY_PATH",
  "MEMORY_TABLE",
  "SYNC_INTERVAL_MS",
  "SYNC_TENANT_ID",
  "AUTO_MIGRATE",
  "API_KEYS",
  "HOST",
  "PORT",
  "LOG_LEVEL",
  "EMBEDDING_PROVIDER",
  "EMBEDDING_BASE_URL",
  "EMBEDDING_MODEL",
  "EMBEDDING_API_KEY",
  "EMBEDDING_DIM",
  "SNAPSHOT_CHUNK_ROWS",
  "CHANGELOG_RETENTION_HOURS",
  "UPLOAD_INTERVAL_MS",
  "DELETE_MODE",
] as const;

export type EnvVar = (typeof ENV_VARS)[number];
export type Env = Readonly<Record<string, string | undefined>>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const PROVIDERS: readonly EmbeddingProvider[] = ["none", "hash", "openai"];

const blank = (v: string | undefined): v is undefined => v === undefined || v.trim() === "";

function int(env: Env, name: EnvVar, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (blank(raw)) return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: EnvVar, fallback: boolean): boolean {
  const raw = env[name];
  if (blank(raw)) return fallback;
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function oneOf<T extends string>(env: Env, name: EnvVar, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (blank(raw)) return fallback;
  const v = raw.trim().toLowerCase() as T;
  if (!allowed.includes(v)) throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
  return v;
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (blank(raw)) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // Never echo the value: it usually carries the password.
    throw new ConfigError("DATABASE_URL", "not a valid URL (expected postgres://user:password@host:port/database)");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError("DATABASE_URL", `expected a postgres:// or postgresql:// URL, got the scheme ${url.protocol}`);
  }
  return raw.trim();
}

function memoryTable(env: Env): string {
  const raw = env.MEMORY_TABLE;
  if (blank(raw)) return DEFAULTS.memoryTable;
  const v = raw.trim();
  if (!/^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
    throw new ConfigError("MEMORY_TABLE", `expected a table name, optionally schema-qualified (schema.table), got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** Parses the environment (with flags already merged in) into a frozen Config. Throws ConfigError. */
export function loadConfig(env: Env): Config {
  const tenant = env.SYNC_TENANT_ID;
  if (!blank(tenant) && !UUID_RE.test(tenant.trim())) {
    throw new ConfigError("SYNC_TENANT_ID", `expected a UUID, got ${JSON.stringify(tenant)}`);
  }
  const provider = oneOf(env, "EMBEDDING_PROVIDER", PROVIDERS, "none");
  const baseUrl = env.EMBEDDING_BASE_URL;
  if (!blank(baseUrl)) {
    try {
      new URL(baseUrl.trim());
    } catch {
      throw new ConfigError("EMBEDDING_BASE_URL", "not a valid URL");
    }
  }
  return Object.freeze({
    databaseUrl: databaseUrl(env),
    localPath: blank(env.EMBEDDED_MEMORY_PATH) ? DEFAULTS.localPath : env.EMBEDDED_MEMORY_PATH.trim(),
    memoryTable: memoryTable(env),
    syncIntervalMs: int(env, "SYNC_INTERVAL_MS", DEFAULTS.syncIntervalMs, 10, 2 ** 31 - 1),
    tenantId: blank(tenant) ? undefined : tenant.trim().toLowerCase(),
    autoMigrate: bool(env, "AUTO_MIGRATE", true),
    apiKeys: Object.freeze(
      (env.API_KEYS ?? "")
        .split(",")
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
    host: blank(env.HOST) ? DEFAULTS.host : env.HOST.trim(),
    port: int(env, "PORT", DEFAULTS.port, 0, 65_535),
    logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, DEFAULTS.logLevel),
    embeddingProvider: provider,
    embeddingBaseUrl: blank(baseUrl) ? undefined : baseUrl.trim(),
    embeddingModel: blank(env.EMBEDDING_MODEL) ? undefined : env.EMBEDDING_MODEL.trim(),
    embeddingApiKey: blank(env.EMBEDDING_API_KEY) ? undefined : env.EMBEDDING_API_KEY.trim(),
    embeddingDim: blank(env.EMBEDDING_DIM) ? undefined : int(env, "EMBEDDING_DIM", 0, 1, 65_536),
    backoffBaseMs: DEFAULTS.backoffBaseMs,
    backoffMaxMs: DEFAULTS.backoffMaxMs,
    snapshotChunkRows: int(env, "SNAPSHOT_CHUNK_ROWS", DEFAULTS.snapshotChunkRows, 1, 100_000),
    pullBatchRows: DEFAULTS.pullBatchRows,
    uploadIntervalMs: int(env, "UPLOAD_INTERVAL_MS", 5_000, 10, 2 ** 31 - 1),
    uploadBatchSize: 100,
    deleteMode: oneOf(env, "DELETE_MODE", ["hard", "soft"] as const, "hard"),
    changelogRetentionMs: int(env, "CHANGELOG_RETENTION_HOURS", 168, 0, 87_600) * 3_600_000,
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
  });
}

/** A Config for library users and tests: defaults, overridden by what is given. */
export function makeConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}

/** The secrets a config holds, for scrubbing them out of any text that may be shown. */
export function secretsOf(config: Config): string[] {
  const secrets: string[] = [...config.apiKeys];
  if (config.embeddingApiKey) secrets.push(config.embeddingApiKey);
  if (config.databaseUrl) {
    try {
      const password = decodeURIComponent(new URL(config.databaseUrl).password);
      if (password) secrets.push(password, encodeURIComponent(password));
    } catch {
      /* already validated */
    }
  }
  return secrets.filter((s) => s.length >= 3);
}

/** Replaces every known secret in a text with "[redacted]". */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("[redacted]");
  return out;
}
