import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, test } from "vitest";
import { memoryRow, writeRows } from "./support/corpus.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { makeLocalStore } from "../src/store/LocalStore.ts";
import { LOCAL_MIGRATIONS, MMAP_BYTES } from "../src/store/migrations.ts";
import { makeFullText, type TextHit } from "../src/search/fullText.ts";
import { filterSql } from "../src/search/filters.ts";
import { ftsTerms } from "../src/search/ftsQuery.ts";
import { recordAccess } from "../src/outbox/outboxTable.ts";

const TABLE = "unified_ai_memory";
const hasSqlite3 = requireSystem("the sqlite3 CLI full-text test", SYSTEM.sqlite3);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmpFile = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fulltext-"));
  dirs.push(dir);
  return path.join(dir, "replica.db");
};

const text = (t: string, fields: Record<string, unknown> = {}) => memoryRow({ content: JSON.stringify({ text: t }), ...fields });

function withStore<T>(file: string, fn: (store: ReturnType<typeof makeLocalStore>, search: (q: string, f?: Parameters<typeof filterSql>[0], want?: number) => TextHit[]) => T): T {
  const store = makeLocalStore(file);
  try {
    const ft = makeFullText(store, TABLE);
    return fn(store, (q, f = {}, want = 30) => ft.search(ftsTerms(q), filterSql(f), want));
  } finally {
    store.close();
  }
}

describe("text analysis", () => {
  test("Inflected words find their stem and diacritics are folded both ways.", () => {
    withStore(tmpFile(), (store, search) => {
      const roof = text("The roof of the barn leaks when it rains");
      const cafe = text("Meeting at the café on Tuesday");
      const naive = text("A naive estimate of running costs");
      writeRows(store, [roof, cafe, naive]);
      expect(search("roofs").map((h) => h.id)).toEqual([roof.id]);
      expect(search("leaking").map((h) => h.id)).toEqual([roof.id]);
      expect(search("cafe").map((h) => h.id)).toEqual([cafe.id]);
      expect(search("CAFÉ").map((h) => h.id)).toEqual([cafe.id]);
      expect(search("naïve runs").map((h) => h.id)).toEqual([naive.id]);
    });
  });

  test("Hits carry a positive BM25, best first, and never more than wanted.", () => {
    withStore(tmpFile(), (store, search) => {
      writeRows(store, Array.from({ length: 40 }, (_, i) => text(`apple ${"pear ".repeat(i % 7)} item ${i}`)));
      const hits = search("apple pear", {}, 10);
      expect(hits).toHaveLength(10);
      expect(hits.every((h) => h.bm25 > 0)).toBe(true);
      expect(hits.map((h) => h.bm25)).toEqual([...hits.map((h) => h.bm25)].sort((a, b) => b - a));
    });
  });
});

describe("rare terms", () => {
  test("The only memory holding a rare term is among the hits of a query mixing common words, plurals and that term, first and with the highest coverage.", () => {
    withStore(tmpFile(), (store, search) => {
      const rows = Array.from({ length: 3000 }, (_, i) => text(`project status ${i % 3 === 0 ? "meeting" : "report"} number ${i} update`));
      const rare = text("the zyxquartz deployment notes");
      // Stored first, so the newest rows (which a bounded scan of common words reaches first) are all others.
      writeRows(store, [rare, ...rows]);
      const hits = search("project meetings zyxquartz", {}, 30);
      expect(hits[0]!.id).toBe(rare.id);
      const best = Math.max(...hits.map((h) => h.coverage));
      expect(hits[0]!.coverage).toBe(best);
    });
  });

  test("Coverage is 1 for a row holding every word and low for a row missing only the rare one.", () => {
    withStore(tmpFile(), (store, search) => {
      const all = text("budget review zyxquartz");
      const commonOnly = text("budget review");
      writeRows(store, [all, commonOnly, ...Array.from({ length: 500 }, (_, i) => text(`budget review item ${i}`))]);
      const hits = search("budget reviews zyxquartz", {}, 600);
      const byId = new Map(hits.map((h) => [h.id, h]));
      expect(byId.get(all.id as string)!.coverage).toBeCloseTo(1, 9);
      expect(byId.get(commonOnly.id as string)!.coverage).toBeLessThan(0.2);
      expect(hits[0]!.id).toBe(all.id);
    });
  });

  test("A word that no memory holds still counts in coverage, and a query of such words finds nothing.", () => {
    withStore(tmpFile(), (store, search) => {
      writeRows(store, [text("alpha beta"), text("alpha gamma")]);
      const hits = search("alpha nowhereword");
      expect(hits).toHaveLength(2);
      expect(hits.every((h) => h.coverage > 0 && h.coverage < 0.5)).toBe(true);
      expect(search("nowhereword otherabsent")).toEqual([]);
    });
  });
});

