/**
 * pgvector's own binary forms against real pgvector: @electric-sql/pglite runs pgvector
 * compiled to WASM in-process, and pglite-socket serves it over the wire protocol (one
 * connection at a time, so the replica runs with a pool of one and no listener).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { float4ArraySendToBlob } from "../src/master/rowTypes.ts";
import { embeddingSelect, halfvecSendToBlob, pgvectorSendToBlob, vectorSendToBlob } from "../src/master/pgvector.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createLogger } from "../src/observability/logger.ts";
import { freePort } from "./support/postgres.ts";

let db: PGlite;
beforeAll(async () => {
  db = await PGlite.create({ extensions: { vector } });
  await db.exec("CREATE EXTENSION IF NOT EXISTS vector");
});
afterAll(async () => {
  await db?.close();
});

const floats = (blob: Buffer): number[] => Array.from(new Float32Array(blob.buffer, blob.byteOffset, blob.length / 4));
const bytes = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
const literal = (v: readonly number[]): string => `[${v.map((x) => (Object.is(x, -0) ? "-0" : String(x))).join(",")}]`;

/** Deterministic pseudo-random vectors (a seeded LCG), so a failure reproduces. */
function randomVector(dim: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: dim }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

const VECTOR_CASES: readonly (readonly number[])[] = [
  [0],
  [-0],
  [1],
  [-2.5, 0, 0.1, -1e-3],
  [1e-38, -1.2e-38, 1.5e-44, 3.4028234e38, -3.4028234e38], // subnormal and the largest float4s
  [123456.789, -98765.4321, 1e20, -1e-20],
  randomVector(1536, 1),
  randomVector(1536, 2, 1e6),
  randomVector(16000, 3), // pgvector's maximum dimension
];

const HALFVEC_CASES: readonly (readonly number[])[] = [
  [0],
  [-0],
  [0.1, 1 / 3, -2.5, 65504, -65504], // rounded to float16; ±65504 is the largest float16
  [6e-8, -1e-5, 6.1e-5], // float16 subnormals and the smallest normal
  [1.0009765625, 2049, -0.00048828125],
  randomVector(1536, 4),
  randomVector(1536, 5, 1000),
];

