/**
 * Child-process HTTP client for the search benchmark (see bench/searchHttp.ts). The client
 * runs in its own process, as an agent calling the service would: sending requests, parsing
 * answers and its own garbage collection do not share the server's thread. One request per
 * IPC message; the time is measured here, around the request alone (send → answer parsed).
 */
import http from "node:http";
import { performance } from "node:perf_hooks";

export type ClientKind = "nodeHttp" | "fetch";

export type ClientCommand =
  | { readonly kind: "init"; readonly urls: readonly string[]; readonly apiKey: string }
  | { readonly kind: "request"; readonly target: number; readonly client: ClientKind; readonly body: string };

export type ClientReply =
  | { readonly kind: "ready" }
  | { readonly kind: "timed"; readonly ms: number; readonly status: number; readonly method: string | null }
  | { readonly kind: "failed"; readonly error: string };

interface Answer {
  readonly status: number;
  readonly text: string;
}

interface Target {
  readonly url: URL;
  // One keep-alive connection per server, as a client reusing its connection would.
  readonly agent: http.Agent;
}
let targets: Target[] = [];
let apiKey = "";

function viaNodeHttp(t: Target, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: t.url.hostname,
        port: t.url.port,
        path: "/memory/search",
        method: "POST",
        agent: t.agent,
        headers: { "content-type": "application/json", "x-api-key": apiKey, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function viaFetch(t: Target, body: string): Promise<Answer> {
  const res = await fetch(new URL("/memory/search", t.url), { method: "POST", headers: { "content-type": "application/json", "x-api-key": apiKey }, body });
  return { status: res.status, text: await res.text() };
}

async function timedRequest(target: number, client: ClientKind, body: string): Promise<ClientReply> {
  const t = targets[target];
  if (!t) throw new Error(`no target ${target}`);
  const t0 = performance.now();
  const answer = await (client === "fetch" ? viaFetch(t, body) : viaNodeHttp(t, body));
  const parsed = JSON.parse(answer.text) as { search_method?: string };
  const ms = performance.now() - t0;
  return { kind: "timed", ms, status: answer.status, method: parsed.search_method ?? null };
}

function handle(cmd: ClientCommand): Promise<ClientReply> {
  if (cmd.kind === "init") {
    targets = cmd.urls.map((u) => ({ url: new URL(u), agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) }));
    apiKey = cmd.apiKey;
    return Promise.resolve({ kind: "ready" });
  }
  return timedRequest(cmd.target, cmd.client, cmd.body);
}

process.on("message", (cmd: ClientCommand) => {
  handle(cmd)
    .catch((e: unknown): ClientReply => ({ kind: "failed", error: e instanceof Error ? e.message : String(e) }))
    .then((reply) => process.send!(reply));
});
// The parent closing the channel ends this process (open keep-alive sockets must not hold it).
process.on("disconnect", () => {
  for (const t of targets) t.agent.destroy();
  process.exit(0);
});
