/**
 * Embedding a search's query text. A search is interactive and answers from the local file, so
 * an embeddings endpoint that is slow, silent or down must never hold it: the query's embedding
 * has a short deadline of its own (no 30 s call, no retries past it), and after a failure the
 * searches of the next `cooldownMs` skip it at once and answer by full text alone — logged once
 * per failure, not once per search. The first search after the cool-down tries again.
 */
import type { Embedder } from "./Embedder.ts";
import type { Logger } from "../../observability/logger.ts";

/** A query's embedding may take this long before the search goes on without it. */
export const QUERY_EMBED_TIMEOUT_MS = 2_000;
/** After a failed query embedding, searches skip it for this long. */
export const QUERY_EMBED_COOLDOWN_MS = 30_000;

export interface QueryEmbeddingOptions {
  readonly timeoutMs?: number;
  readonly cooldownMs?: number;
  /** The clock (ms); tests give their own. */
  readonly now?: () => number;
}

/** The query's vector, or undefined when the endpoint failed now or recently (the reason is logged). */
export type EmbedQuery = (query: string) => Promise<Float32Array | undefined>;

export function makeQueryEmbedding(embedder: Embedder, log: Logger, o: QueryEmbeddingOptions = {}): EmbedQuery {
  const timeoutMs = o.timeoutMs ?? QUERY_EMBED_TIMEOUT_MS;
  const cooldownMs = o.cooldownMs ?? QUERY_EMBED_COOLDOWN_MS;
  const now = o.now ?? Date.now;
  let skipUntil = 0;
  return async (query) => {
    if (now() < skipUntil) return undefined;
    try {
      const [v] = await embedder.embed([query], AbortSignal.timeout(timeoutMs));
      return v;
    } catch (err) {
      skipUntil = now() + cooldownMs;
      log.warn({ err, provider: embedder.provider, timeoutMs, retryInMs: cooldownMs }, "embedding the query failed: searches answer by full text alone until the endpoint is tried again");
      return undefined;
    }
  };
}
