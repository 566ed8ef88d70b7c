/**
 * Turns user text into safe FTS5 queries. Only letters and digits survive (the same
 * characters FTS5's unicode61 tokenizer indexes), each term is quoted, so FTS syntax
 * (quotes, *, AND/OR/NOT/NEAR, parentheses, column filters with colons) typed by a user is
 * never an error and never changes the query's meaning: it is searched for as words.
 */
const TERM = /[\p{L}\p{N}\p{Co}]+/gu;

/** At most this many distinct terms are used (a 10 kB paste does not become a 10 kB query). */
export const MAX_TERMS = 16;
const MAX_TERM_LENGTH = 64;

export function ftsTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const m of text.normalize("NFKC").matchAll(TERM)) {
    const t = m[0].toLowerCase().slice(0, MAX_TERM_LENGTH);
    seen.add(t);
    if (seen.size >= MAX_TERMS) break;
  }
  return [...seen];
}

/** `"a" "b"` (all terms) or `"a" OR "b"` (any term); empty when there is nothing to search. */
export function ftsMatch(terms: readonly string[], mode: "all" | "any"): string {
  // NUL would end the query text early inside SQLite (an unterminated string): dropped.
  return terms.map((t) => `"${t.replace(/\u0000/g, "").replace(/"/g, '""')}"`).join(mode === "all" ? " " : " OR ");
}
