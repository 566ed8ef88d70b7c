/**
 * Configuration: one Effect Schema, used both by `makeConfig()` (library callers) and by
 * `loadConfig()` (the CLI, from the environment and flags), so both accept and refuse exactly
 * the same values. The result is a frozen object whose names carry their units. The library
 * never reads `process.env`; it takes a `Config` (see `createEmbeddedMemory`).
 */
import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { UUID_RE } from "./fields.ts";
import { apiKeysOf, parseApiKey } from "./apiKeys.ts";
import { ConfigError } from "./configError.ts";
import { ENV_FIELD_OF, ENV_VARS, type Env, type EnvVar } from "./envVars.ts";
import { replicatedTablesFromEnv } from "./replicateEnv.ts";
import { decodeReplicatedTables, ReplicatedTable, type ReplicatedTableConfig, type TableSource } from "./replicatedTables.ts";

export { ConfigError, ENV_VARS, type Env, type EnvVar };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const EMBEDDING_PROVIDERS = ["none", "hash", "openai"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type EmbeddingProvider = (typeof EMBEDDING_PROVIDERS)[number];

const MAX_MS = 2 ** 31 - 1; // setTimeout's limit
const SSL_MODE_NAMES: readonly string[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/** A whole number in [min, max], with a message that shows the value (numbers are never secret). */
const IntIn = (min: number, max: number) =>
  Schema.Number.check(Schema.makeFilter((n: number) => (Number.isInteger(n) && n >= min && n <= max) || `expected a whole number from ${min} to ${max}, got ${n}`));

/** Never echoes the value: a database URL usually carries the password. */
const PostgresUrl = Schema.String.check(
  Schema.makeFilter((s: string) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return "not a valid URL (expected postgres://user:password@host:port/database)";
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return `expected a postgres:// or postgresql:// URL, got the scheme ${url.protocol}`;
    // libpq's sslmode values (src/master/connection.ts gives them their meaning): a typo is a
    // configuration error naming the variable, not a start-up failure later.
    const sslmode = url.searchParams.get("sslmode");
    return sslmode === null || SSL_MODE_NAMES.includes(sslmode) || `sslmode=${sslmode} is not one of ${SSL_MODE_NAMES.join(", ")}`;
  }),
);
const HttpUrl = Schema.String.check(
  Schema.makeFilter((s: string) => {
    try {
      const { protocol } = new URL(s);
      return protocol === "http:" || protocol === "https:" || `expected an http:// or https:// URL, got the scheme ${protocol}`;
    } catch {
      return "not a valid URL";
    }
  }),
);
const TableName = Schema.String.check(
  Schema.isPattern(/^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/, { message: "expected a table name, optionally schema-qualified (schema.table)" }),
);
const TenantUuid = Schema.String.check(Schema.isPattern(UUID_RE, { message: "expected a UUID" }));
const NonEmpty = Schema.String.check(Schema.isMinLength(1, { message: "must not be empty" }));
const oneOf = <const L extends readonly string[]>(values: L) => Schema.Literals(values).annotate({ message: `expected one of ${values.join(", ")}` });
const opt = Schema.optionalKey;

export const ConfigSchema = Schema.Struct({
  /** Master Postgres connection string. Holds the password: never log it. */
  databaseUrl: opt(PostgresUrl),
  localPath: NonEmpty,
  memoryTable: TableName,
  syncIntervalMs: IntIn(10, MAX_MS),
  /** Replicate only this tenant's rows (and the shared NULL-tenant ones). */
  tenantId: opt(TenantUuid),
  autoMigrate: Schema.Boolean,
  /** `key` or `key:<tenant uuid>` (schema/apiKeys.ts). */
  apiKeys: Schema.Array(NonEmpty.check(Schema.makeFilter((e: string) => { const k = parseApiKey(e); return typeof k === "string" ? k : true; }))),
  host: NonEmpty,
  port: IntIn(0, 65_535),
  /** `silent` by default for library users (makeConfig); the CLI's LOG_LEVEL defaults to `info`. */
  logLevel: oneOf(LOG_LEVELS),
  embeddingProvider: oneOf(EMBEDDING_PROVIDERS),
  embeddingBaseUrl: opt(HttpUrl),
  embeddingModel: opt(NonEmpty),
  embeddingApiKey: opt(NonEmpty),
  embeddingDim: opt(IntIn(1, 65_536)),
  /** First delay of the sync machine's backoff; it doubles up to `backoffMaxMs`. */
  backoffBaseMs: IntIn(1, MAX_MS),
  backoffMaxMs: IntIn(1, MAX_MS),
  /** Rows per keyset chunk of the initial copy (each chunk is one SQLite transaction). */
  snapshotChunkRows: IntIn(1, 100_000),
  /** Safety-net upload interval; a local write wakes the uploader at once. */
  uploadIntervalMs: IntIn(10, MAX_MS),
  /** Outbox entries per master transaction. */
  uploadBatchSize: IntIn(1, 10_000),
  /** How a local delete reaches the master: deleted, or `soft` (expires_at = now()). */
  deleteMode: oneOf(["hard", "soft"] as const),
  /** Master changelog rows older than this are pruned (0 = never). */
  changelogRetentionMs: IntIn(0, Number.MAX_SAFE_INTEGER),
  /** Changed rows fetched per round trip during an incremental pull. */
  pullBatchRows: IntIn(1, 100_000),
  /** How long one attempt to connect to the master may take before it counts as a failure (MASTER_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: IntIn(1, MAX_MS),
  /**
   * Every master statement's bound: `statement_timeout` on the server and the same deadline on
   * the client (a silent socket never delivers the server's error). MASTER_STATEMENT_TIMEOUT_MS.
   */
  statementTimeoutMs: IntIn(1, MAX_MS),
  /** The relevance floor a search applies when its request names none (`min_score`), on the 0..1 score scale. */
  searchMinScore: Schema.Number.check(Schema.makeFilter((n: number) => (n >= 0 && n <= 1) || `expected a number from 0 to 1, got ${n}`)),
  /** Where LISTEN goes (a direct connection or a session-mode pooler); default: databaseUrl. Holds a password. */
  listenDatabaseUrl: opt(PostgresUrl),
  /** A streaming hot standby that pulls and the first copy read from (LISTEN, uploads and pruning stay on databaseUrl). Holds a password. */
  databaseReadUrl: opt(PostgresUrl),
  /** Pull interval while NOTIFY is not delivering (change_feed.state `unavailable`). */
  pollIntervalMs: IntIn(10, MAX_MS),
  /** Pooled master connections for pulls and uploads; each replica holds this + 1 (the listener). */
  masterPoolMax: IntIn(1, 100),
  /** How often the listener proves itself with a NOTIFY round trip; silent past `notifyTimeoutMs` → reconnect. */
  listenHeartbeatMs: IntIn(10, MAX_MS),
  /** How long a NOTIFY round trip (the self-test on connect, each heartbeat) may take. */
  notifyTimeoutMs: IntIn(10, MAX_MS),
  /** Further master tables replicated beside the memory table (REPLICATE_TABLES, REPLICATE_CONFIG; schema/replicatedTables.ts). */
  replicatedTables: Schema.Array(ReplicatedTable),
});

export type Config = typeof ConfigSchema.Type;
/** What `makeConfig()` takes: any field, the rest from the defaults. */
export type ConfigInput = Partial<Config>;

export const DEFAULTS = Object.freeze({
  localPath: "./data/ai-memory.db",
  memoryTable: "unified_ai_memory",
  syncIntervalMs: 30_000,
  autoMigrate: true,
  apiKeys: [] as readonly string[],
  host: "127.0.0.1",
  port: 8080,
  logLevel: "silent" as LogLevel,
  embeddingProvider: "none" as EmbeddingProvider,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  snapshotChunkRows: 2_000,
  uploadIntervalMs: 5_000,
  uploadBatchSize: 100,
  deleteMode: "hard" as "hard" | "soft",
  changelogRetentionMs: 168 * 3_600_000,
  pullBatchRows: 1_000,
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  pollIntervalMs: 2_000,
  searchMinScore: 0.2,
  masterPoolMax: 2,
  listenHeartbeatMs: 30_000,
  notifyTimeoutMs: 3_000,
  replicatedTables: Object.freeze([]) as readonly ReplicatedTableConfig[],
} satisfies Omit<Config, "databaseUrl" | "listenDatabaseUrl" | "databaseReadUrl" | "tenantId" | "embeddingBaseUrl" | "embeddingModel" | "embeddingApiKey" | "embeddingDim">);

/**
 * Decodes a whole config. `nameOf` turns the field at fault into the name the caller knows it
 * by (the environment variable, for the CLI); `sourceOf` says where each replicated table came
 * from (REPLICATE_TABLES or REPLICATE_CONFIG's file), for its errors.
 */
export function decodeConfig(input: Record<string, unknown>, nameOf: (field: string) => string = (f) => f, sourceOf?: (index: number) => TableSource): Config {
  // Absent optional values may arrive as undefined (`{ tenantId: undefined }`): drop them.
  const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  // The tables are decoded on their own after the rest (their errors show the entry, and one check needs memoryTable).
  const rawTables = clean.replicatedTables;
  if (rawTables !== undefined && !Array.isArray(rawTables)) throw new ConfigError(nameOf("replicatedTables"), "expected an array of tables");
  const result = Schema.decodeUnknownResult(ConfigSchema)(rawTables === undefined ? clean : { ...clean, replicatedTables: [] }, { onExcessProperty: "error" });
  if (Result.isSuccess(result)) {
    const c = result.success;
    if (c.backoffMaxMs < c.backoffBaseMs) throw new ConfigError(nameOf("backoffMaxMs"), `must be at least backoffBaseMs (${c.backoffBaseMs})`);
    const tables = decodeReplicatedTables((rawTables ?? []) as unknown[], { name: c.memoryTable, variable: nameOf("memoryTable") }, sourceOf ?? ((i) => ({ variable: nameOf("replicatedTables"), at: `[${i}]` })));
    if ("problem" in tables) throw new ConfigError(tables.problem.variable, tables.problem.message);
    return Object.freeze({ ...c, apiKeys: Object.freeze([...c.apiKeys]), replicatedTables: tables.tables, ...(c.tenantId ? { tenantId: c.tenantId.toLowerCase() } : {}) });
  }
  const [first = "invalid", second = ""] = String(result.failure.message).split("\n");
  const field = /\["?([^"\]]*)"?\]/.exec(second)?.[1] ?? "config";
  const message = first.startsWith("Expected no excess property") ? "unknown setting" : first.replace(/^Expected "(.*)"$/, "expected one of $1");
  throw new ConfigError(nameOf(field), message);
}

