/** The library API. */
export { createEmbeddedMemory, EmbeddedMemory } from "./runtime/embeddedMemory.ts";
export type { EmbeddedMemoryOptions, ForceSyncResult, TransitionEvent } from "./runtime/embeddedMemory.ts";
export { loadConfig, makeConfig, ConfigError } from "./schema/config.ts";
export type { Config, EmbeddingProvider, LogLevel } from "./schema/config.ts";
export type { MemoryStats } from "./runtime/stats.ts";
export type { VerifyReport } from "./sync/verify.ts";
export type { SyncStateName } from "./machines/syncMachine.ts";
export { createLogger } from "./observability/logger.ts";
