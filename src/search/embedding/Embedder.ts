/**
 * Embedding providers:
 * - `none`: no vectors are made here (vector search still works with vectors the master
 *   already has and with query vectors given by the caller);
 * - `hash`: deterministic feature hashing of words and word pairs, offline. Honest about
 *   what it is: a lexical vector (shared words ⇒ similar), not a semantic model;
 * - `openai`: any OpenAI-compatible `POST {base}/embeddings` (OpenAI, Ollama, vLLM…),
 *   batched, with a timeout and a brief retry on transient failures.
 */
import * as Data from "effect/Data";
import * as Effect from "effect/Effect";
import * as Schedule from "effect/Schedule";
import type { Config, EmbeddingProvider } from "../../schema/config.ts";
import { ftsTerms } from "../ftsQuery.ts";

export class EmbeddingError extends Data.TaggedError("EmbeddingError")<{ readonly message: string; readonly retryable: boolean; readonly cause?: unknown }> {}

export interface Embedder {
  readonly provider: EmbeddingProvider;
  /** Recorded with every vector made here, so a change of model is noticed. */
  readonly model: string;
  /** Known up front for `hash` (and `openai` when EMBEDDING_DIM is set). */
  readonly dim: number | undefined;
  readonly embed: (texts: readonly string[], signal?: AbortSignal) => Promise<Float32Array[]>;
}

export interface EmbedderOptions {
  readonly provider: EmbeddingProvider;
  readonly baseUrl?: string | undefined;
  readonly model?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly dim?: number | undefined;
  readonly timeoutMs?: number;
  readonly batchSize?: number;
}

export const DEFAULT_HASH_DIM = 384;
const OPENAI_BASE_URL = "https://api.openai.com/v1";
const OPENAI_MODEL = "text-embedding-3-small";

/** FNV-1a, 32-bit. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function hashEmbedding(text: string, dim: number): Float32Array {
  const v = new Float32Array(dim);
  const words = ftsTerms(text.length > 20_000 ? text.slice(0, 20_000) : text);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    v[h % dim]! += h & 0x80000000 ? -weight : weight;
  };
  words.forEach((w, i) => {
    add(w, 1);
    if (i > 0) add(`${words[i - 1]} ${w}`, 0.5);
  });
  let norm = 0;
  for (const x of v) norm += x * x;
  if (norm > 0) for (let i = 0; i < dim; i++) v[i]! /= Math.sqrt(norm);
  return v;
}

/**
 * Retry for one embeddings call that met a transient failure (network, 429, 5xx):
 * about 200, 400, 800 ms (jittered), then the error goes up.
 */
export const EMBEDDING_RETRY = {
  schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
  times: 3,
  while: (e: EmbeddingError) => e.retryable,
} as const;

function openAiEmbedder(o: EmbedderOptions): Embedder {
  const base = (o.baseUrl ?? OPENAI_BASE_URL).replace(/\/+$/, "");
  const model = o.model ?? OPENAI_MODEL;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const batchSize = o.batchSize ?? 64;

  const call = (input: readonly string[], signal?: AbortSignal) =>
    Effect.tryPromise({
      try: async () => {
        const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
        const res = await fetch(`${base}/embeddings`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
          body: JSON.stringify({ model, input }),
          signal: AbortSignal.any(signals),
        });
        if (!res.ok) {
          const detail = (await res.text().catch(() => "")).slice(0, 200);
          throw new EmbeddingError({ message: `embeddings endpoint answered ${res.status}${detail ? `: ${detail}` : ""}`, retryable: res.status === 429 || res.status >= 500 });
        }
        const body = (await res.json()) as { data?: { embedding?: unknown; index?: number }[] };
        if (!Array.isArray(body.data) || body.data.length !== input.length) {
          throw new EmbeddingError({ message: `embeddings endpoint returned ${body.data?.length ?? "no"} vectors for ${input.length} inputs`, retryable: false });
        }
        const out = new Array<Float32Array>(input.length);
        body.data.forEach((d, i) => {
          if (!Array.isArray(d.embedding) || d.embedding.some((x) => typeof x !== "number")) {
            throw new EmbeddingError({ message: "embeddings endpoint returned a vector that is not an array of numbers", retryable: false });
          }
          out[typeof d.index === "number" ? d.index : i] = Float32Array.from(d.embedding as number[]);
        });
        if (o.dim !== undefined && out.some((v) => v.length !== o.dim)) {
          throw new EmbeddingError({ message: `embeddings endpoint returned ${out[0]!.length}-d vectors, EMBEDDING_DIM says ${o.dim}`, retryable: false });
        }
        return out;
      },
      catch: (cause) =>
        cause instanceof EmbeddingError
          ? cause
          : new EmbeddingError({ message: `embeddings endpoint not reachable: ${(cause as Error).message}`, retryable: !(signal?.aborted ?? false), cause }),
    }).pipe(Effect.retry(EMBEDDING_RETRY));

  return {
    provider: "openai",
    model,
    dim: o.dim,
    embed: async (texts, signal) => {
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += batchSize) {
        out.push(...(await Effect.runPromise(call(texts.slice(i, i + batchSize), signal), signal ? { signal } : undefined)));
      }
      return out;
    },
  };
}

export function makeEmbedder(o: EmbedderOptions): Embedder | undefined {
  switch (o.provider) {
    case "none":
      return undefined;
    case "hash": {
      const dim = o.dim ?? DEFAULT_HASH_DIM;
      return { provider: "hash", model: `hash-${dim}`, dim, embed: async (texts) => texts.map((t) => hashEmbedding(t, dim)) };
    }
    case "openai":
      return openAiEmbedder(o);
  }
}

export function embedderFromConfig(config: Config): Embedder | undefined {
  return makeEmbedder({
    provider: config.embeddingProvider,
    baseUrl: config.embeddingBaseUrl,
    model: config.embeddingModel,
    apiKey: config.embeddingApiKey,
    dim: config.embeddingDim,
  });
}