/** A Config for library users and tests: defaults, overridden by what is given; validated as the CLI validates. Throws ConfigError. */
export function makeConfig(overrides: ConfigInput = {}): Config {
  return decodeConfig({ ...DEFAULTS, ...overrides });
}


/** The Config field each environment variable sets (envVars.ts lists them with no imports, for the CLI's fast path). */
const ENV_FIELDS = ENV_FIELD_OF satisfies Record<EnvVar, keyof Config>;

// Two variables set replicatedTables; its errors name their own (decodeConfig's sourceOf), this is the fallback.
const VARIABLE_OF: Record<string, string> = { ...Object.fromEntries(Object.entries(ENV_FIELDS).map(([v, f]) => [f, v])), replicatedTables: "REPLICATE_TABLES" };

/** Environment text → the value the schema decodes; a value that is not even the right kind names its variable. */
function fromText(variable: EnvVar, raw: string): unknown {
  const v = raw.trim();
  switch (ENV_FIELDS[variable]) {
    case "syncIntervalMs":
    case "port":
    case "embeddingDim":
    case "snapshotChunkRows":
    case "uploadIntervalMs":
    case "connectTimeoutMs":
    case "statementTimeoutMs":
    case "pollIntervalMs":
    case "masterPoolMax":
    case "listenHeartbeatMs":
    case "notifyTimeoutMs":
      if (!/^\d+$/.test(v)) throw new ConfigError(variable, `expected a whole number, got ${JSON.stringify(raw)}`);
      return Number(v);
    case "changelogRetentionMs":
      if (!/^\d+$/.test(v)) throw new ConfigError(variable, `expected a whole number of hours, got ${JSON.stringify(raw)}`);
      return Number(v) * 3_600_000;
    case "searchMinScore":
      if (!/^\d+(\.\d+)?$/.test(v)) throw new ConfigError(variable, `expected a number from 0 to 1, got ${JSON.stringify(raw)}`);
      return Number(v);
    case "autoMigrate": {
      const b = v.toLowerCase();
      if (["1", "true", "yes", "on"].includes(b)) return true;
      if (["0", "false", "no", "off"].includes(b)) return false;
      throw new ConfigError(variable, `expected true or false, got ${JSON.stringify(raw)}`);
    }
    case "apiKeys":
      return v.split(",").map((k) => k.trim()).filter((k) => k.length > 0);
    case "logLevel":
    case "embeddingProvider":
    case "deleteMode":
      return v.toLowerCase();
    default:
      return v;
  }
}

