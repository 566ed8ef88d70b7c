/**
 * Full-text candidates: FTS5 BM25 over memory_fts (porter + unicode61, migration 5), with
 * candidate generation that keeps rare terms.
 *
 * Every hit's `bm25` is the exact BM25 of the row for the whole query. FTS5's bm25() is a sum
 * over the query's phrases of idf(t) · f(tf, length), so a query over a subset of the terms
 * scores exactly a row that lacks the others; each list below uses that.
 *
 * 1. The rarest terms (together in at most RARE_BUDGET rows) are enumerated completely: every
 *    row holding one of them is scored (`(rare) AND (common)` for the rows that also hold a
 *    common term, `rare` alone for the rest). A word found in one memory is never crowded out.
 * 2. Rows that hold only common terms are ranked among bounded lists (every common term, then
 *    any, FTS_CANDIDATES rows each in descending rowid order), and skipped altogether when
 *    the rare rows already fill `want` with scores no common-only row can reach (exact then).
 * Terms in half the rows or more (beyond the rare budget) are left out of the common lists while
 * another term is left:
 * FTS5 floors their idf at 1e-6, so they add at most 2.2e-6 each to a row's BM25, yet each
 * statement that names one walks its whole posting list (bm25() counts its rows) — most of a
 * six-word query's time. Their coverage is still counted; they fill the hits only when the
 * other terms match fewer than `want` rows.
 *
 * Filters, cheaply: joining the memory table for the filters reads one of its pages per scored
 * row (with the embedding in the row, a 100k-row file is ~100× SQLite's page cache): ~3 µs a row
 * here, several times BM25 itself. Without narrowing filters the lists are scored in the FTS
 * index alone — a complete list keeps only its top `want`, which loses nothing: a row of the
 * final top `want` is in the top `want` of the list that scores it fully, and its other lists
 * score it lower — and the filters are checked on the final `want` rows only. When one of those
 * fails them (an expired or archived row), or when filters narrow, every list is scored with the
 * filters joined in, as described above. The one difference the fast path can make: a bounded
 * list's FTS_CANDIDATES newest rows are taken before the filters, so a filtered-out row among
 * them that is not in the final `want` leaves a slot of that (already inexact) list unused.
 */
import type { LocalStoreShape } from "../store/LocalStore.ts";
import { ftsMatch, ftsTerms, MAX_TERMS } from "./ftsQuery.ts";

export interface TextHit {
  readonly id: string;
  /** BM25 relevance, positive, higher is better (FTS5's bm25() negated). */
  readonly bm25: number;
  /** Σ idf of the query terms the row holds / Σ idf of all query terms, in [0, 1]. */
  readonly coverage: number;
}

export interface TextFilter {
  readonly where: string;
  readonly params: unknown[];
  /** Filters beyond expiry and archiving (filters.ts hasNarrowingFilters): go straight to the joined lists. */
  readonly narrowing?: boolean;
}

export interface FullText {
  readonly search: (terms: readonly string[], filter: TextFilter, want: number) => TextHit[];
  /** Stops following the store's writes. */
  readonly close: () => void;
}

/**
 * At most this many rows per common-terms list are scored. Each scored row pays for BM25, its
 * join and the filters (~5–9 µs here), so this bounds a query of common words.
 */
export const FTS_CANDIDATES = 300;
/** Terms are "rare" while together they are in at most this many rows: those are all scored. */
export const RARE_BUDGET = 1000;
/** FTS5's bm25() constants: k1 bounds what one term can add, idf · (k1 + 1). */
const K1 = 1.2;
/** Column weights: body, tags. */
const BM25 = "bm25(memory_fts, 1.0, 0.5)";
const STATS_CACHE_TERMS = 4096;

interface Scored {
  /** Known when the list joined the memory table (filters applied); else set once the filters are checked. */
  id?: string;
  rid: number;
  bm25: number;
  /** Which common terms the row holds, when the list it came from says so. */
  commons?: "all" | "none";
}

/** BM25's idf, as in the contract's coverage (never negative). */
const idf = (n: number, df: number): number => Math.log(1 + (n - df + 0.5) / (df + 0.5));
/** FTS5's own idf (what its bm25() uses), floored as FTS5 floors it. */
const ftsIdf = (n: number, df: number): number => Math.max(1e-6, Math.log((n - df + 0.5) / (df + 0.5)));

