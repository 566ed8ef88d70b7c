/** HTTP helpers for tests that send what fetch cannot (a body the server refuses early). */
import http from "node:http";

/**
 * A server that refuses a body early answers and hangs up while the client still writes: the
 * write fails, but the answer may already be on its way. Fail only once the socket is closed
 * (nothing more can arrive), so a response that came wins.
 */
const failOnceClosed = (req: http.ClientRequest, reject: (e: Error) => void) => (e: Error) => {
  const socket = req.socket;
  if (!socket || socket.closed) reject(e);
  else socket.once("close", () => reject(e));
};

/** POSTs `body` and resolves with the status, even if the server answers before reading it all. */
export function postRaw(url: string, headers: Record<string, string>, body: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", failOnceClosed(req, reject));
    req.on("socket", (socket) => socket.on("error", () => undefined)); // EPIPE once the server stopped reading
    req.end(body);
  });
}

/** POSTs a body in chunks without a Content-Length (Transfer-Encoding: chunked); resolves to the status. */
export function postChunked(url: string, headers: Record<string, string>, chunk: string, times: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", failOnceClosed(req, reject));
    req.on("socket", (socket) => socket.on("error", () => undefined));
    for (let i = 0; i < times; i++) req.write(chunk);
    req.end();
  });
}
