/**
 * A small OpenAI-compatible embeddings server on loopback: POST /v1/embeddings answers
 * deterministic vectors (feature hashing), records what it was sent, and can be told to
 * fail the next calls with a status.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { hashEmbedding } from "../../src/search/embedding/Embedder.ts";

export interface FakeOpenAi {
  readonly baseUrl: string;
  readonly calls: { model: string; input: string[]; authorization: string | undefined; status: number }[];
  failNext(count: number, status: number): void;
  /** While silent, requests are read and recorded but never answered (a black-holed endpoint). */
  silence(on: boolean): void;
  close(): Promise<void>;
}

export async function startFakeOpenAi(dim: number): Promise<FakeOpenAi> {
  const calls: FakeOpenAi["calls"] = [];
  let failures = 0;
  let failStatus = 500;
  let silent = false;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/embeddings") {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(raw) as { model: string; input: string[] };
      if (silent) {
        calls.push({ model: body.model, input: body.input, authorization: req.headers.authorization, status: 0 });
        return; // never answered
      }
      const failing = failures > 0;
      calls.push({ model: body.model, input: body.input, authorization: req.headers.authorization, status: failing ? failStatus : 200 });
      if (failing) {
        failures--;
        res.writeHead(failStatus, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "try again" } }));
        return;
      }
      const data = body.input.map((t, index) => ({ object: "embedding", index, embedding: Array.from(hashEmbedding(t, dim)) }));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data, model: body.model }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    failNext: (count, status) => ((failures = count), (failStatus = status)),
    silence: (on) => void (silent = on),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections(); // held requests too
        server.close(() => resolve());
      }),
  };
}
