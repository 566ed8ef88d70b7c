/**
 * sslmode as libpq means it: the URL parsing and `ssl` option (pure), then real connections
 * to an embedded Postgres started with ssl=on and certificates made by openssl.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as Effect from "effect/Effect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { describeTlsError, masterEndpoint, parseMasterUrl, readTlsFiles, sslOption, TlsChoice } from "../src/master/connection.ts";
import { Master, masterLayer, type MasterError } from "../src/master/Master.ts";
import { createLogger } from "../src/observability/logger.ts";
import { makeConfig } from "../src/schema/config.ts";
import { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { eventually } from "./support/fixtures.ts";
import { createTestDatabase, createTestPostgres, PG_PASSWORD, type TestPostgres } from "./support/postgres.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { requireSystem, SYSTEM } from "./support/systemDeps.ts";
import { createTlsPostgres, type TlsPostgres } from "./support/tls.ts";

const logger = createLogger({ level: "silent" });
const OPTS = { connectTimeoutMs: 5_000, statementTimeoutMs: 5_000, applicationName: "embedded-memory-tls-test" };

describe("parsing sslmode and its files", () => {
  test("The TLS parameters are taken out of the URL handed to pg, and the rest of it is kept.", () => {
    const p = parseMasterUrl("postgres://u:s3cret@db.example:6543/app?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x");
    expect(p.tls).toEqual({ mode: "verify-full", rootCert: "/ca.pem", cert: undefined, key: undefined });
    expect(p.connectionString).toBe("postgres://u:s3cret@db.example:6543/app?application_name=x");
    expect(parseMasterUrl("postgres://u@h/db").tls.mode).toBe("disable");
  });

  test("A bad URL, an unknown sslmode or a half client certificate is an error that never shows the password.", () => {
    const bad = ["postgres://u:s3cret@h:notaport/db", "postgres://u:s3cret@h/db?sslmode=always", "postgres://u:s3cret@h/db?sslmode=require&sslcert=/c.pem", "postgres://u:s3cret@h/db?ssl=true"];
    for (const url of bad) {
      let message = "";
      try {
        parseMasterUrl(url);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, url).not.toBe("");
      expect(message, url).not.toContain("s3cret");
    }
  });

  test("A certificate file that cannot be read is an error naming the parameter and the path.", () => {
    const tls = parseMasterUrl("postgres://u:s3cret@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/root.crt").tls;
    expect(() => readTlsFiles(tls)).toThrow("sslrootcert=/nonexistent/root.crt: cannot read the file (ENOENT)");
    expect(() => masterEndpoint("postgres://u:s3cret@h/db?sslmode=require&sslcert=/no/c.pem&sslkey=/no/k.pem", OPTS)).toThrow(/^sslcert=\/no\/c\.pem/);
  });

  test("A replica whose sslrootcert cannot be read fails to start with an error naming the file, never the password.", async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), "em-tls-missing-"));
    const url = `postgres://u:${PG_PASSWORD}@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent/root.crt`;
    const m = new EmbeddedMemory(makeConfig({ databaseUrl: url, localPath: path.join(tmp, "r.db"), logLevel: "silent" }), { logger });
    try {
      const error = await m.start().then(() => undefined, (e: Error) => e);
      expect(error?.message).toContain("sslrootcert=/nonexistent/root.crt: cannot read the file");
      expect(`${error?.message} ${error?.stack}`).not.toContain(PG_PASSWORD);
    } finally {
      await m.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test("Each sslmode becomes the pg ssl option libpq's meaning asks for.", () => {
    const files = { ca: Buffer.from("CA") };
    const tls = (mode: string, rootCert?: string) => parseMasterUrl(`postgres://h/db?sslmode=${mode}${rootCert ? `&sslrootcert=${rootCert}` : ""}`).tls;
    expect(sslOption(tls("disable"), files, true)).toBe(false);
    expect(sslOption(tls("require"), {}, true)).toEqual({ rejectUnauthorized: false });
    expect(sslOption(tls("prefer"), {}, true)).toEqual({ rejectUnauthorized: false });
    expect(sslOption(tls("prefer"), {}, false)).toBe(false);
    expect(sslOption(tls("verify-full", "/ca"), files, true)).toEqual({ ca: files.ca, rejectUnauthorized: true });
    const ca = sslOption(tls("verify-ca", "/ca"), files, true) as { checkServerIdentity?: unknown; rejectUnauthorized: boolean };
    expect(ca.rejectUnauthorized).toBe(true);
    expect(typeof ca.checkServerIdentity).toBe("function");
    // libpq: require with a root certificate checks the chain, like verify-ca.
    expect((sslOption(tls("require", "/ca"), files, true) as { rejectUnauthorized: boolean }).rejectUnauthorized).toBe(true);
  });

  test("prefer falls back to plain when the server offers no TLS, allow to TLS when the server demands it; the others never switch.", () => {
    const prefer = new TlsChoice("prefer");
    expect(prefer.encrypted).toBe(true);
    expect(prefer.failed(new Error("The server does not support SSL connections"))).toBe(true);
    expect(prefer.encrypted).toBe(false);
    expect(prefer.failed(new Error("password authentication failed"))).toBe(false);
    const allow = new TlsChoice("allow");
    expect(allow.encrypted).toBe(false);
    expect(allow.failed(new Error('pg_hba.conf rejects connection for host "127.0.0.1", user "u", database "d", no encryption'))).toBe(true);
    expect(allow.encrypted).toBe(true);
    const require = new TlsChoice("require");
    expect(require.failed(new Error("The server does not support SSL connections"))).toBe(false);
    expect(describeTlsError({ code: "ERR_TLS_CERT_ALTNAME_INVALID", message: "Hostname/IP does not match" }, "verify-full")).toMatch(/hostname mismatch/);
  });
});

const hasOpenssl = requireSystem("the TLS tests", SYSTEM.openssl);

/** Runs one query through a Master on `url`: whether the connection is encrypted, or the error. */
async function probe(url: string): Promise<{ ssl: boolean } | { error: string }> {
  const program = Effect.gen(function* () {
    const master = yield* Master;
    const { rows } = yield* master.query<{ ssl: boolean }>("SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl");
    return { ssl: rows[0]!.ssl };
  }).pipe(
    Effect.provide(masterLayer({ databaseUrl: url, connectTimeoutMs: 5_000, statementTimeoutMs: 5_000, maxConnections: 1, logger })),
    Effect.catch((e: MasterError) => Effect.succeed({ error: e.message })),
  );
  return Effect.runPromise(program);
}

