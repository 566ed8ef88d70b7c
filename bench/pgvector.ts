/**
 * pgvector first copy at 1536-d: the array form (`array_send(embedding::real[])`, the old
 * select) against the native form (`vector_send(embedding)`), same run, alternating.
 *
 * The only Postgres with pgvector here is PGlite (pgvector 0.8 compiled to WASM), served
 * over the wire protocol by pglite-socket from a child process, so server and client have a
 * core each as they would in the field. What is timed is the part of the first copy that
 * differs between the forms: keyset pages of the replica's own snapshot SELECT
 * (TableQueries.snapshotChunk) over one pg connection, each embedding decoded into the
 * float32 BLOB the replica stores. The SQLite write is left out on purpose: both forms yield
 * byte-identical BLOBs (checked below), so it costs the same for both. Also measured: bytes
 * per row as values and on the wire, the server's encode cost alone (in PGlite, no wire),
 * and the client's decode cost alone.
 *
 *   BENCH_PGVECTOR_ROWS=5000   rows on the master (the issue's table had 5,351)
 *   BENCH_PGVECTOR_DIM=1536
 *   BENCH_PGVECTOR_RUNS=5      timed copies per form
 *   BENCH_OUT=path             default bench/results/pgvector.json
 *
 * Run: node bin/run-ts.js bench/pgvector.ts
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { float4ArraySendToBlob, rowTypes } from "../src/master/rowTypes.ts";
import { pgvectorSendToBlob } from "../src/master/pgvector.ts";
import { introspectColumnsSql, type MasterColumn } from "../src/master/columnsSql.ts";
import { TableQueries } from "../src/master/tableQueries.ts";
import { makeConfig } from "../src/schema/config.ts";
import { MEMORY_COLUMNS, memoryTableDescriptor, type Row } from "../src/schema/tableDescriptor.ts";
import { benchSession, envInt, machineInfo, median, round, table } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const TABLE = "unified_ai_memory";
const opts = {
  rows: envInt("BENCH_PGVECTOR_ROWS", 5_000),
  dim: envInt("BENCH_PGVECTOR_DIM", 1536),
  runs: envInt("BENCH_PGVECTOR_RUNS", 5),
  chunkRows: makeConfig().snapshotChunkRows,
  out: process.env.BENCH_OUT?.trim() || path.join(here, "results", "pgvector.json"),
};

type Form = "array" | "native";
const SELECT: Record<Form, (ref: string) => string> = { array: (r) => `array_send(${r}::real[])`, native: (r) => `vector_send(${r})` };

type ToServer = { cmd: "encode"; form: Form } | { cmd: "stop" };
type FromServer =
  | { kind: "ready"; port: number; seedMs: number; version: string; valueBytes: Record<Form, number> }
  | { kind: "encoded"; ms: number; bytes: number }
  | { kind: "failed"; error: string };

// ---------- the master: PGlite + pgvector behind pglite-socket, in its own process ----------

async function serve(): Promise<void> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { vector } = await import("@electric-sql/pglite-pgvector");
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  const { freePort } = await import("../test/support/postgres.ts");
  const reply = (m: FromServer) => process.send!(m);
  const db = await PGlite.create({ extensions: { vector } });
  const started = performance.now();
  const cols = MEMORY_COLUMNS.map((c) => `"${c.name}" ${c.name === "embedding" ? `vector(${opts.dim})` : c.createAs}`);
  await db.exec(`CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE ${TABLE} (${cols.join(", ")})`);
  for (let start = 1; start <= opts.rows; start += 500) {
    const end = Math.min(opts.rows, start + 499);
    await db.query(
      `INSERT INTO ${TABLE} (memory_type, content, source_agent, tags, embedding, search_text)
       SELECT 'semantic', jsonb_build_object('text', 'memory number ' || i), 'agent-' || (i % 7), ARRAY['seed'],
              ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, ${opts.dim}) WHERE i > 0)::vector, 'memory ' || i
       FROM generate_series($1::int, $2::int) AS i`,
      [start, end],
    );
  }
  await db.exec(`VACUUM (ANALYZE) ${TABLE}`);
  const sizes = await db.query<{ a: number; n: number }>(
    `SELECT avg(octet_length(${SELECT.array("embedding")}))::float8 AS a, avg(octet_length(${SELECT.native("embedding")}))::float8 AS n FROM ${TABLE}`,
  );
  const version = (await db.query<{ v: string }>("SELECT current_setting('server_version') || ' + pgvector ' || extversion AS v FROM pg_extension WHERE extname = 'vector'")).rows[0]!.v;
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, port, host: "127.0.0.1" });
  await server.start();
  process.on("message", (m: ToServer) => {
    void (async () => {
      if (m.cmd === "stop") {
        await server.stop();
        await db.close();
        process.disconnect();
        return;
      }
      // The server's encode cost alone: every row's embedding in one form, nothing sent.
      const t = performance.now();
      const { rows } = await db.query<{ b: number }>(`SELECT sum(octet_length(${SELECT[m.form]("t.embedding")}))::float8 AS b FROM ${TABLE} t`);
      reply({ kind: "encoded", ms: performance.now() - t, bytes: rows[0]!.b });
    })().catch((e: unknown) => reply({ kind: "failed", error: String((e as Error).stack ?? e) }));
  });
  reply({ kind: "ready", port, seedMs: performance.now() - started, version, valueBytes: { array: round(sizes.rows[0]!.a, 1), native: round(sizes.rows[0]!.n, 1) } });
}

// ---------- the client: the replica's snapshot pages, decoded ----------

const BYTEA_OID = 17;
/**
 * rowTypes with its bytea parser also accepting pgvector's forms: what Master.rowTypes does
 * once it decodes `float4ArraySendToBlob(b) ?? pgvectorSendToBlob(b)` (the bench does not
 * depend on that wiring having landed).
 */
const benchTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === BYTEA_OID
      ? (text: string) => {
          const bytes = Buffer.from(text.slice(2), "hex");
          const blob = float4ArraySendToBlob(bytes) ?? pgvectorSendToBlob(bytes);
          if (!blob) throw new Error(`${bytes.length} bytes that are no embedding`);
          return blob;
        }
      : rowTypes.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

interface CopyRun {
  readonly form: Form;
  readonly iteration: number;
  readonly rows: number;
  readonly ms: number;
  readonly rowsPerSec: number;
  readonly wireBytesPerRow: number;
  readonly cpuMs: number;
  readonly digest: string;
}

const streamBytes = (client: pg.Client): number => (client as unknown as { connection: { stream: { bytesRead: number } } }).connection.stream.bytesRead;

async function copy(client: pg.Client, tq: TableQueries, form: Form, iteration: number): Promise<CopyRun> {
  const key = tq.descriptor.key;
  const hash = createHash("sha256");
  const bytes0 = streamBytes(client);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let after: string | null = null;
  let rows = 0;
  for (;;) {
    const { text, values } = tq.snapshotChunk(after, opts.chunkRows);
    const page = (await client.query<Row>({ text, values, types: benchTypes })).rows;
    for (const r of page) hash.update(String(r[key])).update(r.embedding as Buffer);
    rows += page.length;
    if (page.length < opts.chunkRows) break;
    after = String(page[page.length - 1]![key]);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { form, iteration, rows, ms: round(ms, 1), rowsPerSec: Math.round((rows / ms) * 1000), wireBytesPerRow: Math.round((streamBytes(client) - bytes0) / rows), cpuMs: round((cpu.user + cpu.system) / 1000, 1), digest: hash.digest("hex").slice(0, 16) };
}

/** The client's decode cost alone, per row, on the same master values in both forms. */
async function decodeCost(client: pg.Client): Promise<Record<Form, number>> {
  const { rows } = await client.query<{ a: Buffer; n: Buffer }>(`SELECT ${SELECT.array("embedding")} AS a, ${SELECT.native("embedding")} AS n FROM ${TABLE} LIMIT 200`);
  const time = (f: (b: Buffer) => unknown, pick: (r: { a: Buffer; n: Buffer }) => Buffer) => {
    const samples: number[] = [];
    for (let s = 0; s < 7; s++) {
      const t = performance.now();
      for (let k = 0; k < 20; k++) for (const r of rows) f(pick(r));
      samples.push(((performance.now() - t) * 1000) / (20 * rows.length));
    }
    return round(median(samples), 2);
  };
  return { array: time(float4ArraySendToBlob, (r) => r.a), native: time(pgvectorSendToBlob, (r) => r.n) };
}

async function main(): Promise<void> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let child: ChildProcess | undefined;
  let client: pg.Client | undefined;
  const session = benchSession("em-bench-pgvector-", say, async () => {
    await client?.end().catch(() => undefined);
    if (child && child.connected) child.send({ cmd: "stop" } satisfies ToServer);
  });
  try {
    say(`starting PGlite + pgvector in a child process, seeding ${opts.rows} rows × ${opts.dim}-d…`);
    child = fork(path.join(here, "..", "bin", "run-ts.js"), [fileURLToPath(import.meta.url), "serve"], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: process.env });
    // One request at a time: each reply settles the one pending wait.
    let pending: { resolve: (m: FromServer) => void; reject: (e: Error) => void } | undefined;
    child.on("message", (m: FromServer) => (m.kind === "failed" ? pending?.reject(new Error(m.error)) : pending?.resolve(m)));
    child.once("exit", (code) => pending?.reject(new Error(`the PGlite server exited (code ${code})`)));
    const next = () => new Promise<FromServer>((resolve, reject) => (pending = { resolve, reject }));
    const ready = await next();
    if (ready.kind !== "ready") throw new Error(`unexpected ${ready.kind}`);
    say(`  ${ready.version}, seeded in ${round(ready.seedMs / 1000, 1)} s; values: array ${ready.valueBytes.array} B, native ${ready.valueBytes.native} B per row`);

    client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${ready.port}/postgres` });
    client.on("error", () => undefined);
    await client.connect();
    const columns = (await client.query<MasterColumn>(introspectColumnsSql, [TABLE])).rows;
    const d = memoryTableDescriptor(TABLE);
    const queries: Record<Form, TableQueries> = {
      native: new TableQueries(d, columns, undefined),
      // The old select: the same vector column, cast to real[] (what `_float4` columns get).
      array: new TableQueries(d, columns.map((c) => (c.name === "embedding" ? { ...c, udt: "_float4" } : c)), undefined),
    };
    if (!queries.native.selectList.includes("vector_send(") || !queries.array.selectList.includes("array_send(")) throw new Error("the selects are not the two forms");

    say("warm-up copy of each form…");
    const warm = [await copy(client, queries.array, "array", 0), await copy(client, queries.native, "native", 0)];
    if (warm[0]!.digest !== warm[1]!.digest) throw new Error(`the two forms decoded different BLOBs (${warm[0]!.digest} vs ${warm[1]!.digest})`);
    say(`  both forms decode to identical BLOBs (sha256 ${warm[0]!.digest}…)`);

    const runs: CopyRun[] = [];
    for (let i = 1; i <= opts.runs; i++) {
      for (const form of (i % 2 ? ["array", "native"] : ["native", "array"]) as Form[]) {
        const r = await copy(client, queries[form], form, i);
        runs.push(r);
        say(`  #${i} ${form.padEnd(6)} ${r.rowsPerSec} rows/s (${r.ms} ms, ${r.wireBytesPerRow} wire B/row, client cpu ${r.cpuMs} ms)`);
      }
    }

    say("server encode alone (in PGlite, no wire), alternating…");
    const encode: Record<Form, number[]> = { array: [], native: [] };
    for (let i = 1; i <= opts.runs; i++) {
      for (const form of (i % 2 ? ["array", "native"] : ["native", "array"]) as Form[]) {
        child.send({ cmd: "encode", form } satisfies ToServer);
        const m = await next();
        if (m.kind !== "encoded") throw new Error(`unexpected ${m.kind}`);
        encode[form].push(m.ms);
      }
    }
    say("client decode alone…");
    const decode = await decodeCost(client);

    const of = (form: Form) => runs.filter((r) => r.form === form);
    const summary = (form: Form) => ({
      rowsPerSec: median(of(form).map((r) => r.rowsPerSec)),
      ms: round(median(of(form).map((r) => r.ms)), 1),
      clientCpuMs: round(median(of(form).map((r) => r.cpuMs)), 1),
      wireBytesPerRow: median(of(form).map((r) => r.wireBytesPerRow)),
      valueBytesPerRow: ready.valueBytes[form],
      serverEncodeMs: round(median(encode[form]), 1),
      clientDecodeUsPerRow: decode[form],
    });
    const result = { array: summary("array"), native: summary("native") };
    const ratio = round(result.native.rowsPerSec / result.array.rowsPerSec, 2);
    console.log(
      `\nfirst copy, fetch + decode, ${opts.rows} rows × ${opts.dim}-d, pages of ${opts.chunkRows}, medians of ${opts.runs} alternating runs (${ready.version})\n` +
        table(
          ["form", "rows/s", "ms", "client cpu ms", "value B/row", "wire B/row", "server encode ms", "client decode µs/row"],
          (["array", "native"] as Form[]).map((f) => [
            f === "array" ? "array_send(::real[])" : "vector_send",
            result[f].rowsPerSec, result[f].ms, result[f].clientCpuMs, result[f].valueBytesPerRow, result[f].wireBytesPerRow, result[f].serverEncodeMs, result[f].clientDecodeUsPerRow,
          ]),
        ) +
        `\nnative / array: ${ratio}× rows/s`,
    );
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(
      opts.out,
      JSON.stringify(
        {
          benchmark: "pgvector first copy: array_send(embedding::real[]) vs vector_send(embedding)",
          what: "keyset pages of TableQueries.snapshotChunk over one pg connection to PGlite (WASM) behind pglite-socket in a child process; embeddings decoded into float32 BLOBs; no SQLite write (identical BLOBs for both forms)",
          options: opts,
          master: ready.version,
          result,
          ratio,
          runs,
          machine: machineInfo(session.loadAtStart, session.git),
        },
        null,
        2,
      ),
    );
    say(`wrote ${opts.out}`);
  } finally {
    await session.close();
  }
}

if (process.argv[2] === "serve") {
  serve().catch((e: unknown) => {
    process.send?.({ kind: "failed", error: String((e as Error).stack ?? e) } satisfies FromServer);
    process.exitCode = 1;
  });
} else {
  await main();
}
