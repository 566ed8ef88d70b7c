/**
 * The vector side of the replica: the in-memory index (built from the file on first use,
 * then kept in step with every committed write through LocalStore.onChange), exact vector
 * look-ups for re-ranking, and local embedding of rows that arrived without a vector.
 */
import type { Embedder } from "../embedding/Embedder.ts";
import type { LocalStoreShape } from "../../store/LocalStore.ts";
import type { Logger } from "../../observability/logger.ts";
import type { Row } from "../../schema/tableDescriptor.ts";
import type { Basis } from "./quantiser.ts";
import { blobToVector, vectorToBlob } from "./floatVectors.ts";
import { VectorIndex } from "./VectorIndex.ts";

export interface VectorInfo {
  readonly dim: number | null;
  readonly model: string | null;
  readonly vectors: number;
  /** Rows whose vector has another dimension than the index (not searchable by vector). */
  readonly skipped: number;
  readonly built: boolean;
}

export interface VectorStore {
  /** The index, built on first call; undefined while no row has a vector. */
  readonly index: () => VectorIndex | undefined;
  readonly lookup: (ids: readonly string[]) => Map<string, Float32Array>;
  readonly info: () => VectorInfo;
  /** Embeds up to `limit` rows that have no vector; returns how many were embedded. */
  readonly embedMissing: (limit: number, signal?: AbortSignal) => Promise<number>;
  readonly close: () => void;
}

const VECTOR_SQL = "coalesce(m.embedding, l.embedding)";

/** The text a memory is embedded from: its JSON string values (or its text), and search_text. */
export function memoryText(content: string | null, searchText: string | null): string {
  let body = content ?? "";
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object") {
      const strings: string[] = [];
      const walk = (v: unknown) => {
        if (typeof v === "string") strings.push(v);
        else if (v !== null && typeof v === "object") Object.values(v).forEach(walk);
      };
      const text = (parsed as { text?: unknown }).text;
      if (typeof text === "string") strings.push(text);
      walk({ ...(parsed as object), text: undefined });
      body = strings.join(" ");
    }
  } catch {
    /* plain text content */
  }
  return searchText ? `${body} ${searchText}` : body;
}