describe("words in most rows", () => {
  test("A word in most rows is left out of the candidate lists yet the hits keep exact BM25 order, count it in coverage, and a query of only that word still finds rows.", () => {
    withStore(tmpFile(), (store, search) => {
      // "note" is in every row (FTS5 floors its idf), "apple" in a third, "pear" in one.
      const rows = Array.from({ length: 1500 }, (_, i) => text(`note ${i % 3 === 0 ? "apple ".repeat(1 + (i % 4)) : "other"} entry ${i}`));
      const pear = text("note apple pear");
      writeRows(store, [pear, ...rows]);
      const exact = store.unsafeHandle().prepare(
        "SELECT r.id AS id, -bm25(memory_fts, 1.0, 0.5) AS s FROM memory_fts JOIN memory_rowids r ON r.rid = memory_fts.rowid WHERE memory_fts MATCH ? ORDER BY bm25(memory_fts, 1.0, 0.5), memory_fts.rowid DESC LIMIT 10",
      ).all('"note" OR "apple" OR "pear"') as { id: string; s: number }[];
      const hits = search("notes apples pear", {}, 10);
      expect(hits.map((h) => h.id)).toEqual(exact.map((e) => e.id));
      hits.forEach((h, i) => expect(h.bm25).toBeCloseTo(exact[i]!.s, 4));
      expect(hits[0]!.id).toBe(pear.id);
      expect(hits[0]!.coverage).toBeCloseTo(1, 9);
      expect(search("note", {}, 10)).toHaveLength(10);
    });
  });
});

describe("filters and hostile input", () => {
  test("Filters are applied before ranking: rows they exclude never appear and never take a candidate slot.", () => {
    withStore(tmpFile(), (store, search) => {
      const mine = text("shared keyword here", { memory_type: "procedural", source_agent: "a1" });
      writeRows(store, [mine, ...Array.from({ length: 700 }, () => text("shared keyword here too", { memory_type: "episodic" }))]);
      expect(search("shared keyword", { memory_type: "procedural" }).map((h) => h.id)).toEqual([mine.id]);
      expect(search("shared keyword", { source_agent: "a1" }).map((h) => h.id)).toEqual([mine.id]);
      expect(search("shared keyword", { memory_type: "semantic" })).toEqual([]);
    });
  });

  test("Without narrowing filters, archived and expired rows among the best matches give their slots to the next rows, as with the filters joined in.", () => {
    withStore(tmpFile(), (store) => {
      // The best BM25 rows (short, the term repeated) are archived or expired; the rest get longer.
      const hidden = Array.from({ length: 6 }, (_, i) => text("lantern lantern lantern", i % 2 ? { archived: 1 } : { expires_at: "2000-01-01T00:00:00.000000Z" }));
      const shown = Array.from({ length: 40 }, (_, i) => text(`lantern ${"filler ".repeat(1 + i)} meeting`));
      writeRows(store, [...hidden, ...shown]);
      const ft = makeFullText(store, TABLE);
      const filter = filterSql({});
      for (const q of ["lantern", "lantern meeting", "lanterns meetings nowhereword"]) {
        const exact = ft.search(ftsTerms(q), { ...filter, narrowing: true }, 10);
        const fast = ft.search(ftsTerms(q), filter, 10);
        expect(fast).toEqual(exact);
        expect(fast).toHaveLength(10);
        expect(fast.some((h) => hidden.some((r) => r.id === h.id))).toBe(false);
      }
    });
  });

  test("FTS syntax in terms is searched as words, never an error or an injection.", () => {
    withStore(tmpFile(), (store, search) => {
      writeRows(store, [text("near the end or not"), text("drop table notes")]);
      const ft = makeFullText(store, TABLE);
      const hostile = ['"', 'a"b', "*", "OR", "NOT", "NEAR(a b)", "body:x", "(", "'; DROP TABLE unified_ai_memory; --", "\u0000", "x".repeat(200)];
      for (const q of hostile) {
        expect(() => search(q)).not.toThrow();
        expect(() => ft.search([q], filterSql({}), 10)).not.toThrow();
      }
      expect(search("NOT near").length).toBeGreaterThan(0);
      expect((store.statement("SELECT count(*) AS n FROM unified_ai_memory").get() as { n: number }).n).toBe(2);
    });
  });
});

