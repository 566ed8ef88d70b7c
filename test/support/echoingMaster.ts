/**
 * A fake Postgres on 127.0.0.1 that asks every client for its password in clear text and then
 * refuses it with an error that repeats it, as a misbehaving pooler or proxy might. It speaks
 * just enough of the wire protocol for node-postgres to read the error: the password in the
 * error is the one the client really sent, so a test sees what a replica would show of it.
 */
import net from "node:net";

export interface EchoingMaster {
  readonly port: number;
  /** The passwords clients have sent, in order. */
  readonly received: () => readonly string[];
  readonly close: () => Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** One backend message: a type byte, an int32 length that counts itself, then the body. */
const message = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};

const authCleartext = (): Buffer => {
  const body = Buffer.alloc(4);
  body.writeInt32BE(3, 0); // AuthenticationCleartextPassword
  return message("R", body);
};

const errorResponse = (fields: Record<string, string>): Buffer =>
  message("E", Buffer.concat([...Object.entries(fields).map(([k, v]) => Buffer.from(`${k}${v}\0`, "utf8")), Buffer.from([0])]));

export async function startEchoingMaster(): Promise<EchoingMaster> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (!started) {
          // Untyped startup packets: int32 length, int32 code, parameters.
          if (buffered.length < 8) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          const code = buffered.readInt32BE(4);
          buffered = buffered.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write("N"); // no encryption here
            continue;
          }
          started = true;
          socket.write(authCleartext());
          continue;
        }
        if (buffered.length < 5) return;
        const length = buffered.readInt32BE(1);
        if (buffered.length < length + 1) return;
        const type = String.fromCharCode(buffered[0]!);
        const body = buffered.subarray(5, length + 1);
        buffered = buffered.subarray(length + 1);
        if (type !== "p") continue;
        const password = body.toString("utf8").replace(/\0$/, "");
        received.push(password);
        socket.end(errorResponse({ S: "FATAL", V: "FATAL", C: "28P01", M: `password authentication failed: "${password}" is not the password` }));
        return;
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => [...received],
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