describe("pgvector's binary forms decode like pgvector's own output", () => {
  test("vector_send decodes into float32 BLOBs equal to pgvector's text output and byte-identical to the real[] path.", async () => {
    for (const v of VECTOR_CASES) {
      const { rows } = await db.query<{ bin: Uint8Array; txt: string; arr: Uint8Array }>(
        "SELECT vector_send($1::vector) AS bin, $1::vector::text AS txt, array_send($1::vector::real[]) AS arr",
        [literal(v)],
      );
      const { bin, txt, arr } = rows[0]!;
      const blob = vectorSendToBlob(bytes(bin));
      expect(blob, `dim ${v.length}`).toBeDefined();
      expect(blob!.length).toBe(v.length * 4);
      // float4 text output is shortest-exact, so fround(text) is the stored float32 itself.
      const expected = txt.slice(1, -1).split(",").map((x) => Math.fround(Number(x)));
      expect(floats(blob!)).toEqual(expected);
      expect(blob!.equals(float4ArraySendToBlob(bytes(arr))!)).toBe(true);
      expect(pgvectorSendToBlob(bytes(bin))!.equals(blob!)).toBe(true);
      // A BLOB the store can view in place: its own buffer, 4-byte aligned.
      expect(blob!.byteOffset % 4).toBe(0);
    }
  });

  test("halfvec_send decodes into float32 with pgvector's float16 rounding, subnormals and extremes included.", async () => {
    for (const v of HALFVEC_CASES) {
      const { rows } = await db.query<{ bin: Uint8Array; txt: string; arr: Uint8Array }>(
        "SELECT halfvec_send($1::halfvec) AS bin, $1::halfvec::text AS txt, array_send($1::halfvec::vector::real[]) AS arr",
        [literal(v)],
      );
      const { bin, txt, arr } = rows[0]!;
      const blob = halfvecSendToBlob(bytes(bin));
      expect(blob, `dim ${v.length}`).toBeDefined();
      expect(bin.length).toBe(4 + 2 * v.length);
      expect(floats(blob!)).toEqual(txt.slice(1, -1).split(",").map((x) => Math.fround(Number(x))));
      expect(blob!.equals(float4ArraySendToBlob(bytes(arr))!)).toBe(true);
      expect(pgvectorSendToBlob(bytes(bin))!.equals(blob!)).toBe(true);
    }
    // The rounding itself, checked by hand against float16's grid.
    const { rows } = await db.query<{ bin: Uint8Array }>("SELECT halfvec_send('[0.1,0.3333333,65504,5.9604645e-8,-0]'::halfvec) AS bin");
    const got = floats(halfvecSendToBlob(bytes(rows[0]!.bin))!);
    expect(got.slice(0, 4)).toEqual([0.0999755859375, 0.333251953125, 65504, 2 ** -24]);
    expect(Object.is(got[4], -0)).toBe(true);
  });

  test("Truncated, trailing, zero, negative or absurd dimensions and foreign bytes are refused, never decoded.", async () => {
    const { rows } = await db.query<{ v: Uint8Array; h: Uint8Array; a: Uint8Array; a0: Uint8Array }>(
      "SELECT vector_send('[1,2,3]') AS v, halfvec_send('[1,2,3]') AS h, array_send('{1,2,3}'::real[]) AS a, array_send('{}'::real[]) AS a0",
    );
    const v = bytes(rows[0]!.v);
    const h = bytes(rows[0]!.h);
    const header = (dim: number, unused = 0) => Buffer.from([(dim >> 8) & 255, dim & 255, (unused >> 8) & 255, unused & 255]);
    for (const decode of [vectorSendToBlob, halfvecSendToBlob, pgvectorSendToBlob]) {
      expect(decode(Buffer.alloc(0))).toBeUndefined();
      expect(decode(Buffer.from([0, 3]))).toBeUndefined();
      expect(decode(header(0))).toBeUndefined(); // pgvector has no zero-dimension vector
      expect(decode(Buffer.concat([header(0xffff), Buffer.alloc(4 * 0xffff)]))).toBeUndefined(); // int16 -1
      expect(decode(Buffer.concat([header(16001), Buffer.alloc(4 * 16001)]))).toBeUndefined(); // past pgvector's maximum
      expect(decode(Buffer.concat([header(3, 1), v.subarray(4)]))).toBeUndefined(); // the unused field is always 0
      expect(decode(bytes(rows[0]!.a))).toBeUndefined(); // array_send output is not pgvector's
      expect(decode(bytes(rows[0]!.a0))).toBeUndefined();
    }
    expect(vectorSendToBlob(v.subarray(0, v.length - 1))).toBeUndefined();
    expect(vectorSendToBlob(Buffer.concat([v, Buffer.from([0])]))).toBeUndefined();
    expect(halfvecSendToBlob(h.subarray(0, h.length - 1))).toBeUndefined();
    expect(halfvecSendToBlob(Buffer.concat([h, Buffer.from([0, 0])]))).toBeUndefined();
    // Each form is refused by the other's decoder, and by the real[] one.
    expect(halfvecSendToBlob(v)).toBeUndefined();
    expect(vectorSendToBlob(h)).toBeUndefined();
    expect(float4ArraySendToBlob(v)).toBeUndefined();
    expect(float4ArraySendToBlob(h)).toBeUndefined();
  });

  test("The select expression follows the column's type, and real[] parameters reach vector and halfvec columns through assignment casts.", async () => {
    expect(embeddingSelect("t.e", "vector")).toBe("vector_send(t.e)");
    expect(embeddingSelect("t.e", "halfvec")).toBe("halfvec_send(t.e)");
    expect(embeddingSelect("t.e", "_float4")).toBe("array_send(t.e::real[])");
    expect(embeddingSelect("t.e", "_float8")).toBe("array_send(t.e::real[])");
    expect(embeddingSelect("t.e", "halfvec", 'my "ext"')).toBe('"my ""ext""".halfvec_send(t.e)');
    expect(embeddingSelect("t.e", "_float4", "pg_catalog")).toBe("array_send(t.e::real[])");
    await db.exec("CREATE TABLE cast_check (id int PRIMARY KEY, v vector(3), h halfvec(3))");
    try {
      // The two shapes the uploader sends: a real[] parameter, and real[] out of jsonb_to_recordset.
      await db.query("INSERT INTO cast_check (id, v, h) VALUES (1, $1::real[], $1::real[])", [[0.5, -1, 0.1]]);
      await db.query(
        "INSERT INTO cast_check (id, v, h) SELECT r.id, r.v, r.h FROM jsonb_to_recordset($1::jsonb) AS r(id int, v real[], h real[])",
        [JSON.stringify([{ id: 2, v: [1, 2, 3], h: [4, 5, 6] }])],
      );
      const { rows } = await db.query<{ v: string; h: string }>("SELECT v::text, h::text FROM cast_check ORDER BY id");
      expect(rows).toEqual([{ v: "[0.5,-1,0.1]", h: "[0.5,-1,0.099975586]" }, { v: "[1,2,3]", h: "[4,5,6]" }]);
      // A wrong dimension is the master's refusal, not a silent truncation.
      await expect(db.query("INSERT INTO cast_check (id, h) VALUES (3, $1::real[])", [[1, 2]])).rejects.toThrow(/expected 3 dimensions/);
    } finally {
      await db.exec("DROP TABLE cast_check");
    }
  });
});