describe("migration", () => {
  test("A file at migration 4 is re-indexed in place on open: stemmed matches are found and no row is lost.", () => {
    const file = tmpFile();
    const db = new Database(file);
    for (const m of LOCAL_MIGRATIONS.filter((x) => x.version <= 4)) db.exec(m.sql);
    db.pragma("user_version = 4");
    const ins = db.prepare(`INSERT INTO ${TABLE} (id, content, tags) VALUES (?, ?, ?)`);
    for (let i = 0; i < 200; i++) ins.run(`id-${i}`, JSON.stringify({ text: `row ${i} about ${i % 2 ? "roofs" : "gardens"}` }), '["t"]');
    db.close();
    withStore(file, (store, search) => {
      expect(store.pluck("PRAGMA user_version").get()).toBe(LOCAL_MIGRATIONS.at(-1)!.version);
      expect(store.pluck(`SELECT count(*) FROM ${TABLE}`).get()).toBe(200);
      expect(store.pluck("SELECT count(*) FROM memory_fts_docsize").get()).toBe(200);
      expect(search("roof", {}, 500)).toHaveLength(100);
      expect(search("garden", {}, 500)).toHaveLength(100);
    });
  });
});

describe("the memory-mapped file", () => {
  test("The replica reads its file through a memory map, and what another connection commits meanwhile is found by the next search.", () => {
    const file = tmpFile();
    const first = text("the greenhouse roof leaks");
    withStore(file, (store, search) => {
      expect(store.pluck("PRAGMA mmap_size").get()).toBe(MMAP_BYTES);
      writeRows(store, [first]);
      expect(search("greenhouse").map((h) => h.id)).toEqual([first.id]);
      // Another process's connection (no map), writing through the same triggers; then our mapped reads.
      const other = new Database(file);
      try {
        other.prepare(`INSERT INTO ${TABLE} (id, memory_type, content, tags, metadata, created_at) VALUES ('b6f0c3c6-0000-4000-8000-000000000001', 'semantic', '{"text":"a second greenhouse"}', '[]', '{}', '2026-01-02T00:00:00.000000Z')`).run();
        other.prepare(`DELETE FROM ${TABLE} WHERE id = ?`).run(first.id);
      } finally {
        other.close();
      }
      expect(search("greenhouse").map((h) => h.id)).toEqual(["b6f0c3c6-0000-4000-8000-000000000001"]);
    });
  });
});

