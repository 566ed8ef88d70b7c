/**
 * The master side of the search benchmark (bench/search.ts): the master Postgres answering
 * the same queries as the replica, as a service without a local replica would have to. Its
 * FTS index and cosine function, the SQL per query class (GIN full-text + ts_rank; brute-force
 * cosine over real[]; hybrid = both + RRF in one statement), and the measured part: each class
 * on loopback and through a TCP proxy adding a delay each way.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { TestPostgres } from "../test/support/postgres.ts";
import { startDelayProxy, type DelayProxy } from "./delayProxy.ts";
import type { SearchOptions } from "./search.ts";
import { CLASSES, TABLE, queryOf, type BenchQuery, type ClassName } from "./searchClasses.ts";
import type { QuerySet } from "./searchData.ts";
import { exactTopK, loadGroundTruth, overlap } from "./searchGroundTruth.ts";
import { distribution, immediate, median, round, type Distribution } from "./util.ts";

const COLS = "m.id, m.content, m.memory_type, m.source_agent, m.importance_score, m.created_at, m.metadata, m.tags, m.tenant_id";
const LIVE = "NOT m.archived AND (m.expires_at IS NULL OR m.expires_at > now())";
const TSV = "to_tsvector('simple', m.content->>'text')";

const MASTER_SETUP = [
  `CREATE INDEX IF NOT EXISTS bench_memory_text_fts ON ${TABLE} USING gin (${TSV.replace(/m\./g, "")})`,
  // Cosine over real[] in SQL. A PARALLEL SAFE function lets Postgres use parallel workers,
  // the fastest plain-SQL form measured here (a LATERAL unnest aggregate is ~30% slower).
  `CREATE OR REPLACE FUNCTION bench_cosine(a real[], b real[]) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
     $$ SELECT sum(x::float8 * y) / nullif(sqrt(sum(x::float8 * x) * sum(y::float8 * y)), 0) FROM unnest(a, b) AS u(x, y) $$`,
];

const MASTER_SQL: Record<ClassName, string> = {
  "fts-rare": `SELECT ${COLS}, ts_rank(${TSV}, q) AS score FROM ${TABLE} m, plainto_tsquery('simple', $1) q
    WHERE ${TSV} @@ q AND ${LIVE} ORDER BY score DESC LIMIT 10`,
  "fts-common": "", // same statement as fts-rare
  vector: `SELECT ${COLS}, bench_cosine(m.embedding, $1::real[]) AS score FROM ${TABLE} m
    WHERE ${LIVE} ORDER BY score DESC NULLS LAST LIMIT 10`,
  // The replica's hybrid, in one statement: 30 FTS and 30 vector candidates, reciprocal
  // rank fusion (k = 60), weighted by importance and recency as searchRank.ts does.
  "hybrid-topic": `WITH f AS (
      SELECT id, row_number() OVER (ORDER BY score DESC) AS r FROM (
        SELECT m.id, ts_rank(${TSV}, q) AS score FROM ${TABLE} m, plainto_tsquery('simple', $1) q
        WHERE ${TSV} @@ q AND ${LIVE} ORDER BY score DESC LIMIT 30) x),
    v AS (
      SELECT id, row_number() OVER (ORDER BY score DESC) AS r FROM (
        SELECT m.id, bench_cosine(m.embedding, $2::real[]) AS score FROM ${TABLE} m
        WHERE ${LIVE} ORDER BY score DESC NULLS LAST LIMIT 30) x),
    fused AS (SELECT id, sum(1.0 / (60 + r)) AS rrf FROM (SELECT id, r FROM f UNION ALL SELECT id, r FROM v) u GROUP BY id)
    SELECT ${COLS}, fused.rrf * (1 + 0.5 * coalesce(m.importance_score, 0))
             * (1 + 0.25 * power(0.5, extract(epoch FROM now() - m.created_at) / 86400 / 30)) AS score
    FROM fused JOIN ${TABLE} m ON m.id = fused.id ORDER BY score DESC LIMIT 10`,
  "hybrid-common": "", // same statement as hybrid-topic
};
MASTER_SQL["fts-common"] = MASTER_SQL["fts-rare"];
MASTER_SQL["hybrid-common"] = MASTER_SQL["hybrid-topic"];

function masterQuery(client: pg.Client, cls: ClassName, bq: BenchQuery): Promise<pg.QueryResult> {
  const stmt = cls === "fts-common" ? "fts-rare" : cls === "hybrid-common" ? "hybrid-topic" : cls;
  const values = cls === "vector" ? [Array.from(bq.vector!)] : bq.vector ? [bq.text, Array.from(bq.vector)] : [bq.text];
  return client.query({ name: `bench-${stmt}`, text: MASTER_SQL[cls], values });
}

/**
 * On the seeded master: its GIN index and cosine function (timed: the index is the master's
 * build cost), VACUUM ANALYZE, then how many rows the first 20 queries of each text kind
 * match, with the master's own FTS (the corpus figures of the report).
 */
