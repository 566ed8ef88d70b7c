/**
 * The HTTP part of the search benchmark: what `POST /memory/search` on loopback adds to the
 * same search done in-process. The server is the app `serve` builds, in this process, around
 * the benchmark's replica; the client is a separate process (bench/httpClientWorker.ts), as an
 * agent calling the service would be. Measured per query class and client library:
 *
 * - paired: each HTTP request back to back with the same search in-process (the "twin"),
 *   alternating which goes first; added = HTTP − twin, per pair. This is the target's figure.
 * - around the search: HTTP − the time spent inside search() while serving that very request,
 *   i.e. what the stack cost around this search.
 * - instant: the same bodies against the same app whose search() answers at once with the
 *   twin's answer (same JSON in and out): the HTTP stack's own cost for these requests.
 * - floor: the same requests to a bare node:http server around the same search (read the
 *   body, JSON.parse, search, JSON.stringify; no framework, auth, validation or metrics):
 *   what any Node HTTP server costs around this search on this machine. Ours − floor is
 *   what our stack (Hono, auth, schema, metrics) adds to it.
 *
 * Why a separate client process: with the client in the server's process (measured in
 * session 1), the added time grew with the search's own time (+0.7 ms for a 0.2 ms search,
 * +1.4 ms for a 6 ms one) while the stack around an instant search cost 0.3–0.55 ms — the two
 * halves of one request were competing for one thread and one of two cores.
 */
import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { EmbeddedMemory } from "../src/runtime/embeddedMemory.ts";
import { createHttpApp, type MemoryApi } from "../src/http/app.ts";
import { startHttpServer, type HttpServer } from "../src/http/server.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { SearchRequest, SearchResponse } from "../src/search/Search.ts";
import { searchArgs } from "./searchClasses.ts";
import type { ClientCommand, ClientKind, ClientReply } from "./httpClientWorker.ts";
import { distribution, fullGc, immediate, type Distribution } from "./util.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const REQUEST_TIMEOUT_MS = 30_000;
export const CLIENTS: readonly ClientKind[] = ["nodeHttp", "fetch"];

/** One query class as the HTTP part sees it. */
export interface HttpClass {
  readonly name: string;
  /** The search_method the route must answer with. */
  readonly expect: string;
  /** The JSON body for query i. */
  readonly body: (i: number) => string;
  /** The same search's request in-process, as the route makes it (access counted, method chosen by the library). */
  readonly request: (i: number) => SearchRequest;
}

export interface HttpClientResult {
  readonly http: Distribution;
  readonly twin: Distribution;
  /** Per pair: HTTP − the in-process twin. */
  readonly added: Distribution;
  /** Per request: HTTP − the time inside search() while serving it. */
  readonly aroundSearch: Distribution;
  /** The same requests answered at once by a stub search (same JSON in and out). */
  readonly instant: Distribution;
  /** Per pair: the bare node:http server around the same search − the twin. */
  readonly floorAdded: Distribution;
  /** Server side, per request: from its headers parsed to its answer handed to the kernel, minus search(). */
  readonly serverStack: Distribution;
  /** The same for the instant requests (their search() takes no time). */
  readonly instantServerStack: Distribution;
}

export interface HttpClassResult {
  readonly searchInHandler: Distribution;
  readonly clients: Record<ClientKind, HttpClientResult>;
}

export interface HttpPart {
  readonly client: "separate process";
  readonly queries: number;
  readonly classes: Record<string, HttpClassResult>;
}

/** A forked client process: one request in flight at a time. */
interface ClientProcess {
  readonly request: (target: number, client: ClientKind, body: string) => Promise<Extract<ClientReply, { kind: "timed" }>>;
  readonly close: () => Promise<void>;
}