describe.skipIf(!hasOpenssl)("connections to a Postgres with ssl=on", () => {
  let server: TlsPostgres;
  let plain: TestPostgres;
  beforeAll(async () => {
    [server, plain] = await Promise.all([createTlsPostgres(), createTestPostgres()]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([server?.destroy(), plain?.destroy()]);
  });

  test("sslmode=require encrypts without verifying the certificate.", async () => {
    expect(await probe(server.url("sslmode=require"))).toEqual({ ssl: true });
  });

  test("sslmode=verify-full with the CA as sslrootcert connects to a host name the certificate holds.", async () => {
    expect(await probe(server.url(`sslmode=verify-full&sslrootcert=${server.files.caCert}`))).toEqual({ ssl: true });
  });

  test("sslmode=verify-full without the CA fails naming the certificate problem, and never shows the password.", async () => {
    const r = await probe(server.url("sslmode=verify-full"));
    expect(r).toMatchObject({ error: expect.stringMatching(/self-signed certificate in chain/) });
    expect(JSON.stringify(r)).not.toContain(PG_PASSWORD);
    const other = await probe(server.url(`sslmode=verify-ca&sslrootcert=${server.files.otherCaCert}`));
    expect(other).toMatchObject({ error: expect.stringMatching(/not trusted/) });
  });

  test("With a host name the certificate does not hold, verify-full fails as a hostname mismatch while verify-ca passes.", async () => {
    const params = `sslrootcert=${server.files.caCert}`;
    const full = await probe(server.url(`sslmode=verify-full&${params}`, { host: "127.0.0.1" }));
    expect(full).toMatchObject({ error: expect.stringMatching(/hostname mismatch/) });
    expect(await probe(server.url(`sslmode=verify-ca&${params}`, { host: "127.0.0.1" }))).toEqual({ ssl: true });
  });

  test("A client certificate and key given as sslcert/sslkey are read and used.", async () => {
    const { caCert, clientCert, clientKey } = server.files;
    expect(await probe(server.url(`sslmode=verify-full&sslrootcert=${caCert}&sslcert=${clientCert}&sslkey=${clientKey}`))).toEqual({ ssl: true });
  });

  test("sslmode=disable against a database that accepts only TLS fails clearly; allow then switches to TLS.", async () => {
    const r = await probe(server.url("sslmode=disable", { database: "sslonly" }));
    expect(r).toMatchObject({ error: expect.stringMatching(/accepts only encrypted connections.*sslmode=require/) });
    expect(await probe(server.url("sslmode=allow", { database: "sslonly" }))).toEqual({ ssl: true });
    expect(await probe(server.url("sslmode=allow"))).toEqual({ ssl: false });
  });

  test("sslmode=prefer encrypts against an ssl=on server and connects in plain text to an ssl=off one.", async () => {
    expect(await probe(server.url("sslmode=prefer"))).toEqual({ ssl: true });
    expect(await probe(`${plain.url}?sslmode=prefer`)).toEqual({ ssl: false });
    const r = await probe(`${plain.url}?sslmode=require`);
    expect(r).toMatchObject({ error: expect.stringMatching(/server does not support SSL/) });
  });

  test("A replica on sslmode=prefer against an ssl=off server falls back to plain text for its pool and its listener.", async () => {
    const pg = await createTestDatabase(plain);
    const tmp = mkdtempSync(path.join(os.tmpdir(), "em-tls-prefer-"));
    const m = new EmbeddedMemory(makeConfig({ databaseUrl: `${pg.url}?sslmode=prefer`, localPath: path.join(tmp, "r.db"), syncIntervalMs: 3_600_000, logLevel: "silent" }), { logger });
    try {
      await installMaster(pg);
      await seedMemories(pg, 10);
      await m.start();
      await eventually(() => expect(m.stats().total_memories).toBe(10));
      await eventually(async () => expect((await pg.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = 'embedded-memory-feed'")).length).toBe(1));
      await seedMemories(pg, 3, { startAt: 100 });
      await eventually(() => expect(m.stats().total_memories).toBe(13));
    } finally {
      await m.stop();
      await pg.destroy();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test("A replica copies, pulls and uploads over sslmode=require.", async () => {
    const pg = await createTestDatabase(server.cluster);
    const tmp = mkdtempSync(path.join(os.tmpdir(), "em-tls-replica-"));
    const m = new EmbeddedMemory(
      makeConfig({ databaseUrl: `${pg.url}?sslmode=require`, localPath: path.join(tmp, "r.db"), syncIntervalMs: 3_600_000, logLevel: "silent" }),
      { logger },
    );
    try {
      await installMaster(pg);
      await seedMemories(pg, 120, { embeddingDim: 4 });
      await m.start();
      await eventually(() => expect(m.stats().total_memories).toBe(120));
      await seedMemories(pg, 5, { startAt: 1000 });
      await eventually(() => expect(m.stats().total_memories).toBe(125));
      const stored = await m.store({ content: "written over TLS", memory_type: "semantic" });
      await eventually(async () => expect((await pg.sql("SELECT 1 FROM unified_ai_memory WHERE id = $1", [stored.id])).length).toBe(1));
      expect(await m.verify()).toMatchObject({ identical: true, master_count: 126 });
      const ssl = await pg.sql<{ n: string }>("SELECT count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'embedded-memory%' AND NOT s.ssl");
      expect(Number(ssl[0]!.n)).toBe(0);
    } finally {
      await m.stop();
      await pg.destroy();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