export async function prepareMaster(c: pg.Client, queries: QuerySet, say: (s: string) => void): Promise<{ indexMs: number; corpusStats: Record<string, number> }> {
  const t = performance.now();
  for (const s of MASTER_SETUP) await c.query(s);
  const indexMs = performance.now() - t;
  await c.query(`VACUUM (ANALYZE) ${TABLE}`);
  const count = async (text: string) => Number((await c.query(`SELECT count(*) AS n FROM ${TABLE} m WHERE ${TSV} @@ plainto_tsquery('simple', $1)`, [text])).rows[0].n);
  const counts = async (arr: string[]) => {
    const out: number[] = [];
    for (const text of arr.slice(0, 20)) out.push(await count(text));
    return out;
  };
  const rare = await counts(queries.rare);
  const common = await counts(queries.common);
  const topic = await counts(queries.topicText);
  const corpusStats = {
    rareMatchesMean: round(rare.reduce((a, b) => a + b, 0) / rare.length, 1),
    commonPairMatchesMean: round(common.reduce((a, b) => a + b, 0) / common.length, 0),
    topicPairMatchesMedian: median(topic),
    meanWordsPerRow: round(Number((await c.query(`SELECT avg(array_length(regexp_split_to_array(content->>'text', ' '), 1)) AS w FROM ${TABLE}`)).rows[0].w), 1),
  };
  say(`  matches: rare ${corpusStats.rareMatchesMean}, common pair ${corpusStats.commonPairMatchesMean}, topic pair (median) ${corpusStats.topicPairMatchesMedian}`);
  return { indexMs, corpusStats };
}

export interface MasterClassResult {
  readonly n: number;
  readonly loopback: Distribution;
  readonly link: Distribution;
  readonly meanRows: number;
}

export interface MasterPart {
  readonly classes: Partial<Record<ClassName, MasterClassResult>>;
  readonly vectorRecallAt10: number | null;
  readonly linkSlackMs: number;
  readonly connectMs: { readonly loopback: number; readonly link: number };
}

/**
 * What the master part holds open while it runs. The caller owns it so that its own cleanup
 * (on failure, or on Ctrl-C while the part is still running) closes whatever is left open,
 * with closeMasterHandles; on success runMasterPart closes all of it itself.
 */
export interface MasterHandles {
  readonly clients: pg.Client[];
  proxy: DelayProxy | undefined;
}

export const masterHandles = (): MasterHandles => ({ clients: [], proxy: undefined });

/** Ends every client and the proxy still open; never throws (it runs during cleanup). */
export async function closeMasterHandles(h: MasterHandles): Promise<void> {
  for (const c of h.clients) await c.end().catch(() => undefined);
  await h.proxy?.close().catch(() => undefined);
}

/**
 * Every class on the master, on loopback and through the delay proxy. With `recallFile` (the
 * replica's file), the master's vector top 10 is also checked against an exact scan there.
 */
export async function runMasterPart(
  server: Pick<TestPostgres, "url" | "port">,
  handles: MasterHandles,
  queries: QuerySet,
  opts: Pick<SearchOptions, "delayMs" | "pgQueries" | "pgVectorReps" | "warmup" | "dim">,
  totalQueries: number,
  recallFile: string | undefined,
  say: (s: string) => void,
): Promise<MasterPart> {
  say(`master: the same queries on Postgres, loopback and through a ${opts.delayMs} ms proxy…`);
  const proxy = await startDelayProxy(server.port, opts.delayMs);
  handles.proxy = proxy;
  const connect = async (port: number) => {
    const t = performance.now();
    const c = new pg.Client({ connectionString: server.url.replace(`:${server.port}/`, `:${port}/`) });
    c.on("error", () => undefined);
    handles.clients.push(c);
    await c.connect();
    return { c, ms: performance.now() - t };
  };
  const direct = await connect(server.port);
  const linked = await connect(proxy.port);
  const classes: Partial<Record<ClassName, MasterClassResult>> = {};
  // One unmeasured vector scan first: the table's pages into the cache for both paths.
  await masterQuery(direct.c, "vector", queryOf("vector", queries, totalQueries - 1));
  for (const cls of CLASSES) {
    const isVector = cls !== "fts-rare" && cls !== "fts-common";
    const n = isVector ? opts.pgVectorReps : opts.pgQueries;
    // Vector scans take seconds: the one scan above warmed the cache; no warm-up per class.
    const warm = isVector ? 0 : opts.warmup;
    const result: Partial<Record<"loopback" | "link", number[]>> = {};
    let rows = 0;
    for (const [pathName, client] of [["loopback", direct.c], ["link", linked.c]] as const) {
      for (let i = 0; i < warm; i++) await masterQuery(client, cls, queryOf(cls, queries, totalQueries - 1 - i));
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        await immediate();
        const t0 = performance.now();
        const r = await masterQuery(client, cls, queryOf(cls, queries, i));
        ms.push(performance.now() - t0);
        rows += r.rowCount ?? 0;
      }
      result[pathName] = ms;
    }
    classes[cls] = { n, loopback: distribution(result.loopback!), link: distribution(result.link!), meanRows: round(rows / (2 * n), 2) };
    say(`  ${cls}: loopback p50 ${classes[cls]!.loopback.p50} ms, link p50 ${classes[cls]!.link.p50} ms`);
  }
  // The master's brute force is exact: check it against the exact scan here (sanity).
  let vectorRecall: number | null = null;
  if (recallFile !== undefined) {
    const gt = loadGroundTruth(recallFile, opts.dim);
    const rs: number[] = [];
    for (let i = 0; i < Math.min(3, opts.pgVectorReps); i++) {
      const r = await masterQuery(direct.c, "vector", queryOf("vector", queries, i));
      rs.push(overlap(r.rows.map((x: { id: string }) => x.id), exactTopK(gt, queries.vectors[i]!, 10)) / 10);
    }
    vectorRecall = round(rs.reduce((a, b) => a + b, 0) / rs.length, 3);
  }
  const master: MasterPart = { classes, vectorRecallAt10: vectorRecall, linkSlackMs: proxy.stats().maxSlackMs, connectMs: { loopback: round(direct.ms, 1), link: round(linked.ms, 1) } };
  for (const c of handles.clients.splice(0)) await c.end().catch(() => undefined);
  await proxy.close();
  handles.proxy = undefined;
  return master;
}