/** Parses the environment (with flags already merged in) into a frozen Config. Throws ConfigError naming the variable. */
export function loadConfig(env: Env): Config {
  const input: Record<string, unknown> = { ...DEFAULTS, logLevel: "info" };
  for (const variable of ENV_VARS) {
    const raw = env[variable];
    if (raw === undefined || raw.trim() === "" || ENV_FIELDS[variable] === "replicatedTables") continue;
    input[ENV_FIELDS[variable]] = fromText(variable, raw);
  }
  const tables = replicatedTablesFromEnv(env);
  if (tables) input.replicatedTables = tables.entries;
  return decodeConfig(input, (field) => VARIABLE_OF[field] ?? field, tables?.sourceOf);
}

/**
 * Percent-decodes as node-postgres does: a `%` that starts no escape (a password such as
 * `50%off`) stays a literal `%` instead of making the whole value undecodable.
 */
function lenientDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    try {
      return decodeURIComponent(text.replace(/%(?![0-9a-f]{2})/gi, "%25"));
    } catch {
      return text; // an escape that is not UTF-8: the text as written is all there is
    }
  }
}

/**
 * Every password a master URL carries, in each form a message may show it: as written in the
 * URL, decoded (what the server receives) and encoded again. Both places count: the user info
 * and `?password=`, which node-postgres (like libpq) honours, and which wins over the user info.
 */
function urlPasswords(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return []; // the config has validated it
  }
  const raw = [u.password, ...u.search.slice(1).split("&").flatMap((pair) => (pair.startsWith("password=") ? [pair.slice("password=".length)] : []))];
  const decoded = [lenientDecode(u.password), ...u.searchParams.getAll("password")];
  return [...raw, ...decoded, ...decoded.map(encodeURIComponent)];
}

/** The secrets a config holds, for scrubbing them out of any text that may be shown. */
export function secretsOf(config: Config): string[] {
  const secrets: string[] = apiKeysOf(config.apiKeys).map((k) => k.key);
  if (config.embeddingApiKey) secrets.push(config.embeddingApiKey);
  for (const url of [config.databaseUrl, config.listenDatabaseUrl, config.databaseReadUrl]) if (url) secrets.push(...urlPasswords(url));
  // Longest first: a secret that contains another is replaced whole, not around the shorter one.
  return [...new Set(secrets)].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

/** Replaces every known secret in a text with "[redacted]". */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("[redacted]");
  return out;
}
