import { randomUUID } from "node:crypto";
import net from "node:net";
import { describe } from "vitest";
import { test, expect, eventually } from "./support/fixtures.ts";
import { installMaster, seedMemories } from "./support/seed.ts";
import { createHttpApp } from "../src/http/app.ts";
import { startHttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";
import { postChunked, postRaw } from "./support/http.ts";

const KEY = "sweep-key-0123456789abcdef";
const silent = createLogger({ level: "silent" });
const ID = randomUUID();

/** Every protected route, with a request that is valid apart from the key. */
const PROTECTED: { method: string; path: string; body?: unknown }[] = [
  { method: "POST", path: "/memory/force-sync" },
  { method: "GET", path: "/memory/search?q=memory" },
  { method: "POST", path: "/memory/search", body: { query: "memory" } },
  { method: "POST", path: "/memory", body: { content: "swept" } },
  { method: "GET", path: `/memory/${ID}` },
  { method: "DELETE", path: `/memory/${ID}` },
];

describe("the whole HTTP API", () => {
  test("Every protected route answers 401 without a key or with a wrong one, works with X-API-Key or Bearer, and 503 when API_KEYS is unset.", async ({ pg, replica }) => {
    await installMaster(pg);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const withKeys = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent, metrics: m.metrics }), "127.0.0.1", 0);
    const withoutKeys = await startHttpServer(createHttpApp(m, { apiKeys: [], logger: silent }), "127.0.0.1", 0);
    try {
      for (const r of PROTECTED) {
        const send = (base: string, headers: Record<string, string>) =>
          fetch(`${base}${r.path}`, { method: r.method, headers: { "content-type": "application/json", ...headers }, body: r.body === undefined ? undefined : JSON.stringify(r.body) });
        const label = `${r.method} ${r.path}`;
        expect((await send(withKeys.url, {})).status, label).toBe(401);
        expect((await send(withKeys.url, { "x-api-key": "wrong" })).status, label).toBe(401);
        expect((await send(withKeys.url, { authorization: "Bearer wrong" })).status, label).toBe(401);
        const viaHeader = await send(withKeys.url, { "x-api-key": KEY });
        expect([200, 201, 404], label).toContain(viaHeader.status);
        const viaBearer = await send(withKeys.url, { authorization: `Bearer ${KEY}` });
        expect([200, 201, 404], label).toContain(viaBearer.status);
        const disabled = await send(withoutKeys.url, { "x-api-key": KEY });
        expect(disabled.status, label).toBe(503);
        expect(((await disabled.json()) as { error: string }).error).toMatch(/^set API_KEYS to enable/);
      }
      // Two keys in one request are not a key: rejected, whichever comes first.
      const twice = async (name: string, values: string[]) => {
        const head = values.map((v) => `${name}: ${v}\r\n`).join("");
        return new Promise<string>((resolve, reject) => {
          let answer = "";
          const socket = net.connect(withKeys.port, "127.0.0.1", () => socket.write(`GET /memory/search?q=x HTTP/1.1\r\nHost: x\r\n${head}Connection: close\r\n\r\n`));
          socket.on("data", (d) => (answer += d.toString())).on("end", () => resolve(answer.split("\r\n")[0]!)).on("error", reject);
        });
      };
      expect(await twice("authorization", [`Bearer ${KEY}`, "Bearer junk"])).toMatch(/^HTTP\/1\.1 401/);
      expect(await twice("x-api-key", [KEY, "junk"])).toMatch(/^HTTP\/1\.1 401/);
      expect(await twice("authorization", [`Bearer ${KEY}`])).toMatch(/^HTTP\/1\.1 200/);
      for (const open of ["/health", "/ready", "/memory/stats", "/metrics", "/openapi.json", "/memory/machines"]) {
        expect((await fetch(`${withKeys.url}${open}`)).status, open).toBe(200);
      }
    } finally {
      await withKeys.close();
      await withoutKeys.close();
    }
  });

  test("A barrage of bad input on every route never gets a 5xx, every error is JSON, and the process stays up.", async ({ pg, replica }) => {
    await installMaster(pg);
    await seedMemories(pg, 20);
    const m = replica();
    await m.start();
    await eventually(() => expect(m.state()).toBe("idle"));
    const server = await startHttpServer(createHttpApp(m, { apiKeys: [KEY], logger: silent, metrics: m.metrics }), "127.0.0.1", 0);
    const h = { "x-api-key": KEY, "content-type": "application/json" };
    const bodies = ["", "{", "[]", "null", "42", '"text"', '{"query": {"$ne": 1}}', '{"content": null}', '{"limit": 1e308}', '{"limit": -1}', '{"embedding": "1,2,3"}', '{"filters": []}', '{"content": "\\u0000\\ud800"}', '{"content": "🙂 naïve 東京"}', JSON.stringify({ content: { nested: { deep: [1, { a: "b" }] } } }), '{"__proto__": {"polluted": true}, "content": "x"}'];
    const paths = ["/memory/search", "/memory", "/memory/force-sync"];
    const statuses: number[] = [];
    try {
      for (const path of paths) {
        for (const body of bodies) {
          const r = await fetch(`${server.url}${path}`, { method: "POST", headers: h, body });
          statuses.push(r.status);
          expect(r.status, `${path} ${body}`).toBeLessThan(500);
          if (r.status >= 400) expect(((await r.json()) as { error: string }).error, `${path} ${body}`).toEqual(expect.any(String));
        }
      }
      const queries = ["limit=100000", "limit=-5", "limit=abc", "limit=1.5", "min_importance=2", "min_importance=x", "tenant_id=not-a-uuid", "created_after=yesterday", "q=%00", "q=%ED%A0%80", `q=${"x".repeat(20_000)}`, "tags=", "unknown=1", "q=a&q=b"];
      for (const q of queries) {
        const r = await fetch(`${server.url}/memory/search?${q}`, { headers: h });
        expect(r.status, q).toBeLessThan(500);
      }
      for (const id of ["not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%ED%A0%80", "x".repeat(5_000), "' OR 1=1 --"]) {
        for (const method of ["GET", "DELETE"]) {
          const r = await fetch(`${server.url}/memory/${id}`, { method, headers: h });
          expect(r.status, `${method} ${id}`).toBe(400);
        }
      }
      expect((await fetch(`${server.url}/memory/force-sync?full=maybe`, { method: "POST", headers: h })).status).toBe(400);
      expect(await postRaw(`${server.url}/memory`, h, "x".repeat(5 * 1024 * 1024))).toBe(413);
      expect(await postRaw(`${server.url}/memory/search`, h, "x".repeat(5 * 1024 * 1024))).toBe(413);
      // Without a Content-Length the limit is counted while reading.
      expect(await postChunked(`${server.url}/memory/search`, h, "x".repeat(64 * 1024), 80)).toBe(413);
      expect(await postChunked(`${server.url}/memory`, h, "x".repeat(64 * 1024), 80)).toBe(413);
      const unknown = await fetch(`${server.url}/no/such/route`, { method: "PATCH" });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: expect.stringMatching(/no route for PATCH/) });
      expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
      // Clients that leave mid-body: counted as their 400s, never as server errors.
      const count400 = async (route: string) => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(text).not.toMatch(/status="5\d\d"/);
        return Number(new RegExp(`embedded_memory_http_requests_total\\{method="POST",route="${route}",status="400"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      };
      for (const path of ["/memory/search", "/memory"]) {
        const before = await count400(path);
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(server.port, "127.0.0.1", () => {
            socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"query":`);
            setImmediate(() => socket.destroy());
          });
          socket.on("close", () => resolve()).on("error", reject);
        });
        await eventually(async () => expect(await count400(path)).toBe(before + 1));
      }
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect(statuses.filter((s) => s === 400).length).toBeGreaterThan(20);
    } finally {
      await server.close();
    }
  });

  test("GET /openapi.json is OpenAPI 3.1 and documents every route the server has, with the request schemas it validates with.", async ({ replica }) => {
    const m = replica();
    await m.start();
    const app = createHttpApp(m, { apiKeys: [KEY], logger: silent, metrics: m.metrics });
    const doc = (await (await app.request("/openapi.json")).json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
    expect(doc.openapi).toBe("3.1.0");
    const routes = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((k) => k !== "parameters").map((method) => `${method} ${p}`));
    expect(routes.filter((r) => !documented.includes(r))).toEqual([]);
    expect(Object.keys(doc.components.schemas.MemoryBody!.properties)).toEqual(expect.arrayContaining(["content", "importance_score", "tags", "metadata", "tenant_id", "id", "embedding"]));
    expect(Object.keys(doc.components.schemas.SearchBody!.properties).sort()).toEqual(["embedding", "filters", "limit", "min_score", "query"]);
  });
});