export function makeVectorStore(store: LocalStoreShape, table: string, embedder: Embedder | undefined, logger: Logger): VectorStore {
  const { statement, pluck, transaction } = store;
  const log = logger.child({ module: "vectors" });
  let index: VectorIndex | undefined;
  let built = false;
  let skipped = 0;
  const meta = store.meta.get;
  const setMeta = store.meta.set;

  const ensureIndex = (dim: number, basis?: Basis): VectorIndex => {
    if (!index) {
      index = new VectorIndex(dim, 1024, basis);
      if (meta("embedding_dim") !== String(dim)) setMeta("embedding_dim", String(dim));
    }
    return index;
  };
  const add = (id: string, blob: Uint8Array | null) => {
    if (!blob || blob.byteLength === 0 || blob.byteLength % 4 !== 0) return index?.remove(id);
    const v = blobToVector(blob);
    if (!ensureIndex(v.length).upsert(id, v)) skipped++;
  };

  /** `basis`: quantise against these statistics (a rebuild of a drifted index passes its own). */
  const build = (basis?: Basis) => {
    built = true;
    const started = Date.now();
    const recorded = meta("embedding_dim");
    // The index dimension: the one recorded, else the most common among the first rows.
    let dim = recorded ? Number(recorded) : undefined;
    if (dim === undefined) {
      const rows = pluck(`SELECT length(${VECTOR_SQL}) / 4 AS d FROM ${table} m LEFT JOIN local_embeddings l ON l.id = m.id WHERE ${VECTOR_SQL} IS NOT NULL LIMIT 1000`).all() as number[];
      const counts = new Map<number, number>();
      for (const d of rows) counts.set(d, (counts.get(d) ?? 0) + 1);
      dim = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    }
    if (dim === undefined || dim <= 0) return;
    ensureIndex(dim, basis?.mean.length === dim ? basis : undefined);
    skipped = 0;
    const iter = statement(`SELECT m.id AS id, ${VECTOR_SQL} AS v FROM ${table} m LEFT JOIN local_embeddings l ON l.id = m.id WHERE ${VECTOR_SQL} IS NOT NULL`).iterate() as IterableIterator<{ id: string; v: Buffer }>;
    for (const r of iter) add(r.id, r.v);
    log.info({ vectors: index!.size, dim, skipped, ms: Date.now() - started, requantised: basis !== undefined }, "vector index built");
  };
  /**
   * The rows moved away from the statistics the index was quantised against (the first rows
   * of a file, or a new kind of content arriving): rebuilt against the statistics of all rows
   * now, so recall does not degrade silently. The exact statistics make the new index's drift
   * ≈ 0, so this runs again only when the data moves as far once more.
   */
  const rebuildIfStale = () => {
    if (!index?.stale) return;
    const basis = index.statistics();
    index = undefined;
    build(basis);
  };

  const localVector = pluck("SELECT embedding FROM local_embeddings WHERE id = ?");
  const unsubscribe = store.onChange((changed, upserts: readonly Row[], deleted) => {
    if (changed !== table || !built) return;
    for (const id of deleted) index?.remove(id);
    for (const r of upserts) {
      const id = String(r.id);
      const v = r.embedding;
      if (Buffer.isBuffer(v) && v.length > 0) add(id, v);
      else {
        // No vector from the master: a local one (if still valid) serves.
        const local = localVector.get(id) as Buffer | undefined;
        add(id, local ?? null);
      }
    }
  });

  // A re-copy swapped in holds other rows: the index is built from it anew when next asked for.
  const unsubscribeReplaced = store.onReplaced(() => {
    index = undefined;
    built = false;
    skipped = 0;
  });

  const lookupStmt = statement(`SELECT m.id AS id, ${VECTOR_SQL} AS v FROM ${table} m LEFT JOIN local_embeddings l ON l.id = m.id WHERE m.id IN (SELECT value FROM json_each(?))`);
  const missing = statement(`SELECT m.id AS id, m.content AS content, m.search_text AS search_text FROM ${table} m LEFT JOIN local_embeddings l ON l.id = m.id WHERE m.embedding IS NULL AND l.id IS NULL LIMIT ?`);
  const insertLocal = statement(
    "INSERT INTO local_embeddings (id, model, embedding) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM " + table + " WHERE id = ? AND embedding IS NULL) ON CONFLICT (id) DO UPDATE SET model = excluded.model, embedding = excluded.embedding",
  );
  const storeLocal = transaction((rows: readonly { id: string }[], vectors: readonly Float32Array[], model: string) =>
    rows.forEach((r, i) => insertLocal.run(r.id, model, vectorToBlob(vectors[i]!), r.id)),
  );

  return {
    index: () => {
      if (!built) build();
      rebuildIfStale();
      return index;
    },
    lookup: (ids) => {
      const out = new Map<string, Float32Array>();
      for (const r of lookupStmt.all(JSON.stringify(ids)) as { id: string; v: Buffer | null }[]) if (r.v) out.set(r.id, blobToVector(r.v));
      return out;
    },
    info: () => ({ dim: index?.dim ?? (meta("embedding_dim") ? Number(meta("embedding_dim")) : null), model: meta("embedding_model") ?? embedder?.model ?? null, vectors: index?.size ?? 0, skipped, built }),
    embedMissing: async (limit, signal) => {
      if (!embedder || limit <= 0) return 0;
      const rows = missing.all(limit) as { id: string; content: string | null; search_text: string | null }[];
      if (rows.length === 0) return 0;
      const vectors = await embedder.embed(rows.map((r) => memoryText(r.content, r.search_text)), signal);
      storeLocal(rows, vectors, embedder.model);
      if (meta("embedding_model") !== embedder.model) setMeta("embedding_model", embedder.model);
      if (built) rows.forEach((r, i) => add(r.id, vectorToBlob(vectors[i]!)));
      return rows.length;
    },
    close: () => {
      unsubscribe();
      unsubscribeReplaced();
    },
  };
}
