/**
 * Every environment variable the CLI understands, and the Config field it sets; each is also a
 * flag (`SYNC_INTERVAL_MS` ⇄ `--sync-interval-ms`). No imports, so the CLI can build its flag
 * table without loading the schemas (effect/Schema costs ~100 ms of start-up).
 */
export const ENV_FIELD_OF = {
  DATABASE_URL: "databaseUrl",
  EMBEDDED_MEMORY_PATH: "localPath",
  MEMORY_TABLE: "memoryTable",
  SYNC_INTERVAL_MS: "syncIntervalMs",
  SYNC_TENANT_ID: "tenantId",
  AUTO_MIGRATE: "autoMigrate",
  API_KEYS: "apiKeys",
  HOST: "host",
  PORT: "port",
  LOG_LEVEL: "logLevel",
  EMBEDDING_PROVIDER: "embeddingProvider",
  EMBEDDING_BASE_URL: "embeddingBaseUrl",
  EMBEDDING_MODEL: "embeddingModel",
  EMBEDDING_API_KEY: "embeddingApiKey",
  EMBEDDING_DIM: "embeddingDim",
  SNAPSHOT_CHUNK_ROWS: "snapshotChunkRows",
  CHANGELOG_RETENTION_HOURS: "changelogRetentionMs",
  UPLOAD_INTERVAL_MS: "uploadIntervalMs",
  DELETE_MODE: "deleteMode",
  LISTEN_DATABASE_URL: "listenDatabaseUrl",
  DATABASE_READ_URL: "databaseReadUrl",
  POLL_INTERVAL_MS: "pollIntervalMs",
  MASTER_POOL_MAX: "masterPoolMax",
  MASTER_CONNECT_TIMEOUT_MS: "connectTimeoutMs",
  MASTER_STATEMENT_TIMEOUT_MS: "statementTimeoutMs",
  LISTEN_HEARTBEAT_MS: "listenHeartbeatMs",
  NOTIFY_TIMEOUT_MS: "notifyTimeoutMs",
  SEARCH_MIN_SCORE: "searchMinScore",
  // Both set replicatedTables (their union); loadConfig reads them itself (schema/replicateEnv.ts).
  REPLICATE_TABLES: "replicatedTables",
  REPLICATE_CONFIG: "replicatedTables",
} as const;

export type EnvVar = keyof typeof ENV_FIELD_OF;
export const ENV_VARS = Object.freeze(Object.keys(ENV_FIELD_OF)) as readonly EnvVar[];
export type Env = Readonly<Record<string, string | undefined>>;
