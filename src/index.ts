/** The library API. */
export { createEmbeddedMemory, EmbeddedMemory } from "./embeddedMemory.ts";
export type { EmbeddedMemoryOptions, ForceSyncResult, TransitionEvent } from "./embeddedMemory.ts";
export { loadConfig, makeConfig, ConfigError } from "./config.ts";
export type { Config, EmbeddingProvider, LogLevel } from "./config.ts";
export type { MemoryStats } from "./stats.ts";
export type { VerifyReport } from "./services/verify.ts";
export type { SyncStateName } from "./machines/syncMachine.ts";
export { createLogger } from "./services/logger.ts";