function startClientProcess(urls: readonly string[], apiKey: string): Promise<ClientProcess> {
  const child: ChildProcess = fork(path.join(here, "..", "bin", "run-ts.js"), [path.join(here, "httpClientWorker.ts")], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let pending: { resolve: (r: ClientReply) => void; reject: (e: Error) => void } | undefined;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.on("message", (m) => {
    const p = pending;
    pending = undefined;
    p?.resolve(m as ClientReply);
  });
  child.once("exit", (code, signal) => pending?.reject(new Error(`HTTP client process exited (code ${code}, signal ${signal})`)));
  child.on("error", (e) => pending?.reject(e));
  const send = (cmd: ClientCommand) =>
    new Promise<ClientReply>((resolve, reject) => {
      if (pending) return reject(new Error("HTTP client process: one request at a time"));
      // A request never takes this long: a hung client or server fails the run instead of hanging it.
      const timer = setTimeout(() => pending?.reject(new Error(`HTTP client process: no answer in ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
      const settle = () => {
        clearTimeout(timer);
        pending = undefined;
      };
      pending = { resolve: (r) => (settle(), resolve(r)), reject: (e) => (settle(), reject(e)) };
      child.send(cmd, (e) => e && pending?.reject(e));
    });
  const close = async () => {
    if (child.connected) child.disconnect();
    const killer = setTimeout(() => child.kill("SIGKILL"), 2_000);
    await exited;
    clearTimeout(killer);
  };
  return send({ kind: "init", urls, apiKey }).then(
    () => ({
      request: async (target, client, body) => {
        const reply = await send({ kind: "request", target, client, body });
        if (reply.kind === "failed") throw new Error(`HTTP ${client}: ${reply.error}`);
        if (reply.kind !== "timed") throw new Error(`HTTP ${client}: unexpected reply ${reply.kind}`);
        if (reply.status !== 200) throw new Error(`HTTP ${client}: status ${reply.status}`);
        return reply;
      },
      close,
    }),
    async (e: unknown) => {
      await close();
      throw e;
    },
  );
}

/** A MemoryApi that is `mem` except for search(), which `search` replaces. */
function withSearch(mem: EmbeddedMemory, search: (r: SearchRequest) => Promise<SearchResponse>): MemoryApi {
  return new Proxy(mem, {
    get: (target, prop) => {
      if (prop === "search") return search;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as MemoryApi;
}

/** The app as `serve` builds it (API key, request metrics). */
const serveApp = (api: MemoryApi, mem: EmbeddedMemory, apiKey: string) => startHttpServer(createHttpApp(api, { apiKeys: [apiKey], logger: createLogger({ level: "silent" }), metrics: mem.metrics }), "127.0.0.1", 0);

/** The floor: a bare node:http server around the same search (no framework, auth, validation, metrics). */
async function serveFloor(search: (r: SearchRequest) => Promise<SearchResponse>): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let b: { query?: string; embedding?: number[]; limit?: number };
      try {
        b = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof b;
      } catch (e) {
        return void res.writeHead(400).end(String(e));
      }
      // The parsed body as is, like the app's route: the library's schema refuses keys present as undefined.
      search(b).then((answer) => {
        const text = JSON.stringify(answer);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
      }, (e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    node: server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

type Series = Record<"http" | "twin" | "around" | "instant" | "server" | "instantServer" | "floor", number[]>;
const SERIES = ["http", "twin", "around", "instant", "server", "instantServer", "floor"] as const;
const ORDERS = [
  ["twin", "app", "floor"],
  ["twin", "floor", "app"],
  ["app", "twin", "floor"],
  ["app", "floor", "twin"],
  ["floor", "twin", "app"],
  ["floor", "app", "twin"],
] as const;
/** Targets of the client process, in the order the servers start. */
const APP = 0;
const STUB = 1;
const FLOOR = 2;

export async function runHttpPart(mem: EmbeddedMemory, classes: readonly HttpClass[], opts: { queries: number; warmup: number; apiKey: string }, say: (s: string) => void): Promise<HttpPart> {
  const inHandler: number[] = [];
  let canned: SearchResponse | undefined;
  const timedSearch = async (r: SearchRequest) => {
    const t0 = performance.now();
    try {
      return await mem.search(...searchArgs(r));
    } finally {
      inHandler.push(performance.now() - t0);
    }
  };
  const servers: HttpServer[] = [];
  let client: ClientProcess | undefined;
  try {
    // Pushed one by one: a server that fails to start must not leave the others open.
    servers.push(await serveApp(withSearch(mem, timedSearch), mem, opts.apiKey));
    servers.push(await serveApp(withSearch(mem, () => Promise.resolve(canned!)), mem, opts.apiKey));
    servers.push(await serveFloor(timedSearch));
    // Server-side time of the last request on each server: headers parsed → answer written.
    const serverMs = servers.map(() => 0);
    servers.forEach((s, k) =>
      s.node.prependListener("request", (_req, res) => {
        const t0 = performance.now();
        res.once("finish", () => (serverMs[k] = performance.now() - t0));
      }),
    );
    const c = (client = await startClientProcess(servers.map((s) => s.url), opts.apiKey));
    const out: Record<string, HttpClassResult> = {};
    for (const cls of classes) {
      const request = async (target: number, kind: ClientKind, body: string) => {
        inHandler.length = 0;
        const r = await c.request(target, kind, body);
        if (r.method !== cls.expect) throw new Error(`HTTP ${cls.name}: search_method ${r.method}, expected ${cls.expect}`);
        const searched = inHandler.length === 1 ? inHandler[0]! : undefined;
        if (target !== STUB && searched === undefined) throw new Error(`HTTP ${cls.name}: ${inHandler.length} searches for one request`);
        return { ms: r.ms, searched: searched ?? 0 };
      };
      for (const kind of CLIENTS) {
        for (let i = opts.queries; i < opts.queries + opts.warmup; i++) {
          canned = await mem.search(...searchArgs(cls.request(i)));
          for (const target of [APP, STUB, FLOOR]) await request(target, kind, cls.body(i));
        }
      }
      const series = Object.fromEntries(CLIENTS.map((k) => [k, Object.fromEntries(SERIES.map((n) => [n, [] as number[]]))])) as Record<ClientKind, Series>;
      const handlerAll: number[] = [];
      fullGc();
      for (let i = 0; i < opts.queries; i++) {
        const body = cls.body(i);
        for (const [k, kind] of CLIENTS.entries()) {
          const s = series[kind];
          // All six orders of twin, app and floor in turn: each goes before and after each
          // other equally often, so none meets a cache the others warmed more often.
          for (const step of ORDERS[(i + k) % ORDERS.length]!) {
            await immediate();
            if (step === "twin") {
              const request = cls.request(i); // built outside the timed window
              const t0 = performance.now();
              canned = await mem.search(...searchArgs(request));
              s.twin.push(performance.now() - t0);
            } else if (step === "app") {
              const r = await request(APP, kind, body);
              s.http.push(r.ms);
              s.around.push(r.ms - r.searched);
              s.server.push(serverMs[APP]! - r.searched);
              handlerAll.push(r.searched);
            } else s.floor.push((await request(FLOOR, kind, body)).ms);
          }
          await immediate();
          s.instant.push((await request(STUB, kind, body)).ms);
          s.instantServer.push(serverMs[STUB]!);
        }
      }
      const result: HttpClassResult = {
        searchInHandler: distribution(handlerAll),
        clients: Object.fromEntries(
          CLIENTS.map((kind) => {
            const s = series[kind];
            const minusTwin = (xs: number[]) => distribution(xs.map((x, i) => x - s.twin[i]!));
            const r: HttpClientResult = {
              http: distribution(s.http),
              twin: distribution(s.twin),
              added: minusTwin(s.http),
              aroundSearch: distribution(s.around),
              instant: distribution(s.instant),
              floorAdded: minusTwin(s.floor),
              serverStack: distribution(s.server),
              instantServerStack: distribution(s.instantServer),
            };
            return [kind, r];
          }),
        ) as Record<ClientKind, HttpClientResult>,
      };
      out[cls.name] = result;
      const n = result.clients.nodeHttp;
      const f = result.clients.fetch;
      say(`  ${cls.name}: in-process p50 ${n.twin.p50}; node:http +${n.added.p50} (floor +${n.floorAdded.p50}, instant ${n.instant.p50}, server-side stack ${n.serverStack.p50}); fetch +${f.added.p50} (floor +${f.floorAdded.p50}) ms`);
    }
    return { client: "separate process", queries: opts.queries, classes: out };
  } finally {
    await client?.close();
    for (const s of servers) await s.close(1_000);
  }
}
