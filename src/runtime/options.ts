/** What the library's constructor and write methods take besides their input (embeddedMemory.ts). */
import type { InspectionEvent } from "xstate";
import type { Logger } from "../observability/logger.ts";
import type { LogLevel } from "../schema/config.ts";
import type { WriteGuard } from "../outbox/LocalWrites.ts";

/** `guard` sees the row as it is, in the same step as the write (see WriteGuard); a throw writes nothing. */
export interface WriteOptions {
  readonly guard?: WriteGuard;
}

export interface EmbeddedMemoryOptions {
  /** The root logger. Without one, a logger at `logLevel` (else `config.logLevel`, `silent` unless set) writes to stderr. */
  readonly logger?: Logger;
  readonly logLevel?: LogLevel;
  /** Also told every inspection event of both machines (e.g. the Stately inspector). */
  readonly inspect?: (event: InspectionEvent) => void;
}
