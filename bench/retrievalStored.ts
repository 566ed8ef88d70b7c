/**
 * What the replica stores, read back from its file for the retrieval benchmark's labels:
 * ids, vectors (bench/searchGroundTruth.ts), words, importance and creation time, and an
 * inverted index over word stems.
 *
 * Stems come from SQLite's own FTS5 `porter unicode61` tokenizer, run on an in-memory
 * table: the oracle for "these two forms are one word" is the stemmer the issue asks for,
 * not a second implementation of it, and it does not depend on how the replica's FTS table
 * is declared (the code under test).
 */
import Database from "better-sqlite3";
import { TABLE } from "./searchClasses.ts";
import { loadGroundTruth, type GroundTruth } from "./searchGroundTruth.ts";

export class Stemmer {
  private readonly db = new Database(":memory:");
  private readonly cache = new Map<string, string>();

  constructor() {
    this.db.exec(`CREATE VIRTUAL TABLE s USING fts5(w, tokenize = 'porter unicode61 remove_diacritics 2');
                  CREATE VIRTUAL TABLE v USING fts5vocab(s, 'instance');`);
  }

  /** The stem of each word (one token each), computed once per distinct word. */
  stems(words: readonly string[]): string[] {
    const missing = [...new Set(words.filter((w) => !this.cache.has(w)))];
    if (missing.length) {
      const insert = this.db.prepare("INSERT INTO s (rowid, w) VALUES (?, ?)");
      this.db.transaction(() => missing.forEach((w, i) => insert.run(i + 1, w)))();
      for (const r of this.db.prepare("SELECT doc, term FROM v").all() as { doc: number; term: string }[]) this.cache.set(missing[r.doc - 1]!, r.term);
      this.db.exec("DELETE FROM s");
    }
    return words.map((w) => this.cache.get(w) ?? w);
  }

  stem(word: string): string {
    return this.stems([word])[0]!;
  }

  close(): void {
    this.db.close();
  }
}

export interface Stored {
  readonly gt: GroundTruth;
  readonly n: number;
  /** Words of row i (its content text split on spaces), and their distinct stems. */
  readonly words: readonly string[][];
  readonly stemSets: readonly Set<string>[];
  readonly importance: Float64Array;
  readonly createdMs: Float64Array;
  /** Rows (indexes into gt.ids) holding each stem. */
  readonly postings: ReadonlyMap<string, readonly number[]>;
  /** Per-dimension standard deviation of the stored vectors (for perturbations in the data's own shape). */
  readonly std: Float32Array;
  readonly stemmer: Stemmer;
}

/** Reads the replica file at `file` (vectors of `dim` dimensions). Call `stemmer.close()` when done. */
export function loadStored(file: string, dim: number): Stored {
  const gt = loadGroundTruth(file, dim);
  const at = new Map(gt.ids.map((id, i) => [id, i]));
  const n = gt.ids.length;
  const words: string[][] = Array.from({ length: n }, () => []);
  const importance = new Float64Array(n);
  const createdMs = new Float64Array(n);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT id, content, importance_score AS imp, created_at AS ts FROM ${TABLE}`).iterate() as IterableIterator<{ id: string; content: string; imp: number | null; ts: string | null }>;
    for (const r of rows) {
      const i = at.get(r.id);
      if (i === undefined) continue;
      words[i] = String((JSON.parse(r.content) as { text?: string }).text ?? "").split(/\s+/).filter(Boolean);
      importance[i] = r.imp ?? 0;
      createdMs[i] = r.ts ? Date.parse(r.ts) : 0;
    }
  } finally {
    db.close();
  }
  const stemmer = new Stemmer();
  const stemOf = new Map<string, string>();
  const distinct = [...new Set(words.flat())];
  stemmer.stems(distinct).forEach((s, k) => stemOf.set(distinct[k]!, s));
  const stemSets = words.map((ws) => new Set(ws.map((w) => stemOf.get(w)!)));
  const postings = new Map<string, number[]>();
  stemSets.forEach((set, i) => {
    for (const s of set) {
      const list = postings.get(s);
      if (list) list.push(i);
      else postings.set(s, [i]);
    }
  });
  return { gt, n, words, stemSets, importance, createdMs, postings, std: stdPerDim(gt), stemmer };
}

function stdPerDim(gt: GroundTruth): Float32Array {
  const { dim, vectors } = gt;
  const n = gt.ids.length;
  const sum = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0, base = 0; i < n; i++, base += dim) {
    for (let j = 0; j < dim; j++) {
      const x = vectors[base + j]!;
      sum[j]! += x;
      sq[j]! += x * x;
    }
  }
  return Float32Array.from({ length: dim }, (_, j) => Math.sqrt(Math.max(0, sq[j]! / n - (sum[j]! / n) ** 2)));
}

/** Rows holding every one of `stems` (an all-words match, as a stemming full-text index sees it). */
export function rowsWithAll(stored: Stored, stems: readonly string[]): number[] {
  if (stems.length === 0) return [];
  const shortest = stems.map((s) => stored.postings.get(s) ?? []).reduce((a, b) => (b.length < a.length ? b : a));
  return shortest.filter((i) => stems.every((s) => stored.stemSets[i]!.has(s)));
}

export const df = (stored: Stored, stem: string): number => stored.postings.get(stem)?.length ?? 0;

/** Cosine of `q` and stored row i. */
export function cosineTo(stored: Stored, q: Float32Array, i: number): number {
  const { dim, vectors, norms } = stored.gt;
  let dot = 0;
  let qn = 0;
  for (let j = 0, base = i * dim; j < dim; j++) {
    dot += vectors[base + j]! * q[j]!;
    qn += q[j]! * q[j]!;
  }
  return dot / (norms[i]! * Math.sqrt(qn));
}