describe("term statistics", () => {
  /** A full-text search over `store` that counts the document-frequency walks it makes. */
  const countingWalks = (store: ReturnType<typeof makeLocalStore>) => {
    const walks = { n: 0 };
    const counted: typeof store = {
      ...store,
      pluck: (sql) => {
        if (sql.startsWith("SELECT count(*) FROM memory_fts WHERE")) walks.n++;
        return store.pluck(sql);
      },
    };
    const ft = makeFullText(counted, TABLE);
    return { walks, search: (q: string) => ft.search(ftsTerms(q), filterSql({}), 10), close: ft.close };
  };

  test("Counting a search's reads keeps the terms' statistics; a write to the memories, here or from another connection, renews them.", () => {
    const file = tmpFile();
    const store = makeLocalStore(file);
    const { walks, search, close } = countingWalks(store);
    try {
      writeRows(store, Array.from({ length: 30 }, (_, i) => text(`apple pear orchard ${i}`)));
      const ids = search("apple pear").map((h) => h.id);
      expect(ids).toHaveLength(10);
      const first = walks.n;
      expect(first).toBe(2);
      // What every counted search does after answering: a write to access_deltas, not to the memories.
      recordAccess(store, ids);
      expect(store.pluck("SELECT count(*) FROM access_deltas").get()).toBe(10);
      search("apple pear");
      expect(walks.n).toBe(first);
      writeRows(store, [text("apple crumble")]);
      search("apple pear");
      expect(walks.n).toBe(first + 2);
      const other = new Database(file);
      try {
        other.prepare(`INSERT INTO ${TABLE} (id, memory_type, content, tags, metadata, created_at) VALUES ('b6f0c3c6-0000-4000-8000-000000000002', 'semantic', '{"text":"apple tart"}', '[]', '{}', '2026-01-02T00:00:00.000000Z')`).run();
      } finally {
        other.close();
      }
      search("apple pear");
      expect(walks.n).toBe(first + 4);
    } finally {
      close();
      store.close();
    }
  });
});

describe.skipIf(!hasSqlite3)("the sqlite3 CLI", () => {
  const cli = (file: string, sql: string) => execFileSync(SYSTEM.sqlite3.path, [file, sql], { encoding: "utf8" }).trim();

  test("Debian's sqlite3 queries the index and updates and deletes memories through the triggers; the replica then searches correctly.", () => {
    const file = tmpFile();
    const keep = text("the roofs were repaired");
    const edit = text("an old note about gardens");
    const gone = text("roof tiles to delete");
    const tricky = memoryRow({ content: JSON.stringify({ text: "naïve \"quoted\" \\ esc", nested: { list: ["café", 3, "émoji 🙂"] } }), tags: '["a","b"]' });
    withStore(file, (store) => writeRows(store, [keep, edit, gone, tricky]));

    const rids = cli(file, "SELECT r.id FROM memory_fts f JOIN memory_rowids r ON r.rid = f.rowid WHERE memory_fts MATCH 'roofs' ORDER BY bm25(memory_fts);");
    expect(rids.split("\n").sort()).toEqual([keep.id, gone.id].sort());
    cli(file, `UPDATE ${TABLE} SET content = '{"text":"a new note about orchards"}' WHERE id = '${edit.id}';`);
    cli(file, `DELETE FROM ${TABLE} WHERE id = '${gone.id}';`);
    cli(file, `UPDATE ${TABLE} SET tags = '["c"]', content = '"plain text"' WHERE id = '${tricky.id}';`);
    cli(file, "INSERT INTO memory_fts (memory_fts) VALUES ('integrity-check');");

    withStore(file, (_store, search) => {
      expect(search("roof").map((h) => h.id)).toEqual([keep.id]);
      expect(search("orchard").map((h) => h.id)).toEqual([edit.id]);
      expect(search("gardens")).toEqual([]);
      expect(search("cafe")).toEqual([]);
      expect(search("plain").map((h) => h.id)).toEqual([tricky.id]);
    });
  });
});
