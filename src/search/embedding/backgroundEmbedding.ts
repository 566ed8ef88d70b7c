/**
 * Embeds rows that arrived without a vector, a small batch at a time with a yield between
 * batches, so neither the sync nor the HTTP server waits on it. One run at a time; a
 * failure is logged and retried at the next change.
 */
import type { Logger } from "../../observability/logger.ts";

/** Rows embedded per batch (one provider call). */
export const EMBED_BATCH = 32;

export class BackgroundEmbedding {
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly embedMissing: (limit: number, signal: AbortSignal) => Promise<number>,
    private readonly model: string,
    private readonly log: Logger,
  ) {}

  trigger(): void {
    if (this.running || this.abort.signal.aborted) return;
    this.running = (async () => {
      try {
        let total = 0;
        for (;;) {
          await new Promise((r) => setImmediate(r));
          if (this.abort.signal.aborted) break;
          const n = await this.embedMissing(EMBED_BATCH, this.abort.signal);
          total += n;
          if (n < EMBED_BATCH) break;
        }
        if (total > 0) this.log.info({ rows: total, model: this.model }, "embedded rows that had no vector");
      } catch (err) {
        if (!this.abort.signal.aborted) this.log.warn({ err }, "embedding rows failed; will retry at the next change");
      } finally {
        this.running = undefined;
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}
