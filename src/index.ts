/**
 * The package root: the library API, the schemas every entry point decodes its input with,
 * their types, and the error classes. Hand-picked: what is not exported here is internal.
 * The HTTP adapter (src/http) and the MCP server use only what this file exports.
 */
export { createEmbeddedMemory, EmbeddedMemory } from "./runtime/embeddedMemory.ts";
export type {
  EmbeddedMemoryOptions,
  ForceSyncResult,
  MachinesView,
  TransitionEvent,
  MachineEvent,
  MachineDescription,
  StateDescription,
  SyncStateName,
  UploadStateName,
} from "./runtime/embeddedMemory.ts";
export type { MemoryStats } from "./runtime/stats.ts";

export { makeConfig, loadConfig, ConfigError, ConfigSchema, ENV_VARS, LOG_LEVELS, EMBEDDING_PROVIDERS } from "./schema/config.ts";
export type { Config, ConfigInput, EmbeddingProvider, LogLevel, Env } from "./schema/config.ts";

export { InvalidInputError, decodeInput } from "./schema/decode.ts";
export { ReplicaLockedError } from "./store/locked.ts";
export { MasterSchemaDrift } from "./sync/columns.ts";
export { scopeToTenant, TenantScopeError, MemoryNotFoundError, type MemoryApi } from "./runtime/scoped.ts";
export { MemoryWrite, MemoryId } from "./schema/memory.ts";
export { SearchRequest, SearchFilters, SearchQuery, ForceSyncQuery, searchRequestFromQuery } from "./schema/search.ts";
export { TableListQuery, TableKey, TableQueryString, tableListFromQuery } from "./schema/tables.ts";
export type { TableHandle, TablePage, TableRow, TableReadOptions, TableSummary, JsonValue } from "./runtime/tables.ts";
export { LIMITS } from "./schema/fields.ts";
export { apiKeysOf, parseApiKey, type ApiKey } from "./schema/apiKeys.ts";

export type { StoredMemory } from "./outbox/LocalWrites.ts";
export type { SearchOptions, SearchResponse, SearchResult, SearchMethod } from "./search/Search.ts";
export type { RankWeights } from "./search/rank.ts";
export type { VerifyReport } from "./sync/verify.ts";
export type { SyncOnceOptions, SyncOnceResult } from "./runtime/oneShot.ts";

export { createLogger } from "./observability/logger.ts";
export type { Logger, LoggerOptions } from "./observability/logger.ts";
export type { Metrics } from "./observability/metrics.ts";