export function makeFullText(store: LocalStoreShape, table: string): FullText {
  const { statement, pluck } = store;
  const scoredSql = (limited: boolean) =>
    `SELECT r.id AS id, memory_fts.rowid AS rid, -${BM25} AS bm25 FROM memory_fts
     JOIN memory_rowids r ON r.rid = memory_fts.rowid JOIN ${table} m ON m.id = r.id
     WHERE memory_fts MATCH ? AND %WHERE% ORDER BY memory_fts.rowid DESC${limited ? ` LIMIT ${FTS_CANDIDATES}` : ""}`;

  const joined = (match: string, where: string, params: unknown[], limited: boolean): Scored[] =>
    statement(scoredSql(limited).replace("%WHERE%", where)).all(match, ...params) as Scored[];
  // The same lists in the FTS index alone: a complete list keeps its top `want` (ties as the final sort breaks them).
  const topSql = `SELECT rowid AS rid, -${BM25} AS bm25 FROM memory_fts WHERE memory_fts MATCH ? ORDER BY ${BM25}, rowid DESC LIMIT ?`;
  const newestSql = `SELECT rowid AS rid, -${BM25} AS bm25 FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rowid DESC LIMIT ${FTS_CANDIDATES}`;
  const unfiltered = (want: number) => (match: string, _where: string, _params: unknown[], limited: boolean): Scored[] =>
    (limited ? statement(newestSql).all(match) : statement(topSql).all(match, want)) as Scored[];
  /** The ids of the rows among `rids` that pass the filters. */
  const passing = (rids: readonly number[], where: string, params: unknown[]): Map<number, string> => {
    const sql = `SELECT r.rid AS rid, r.id AS id FROM memory_rowids r JOIN ${table} m ON m.id = r.id WHERE r.rid IN (SELECT value FROM json_each(?)) AND ${where}`;
    const rows = statement(sql).all(JSON.stringify(rids), ...params) as { rid: number; id: string }[];
    return new Map(rows.map((r) => [r.rid, r.id]));
  };

  // Document frequencies cost a walk of each term's postings: kept until the memory table
  // changes (another connection's commit moves data_version, this connection's writes to the
  // table are told through onChange, a re-copy swapped in moves the store's generation). Not
  // total_changes(): a search that counts its reads writes access_deltas, and keyed on that
  // every counted search walked its common terms' postings again (+1.4 ms at 100k rows).
  let statsKey = "";
  let rows = 0;
  let tableWrites = 0;
  const unsubscribe = store.onChange((changed) => {
    if (changed === table) tableWrites++;
  });
  const dfCache = new Map<string, number>();
  const refreshStats = () => {
    const key = `${store.generation()}:${tableWrites}:${pluck("SELECT data_version FROM pragma_data_version()").get() as number}`;
    if (key === statsKey && dfCache.size < STATS_CACHE_TERMS) return;
    statsKey = key;
    dfCache.clear();
    rows = pluck("SELECT count(*) FROM memory_rowids").get() as number;
  };
  const df = (term: string): number => {
    let n = dfCache.get(term);
    if (n === undefined) dfCache.set(term, (n = pluck("SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?").get(ftsMatch([term], "all")) as number));
    return n;
  };

  /** The rows among `rids` that hold `term`: one doclist seek per row (FTS5 takes no rowid IN). */
  const holding = (term: string, rids: readonly number[]): Set<number> => {
    const seek = pluck("SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? AND rowid = ?");
    const match = ftsMatch([term], "all");
    return new Set(rids.filter((rid) => seek.get(match, rid) !== undefined));
  };
  /** Every row holding `term` (a rare one: at most RARE_BUDGET rows). */
  const rowsOf = (term: string): Set<number> => new Set(pluck("SELECT rowid FROM memory_fts WHERE memory_fts MATCH ?").all(ftsMatch([term], "all")) as number[]);

  const search: FullText["search"] = (terms, filter, want) => {
    if (!filter.narrowing) {
      const fast = run(terms, filter, want, unfiltered(want));
      if (fast) return fast;
    }
    return run(terms, filter, want, joined)!;
  };

  /** One search with lists from `scored`; undefined when the fast lists' final rows did not all pass the filters. */
  const run = (terms: readonly string[], filter: TextFilter, want: number, scored: typeof joined): TextHit[] | undefined => {
    if (terms.length === 0 || want <= 0) return [];
    // Terms from ftsTerms pass through unchanged; anything else is made safe the same way.
    const safe = [...new Set(terms.flatMap((t) => ftsTerms(t)))].slice(0, MAX_TERMS);
    if (safe.length === 0) return [];
    refreshStats();
    const stats = safe.map((t) => ({ t, df: df(t) }));
    const live = stats.filter((s) => s.df > 0).sort((a, b) => a.df - b.df);
    if (live.length === 0) return [];
    const { where, params } = filter;

    let budget = 0;
    const rare: string[] = [];
    let common: string[] = [];
    let weightless: string[] = [];
    for (const s of live) {
      if (common.length === 0 && weightless.length === 0 && budget + s.df <= RARE_BUDGET) (budget += s.df), rare.push(s.t);
      else if (ftsIdf(rows, s.df) > 1e-6) common.push(s.t);
      else weightless.push(s.t);
    }
    // Nothing else to search for: the weightless terms are all there is.
    if (rare.length === 0 && common.length === 0) [common, weightless] = [weightless, []];

    // Each row keeps its best score: a list over fewer terms never scores a row above its full BM25.
    const hits = new Map<number, Scored>();
    const add = (list: Scored[], commons?: "all" | "none") => {
      for (const h of list) if ((hits.get(h.rid)?.bm25 ?? -Infinity) < h.bm25) hits.set(h.rid, commons ? { ...h, commons } : h);
      return list.length;
    };
    const anyRare = ftsMatch(rare, "any");
    const anyCommon = ftsMatch(common, "any");
    if (rare.length > 0) {
      if (common.length > 0) add(scored(`(${anyRare}) AND (${anyCommon})`, where, params, false), common.length === 1 ? "all" : undefined);
      // Rows not already scored above hold no common term.
      add(scored(anyRare, where, params, false), "none");
    }
    if (common.length > 0) {
      // The most a row holding none of the rare terms can score.
      const ceiling = common.reduce((s, t) => s + ftsIdf(rows, dfCache.get(t)!) * (K1 + 1), 0);
      const scores = [...hits.values()].map((h) => h.bm25).sort((a, b) => b - a);
      if (scores.length < want || scores[want - 1]! <= ceiling) {
        const every = add(scored(ftsMatch(common, "all"), where, params, true), "all");
        if (every < want && common.length > 1) add(scored(anyCommon, where, params, true));
      }
    }
    if (weightless.length > 0 && hits.size < want) add(scored(ftsMatch([...rare, ...common, ...weightless], "any"), where, params, true));

    const best = [...hits.values()].sort((a, b) => b.bm25 - a.bm25 || b.rid - a.rid).slice(0, want);
    if (scored !== joined && best.length > 0) {
      const ids = passing(best.map((h) => h.rid), where, params);
      if (ids.size < best.length) return undefined;
      for (const h of best) h.id = ids.get(h.rid);
    }
    // Coverage: which query terms each returned row holds, weighted by idf.
    const weight = new Map(stats.map((s) => [s.t, idf(rows, s.df)]));
    const total = [...weight.values()].reduce((a, b) => a + b, 0);
    const held = new Float64Array(best.length);
    const unknown = best.filter((h) => h.commons === undefined).map((h) => h.rid);
    for (const t of weightless) {
      const has = holding(t, best.map((h) => h.rid));
      best.forEach((h, i) => has.has(h.rid) && (held[i]! += weight.get(t)!));
    }
    for (const t of rare) {
      const has = rowsOf(t);
      best.forEach((h, i) => has.has(h.rid) && (held[i]! += weight.get(t)!));
    }
    for (const t of common) {
      const has = unknown.length ? holding(t, unknown) : new Set<number>();
      best.forEach((h, i) => (h.commons === "all" || has.has(h.rid)) && (held[i]! += weight.get(t)!));
    }
    return best.map((h, i) => ({ id: h.id!, bm25: h.bm25, coverage: total > 0 ? Math.min(1, held[i]! / total) : 0 }));
  };

  return { search, close: unsubscribe };
}