/** The reference table (CONTRACT.md) with a pgvector embedding column. */
const memoryTableSql = (embedding: string) => `CREATE TABLE unified_ai_memory (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), memory_type text NOT NULL, content jsonb NOT NULL,
  source_system text, source_agent text, created_by text, importance_score real DEFAULT 0.5,
  tags text[] NOT NULL DEFAULT '{}', metadata jsonb NOT NULL DEFAULT '{}', context_id uuid, tenant_id uuid,
  embedding ${embedding}, search_text text, access_count integer NOT NULL DEFAULT 0, last_accessed timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz, archived boolean NOT NULL DEFAULT false)`;

// The halfvec case installs pgvector the way hosted Postgres does, in a schema of its own
// that is not on the replica's search_path.
describe.each([
  { type: "vector", schema: "public" },
  { type: "halfvec", schema: "extensions" },
])("a replica of a pglite master with a $type(4) embedding column, pgvector in $schema", ({ type, schema }) => {
  test("It migrates, copies, pulls, uploads and verifies with embeddings read in pgvector's own format.", async () => {
    const master = await PGlite.create({ extensions: { vector } });
    await master.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA ${schema}; ${memoryTableSql(`${schema}.${type}(4)`)}`);
    await master.exec(`INSERT INTO unified_ai_memory (memory_type, content, embedding)
      SELECT 'semantic', jsonb_build_object('text', 'memory ' || i), ARRAY[i, -i / 3.0, 0.1, 1e-5]::real[]::${schema}.${type} FROM generate_series(1, 120) i`);
    const server = new PGLiteSocketServer({ db: master, port: await freePort(), host: "127.0.0.1" });
    await server.start();
    const tmp = mkdtempSync(path.join(os.tmpdir(), "em-pgvector-"));
    // One pooled connection: the socket server serves one at a time. syncOnce opens no listener.
    const config = makeConfig({ databaseUrl: `postgres://postgres@${server.getServerConn()}/postgres`, localPath: path.join(tmp, "replica.db"), syncIntervalMs: 3_600_000, logLevel: "silent", masterPoolMax: 1 });
    const m = new EmbeddedMemory(config, { logger: createLogger({ level: "silent" }) });
    // The master's own values as float32, read through its text form (shortest-exact).
    const masterVectors = async (): Promise<Map<string, number[]>> => {
      const { rows } = await master.query<{ id: string; e: string }>("SELECT id::text AS id, embedding::text AS e FROM unified_ai_memory");
      return new Map(rows.map((r) => [r.id, r.e.slice(1, -1).split(",").map((x) => Math.fround(Number(x)))]));
    };
    const localVectors = (): Map<string, number[]> =>
      new Map((m._db().prepare("SELECT id, embedding FROM unified_ai_memory").all() as { id: string; embedding: Buffer }[]).map((r) => [r.id, floats(r.embedding)]));
    try {
      expect((await m.syncOnce()).total_memories).toBe(120); // migrate + snapshot
      expect(localVectors()).toEqual(await masterVectors());
      // Changes made on the master arrive through the cursor pull.
      await master.exec(`INSERT INTO unified_ai_memory (memory_type, content, embedding) VALUES ('semantic', '{"text":"new"}', '[65504,-0.5,0,3]');
        UPDATE unified_ai_memory SET embedding = '[-1,-2,-3,-4]' WHERE content->>'text' = 'memory 7';
        DELETE FROM unified_ai_memory WHERE content->>'text' = 'memory 8'`);
      expect((await m.syncOnce()).total_memories).toBe(120);
      expect(localVectors()).toEqual(await masterVectors());
      // A local write goes up as real[] and lands through the assignment cast.
      const stored = await m.store({ content: { text: "local" }, embedding: [0.25, -8, 0.1, 1024] });
      expect((await m.syncOnce()).uploaded).toBe(1);
      const { rows } = await master.query<{ e: string }>("SELECT embedding::text AS e FROM unified_ai_memory WHERE id = $1", [stored.id]);
      expect(rows[0]!.e).toBe(type === "vector" ? "[0.25,-8,0.1,1024]" : "[0.25,-8,0.099975586,1024]");
      expect(await m.verify()).toMatchObject({ identical: true, master_count: 121, replica_count: 121 });
    } finally {
      await m.stop();
      await server.stop();
      await master.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
