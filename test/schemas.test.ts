/**
 * One schema per input: the library, HTTP and config refuse the same input with the same
 * error naming the field; makeConfig validates as the CLI does; waitForFirstSync; silence.
 */
import path from "node:path";
import { describe, test as plain } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { ConfigError, createEmbeddedMemory, InvalidInputError, loadConfig, makeConfig, type MemoryWrite, type SearchRequest } from "../src/index.ts";
import { createHttpApp } from "../src/http/app.ts";
import { createLogger } from "../src/observability/logger.ts";

const KEY = "schema-key-0123456789";

/** Runs `f` and returns the error it throws (fails the test when it does not throw). */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

describe("configuration", () => {
  plain("makeConfig refuses what the CLI refuses and names the field; loadConfig names the variable.", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ databaseUrl: "mysql://u:hunter22@h/db" }, "databaseUrl", /postgres:\/\//],
      [{ databaseUrl: "not a url" }, "databaseUrl", /not a valid URL/],
      [{ syncIntervalMs: -5 }, "syncIntervalMs", /whole number from 10/],
      [{ syncIntervalMs: 1.5 }, "syncIntervalMs", /whole number/],
      [{ port: 70_000 }, "port", /0 to 65535/],
      [{ embeddingProvider: "cohere" }, "embeddingProvider", /none, hash, openai/],
      [{ tenantId: "tenant-1" }, "tenantId", /UUID/],
      [{ memoryTable: "drop table;" }, "memoryTable", /table name/],
      [{ embeddingBaseUrl: "ftp://x" }, "embeddingBaseUrl", /http/],
      [{ colour: "red" }, "colour", /unknown setting/],
      [{ databaseUrl: "postgres://u:hunter22@h/db?sslmode=requre" }, "databaseUrl", /sslmode=requre is not one of disable, allow, prefer, require/],
      [{ listenDatabaseUrl: "mysql://x" }, "listenDatabaseUrl", /postgres:\/\//],
    ];
    for (const [input, field, message] of cases) {
      const e = (() => {
        try {
          makeConfig(input as never);
        } catch (err) {
          return err;
        }
        throw new Error(`makeConfig accepted ${JSON.stringify(input)}`);
      })();
      expect(e, field).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).variable, field).toBe(field);
      expect((e as ConfigError).message, field).toMatch(message);
      // The password of a refused URL never appears in the error.
      expect((e as ConfigError).message).not.toContain("hunter22");
    }
    expect(() => loadConfig({ SYNC_INTERVAL_MS: "5" })).toThrow(/^SYNC_INTERVAL_MS: expected a whole number from 10/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(/^DATABASE_URL: /);
    expect(() => loadConfig({ DATABASE_READ_URL: "postgres://h/db?sslmode=nope" })).toThrow(/^DATABASE_READ_URL: sslmode=nope/);
    expect(() => loadConfig({ EMBEDDING_PROVIDER: "cohere" })).toThrow(/^EMBEDDING_PROVIDER: expected one of none, hash, openai/);
    const c = makeConfig({ databaseUrl: "postgres://u@127.0.0.1/db", tenantId: "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA" });
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.tenantId).toBe("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
    // The library is silent unless asked; the CLI's default level is info.
    expect(makeConfig().logLevel).toBe("silent");
    expect(loadConfig({}).logLevel).toBe("info");
  });

  plain("A library replica made without a logger or a level logs nothing.", () => {
    const m = createEmbeddedMemory(makeConfig({ databaseUrl: "postgres://u@127.0.0.1:1/db" }));
    expect(m.log.level).toBe("silent");
    const loud = createEmbeddedMemory(makeConfig({ databaseUrl: "postgres://u@127.0.0.1:1/db" }), { logLevel: "warn" });
    expect(loud.log.level).toBe("warn");
  });
});

describe("inputs", () => {
  test("The library and HTTP refuse the same bad input with the same message naming the field.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    const app = createHttpApp(m, { apiKeys: [KEY], logger: createLogger({ level: "silent" }) });
    const post = async (p: string, body: unknown) => {
      const res = await app.request(p, { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { error: string; field: string } };
    };
    const searches: [unknown, string][] = [
      [{ query: 1234 }, "query"],
      [{ limit: "ten" }, "limit"],
      [{ embedding: [] }, "embedding"],
      [{ filters: { tenant_id: "nope" } }, "filters.tenant_id"],
      [{ filters: { min_importance: 7 } }, "filters.min_importance"],
      [{ surprise: true }, "surprise"],
    ];
    for (const [input, field] of searches) {
      const e = await thrown(() => m.search(input as SearchRequest));
      expect(e, field).toBeInstanceOf(InvalidInputError);
      expect((e as InvalidInputError).field).toBe(field);
      const http = await post("/memory/search", input);
      expect(http.status, field).toBe(400);
      expect(http.body).toEqual({ error: (e as InvalidInputError).message, field });
    }
    const writes: [unknown, string][] = [
      [42, "body"],
      [{}, "content"],
      [{ content: "   " }, "content"],
      [{ content: "x", importance_score: 2 }, "importance_score"],
      [{ content: "x", tags: ["a", 3] }, "tags.1"],
      [{ content: "x", tenant_id: "t1" }, "tenant_id"],
      [{ content: "x", metadata: { big: "y".repeat(70_000) } }, "metadata"],
      [{ content: "x", expires_at: "someday" }, "expires_at"],
    ];
    for (const [input, field] of writes) {
      const e = await thrown(() => m.store(input as MemoryWrite));
      expect(e, field).toBeInstanceOf(InvalidInputError);
      expect((e as InvalidInputError).field).toBe(field);
      const http = await post("/memory", input);
      expect(http.status, field).toBe(400);
      expect(http.body).toEqual({ error: (e as InvalidInputError).message, field });
    }
    expect(((await thrown(() => m.get("not-a-uuid"))) as InvalidInputError).field).toBe("id");
    // Nothing refused was stored.
    await m.start();
    await m.waitForFirstSync();
    expect(m.stats().total_memories).toBe(0);
    expect(m.stats().outbox.pending).toBe(0);
    // The types refuse them too (checked by tsc, which type-checks the tests).
    // @ts-expect-error query must be a string
    void (() => m.search({ query: 1234 }));
    // @ts-expect-error a memory is an object with content
    void (() => m.store(42));
  });
});

describe("waitForFirstSync", () => {
  test("It resolves once the first copy is complete, at once when it already is, and rejects when stop() comes first.", async ({ pg, replica, tmp }) => {
    await installMaster(pg);
    await seedMemories(pg, 50);
    const m = replica();
    const waiting = m.waitForFirstSync();
    await m.start();
    await waiting;
    expect(m.stats().snapshot.complete).toBe(true);
    expect(m.stats().total_memories).toBe(50);
    await m.waitForFirstSync(); // already complete
    await m.stop();

    // A master that is never reachable: the wait ends with stop(), it does not hang.
    const away = replica({ databaseUrl: "postgres://postgres:pw@127.0.0.1:1/none", localPath: path.join(tmp, "away.db"), connectTimeoutMs: 200 });
    await away.start();
    const pending = away.waitForFirstSync();
    await eventually(() => expect(away.state()).toBe("backoff"));
    await away.stop();
    await expect(pending).rejects.toThrow(/stopped before its first copy/);
  });
});
