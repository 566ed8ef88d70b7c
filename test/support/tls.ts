/**
 * A Postgres that speaks TLS, for the sslmode tests: a throwaway CA made with openssl, a
 * server certificate it signed for `localhost` only (so 127.0.0.1 is a host name the
 * certificate does not hold), a second CA that signed nothing of the server's, and a
 * `sslonly` database that pg_hba lets in only over TLS.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestPostgres, PG_PASSWORD, type TestPostgres } from "./postgres.ts";
import { SYSTEM } from "./systemDeps.ts";

export interface TlsFiles {
  readonly dir: string;
  /** The CA that signed the server's certificate. */
  readonly caCert: string;
  /** A CA that signed nothing the server presents. */
  readonly otherCaCert: string;
  /** A client certificate and key (signed by caCert), for sslcert/sslkey. */
  readonly clientCert: string;
  readonly clientKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

const openssl = (args: string[], cwd: string) => execFileSync(SYSTEM.openssl.path, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });

/** EC keys: made in milliseconds, unlike RSA. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(dir: string, name: string): void {
  openssl(["req", "-x509", ...NEW_KEY, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
}

function signed(dir: string, name: string, ca: string, subject: string, ext: string): void {
  openssl(["req", ...NEW_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`], dir);
}

export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(path.join(os.tmpdir(), "em-tls-"));
  chmodSync(dir, 0o755); // the postgres user reads the server's files here
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  signed(dir, "server", "ca", "/CN=localhost", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n");
  signed(dir, "client", "ca", "/CN=postgres", "extendedKeyUsage=clientAuth\n");
  // The server sends its chain (leaf + CA), as hosted providers do: an untrusting client then
  // reports "self-signed certificate in certificate chain".
  const chain = path.join(dir, "server-chain.crt");
  writeFileSync(chain, Buffer.concat([readFileSync(path.join(dir, "server.crt")), readFileSync(path.join(dir, "ca.crt"))]));
  const serverKey = path.join(dir, "server.key");
  chmodSync(serverKey, 0o600);
  const f = (n: string) => path.join(dir, n);
  return { dir, caCert: f("ca.crt"), otherCaCert: f("other-ca.crt"), clientCert: f("client.crt"), clientKey: f("client.key"), serverCert: chain, serverKey };
}

/** Postgres refuses a key readable by others or owned by another user than itself. */
function giveKeyToPostgres(key: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  chownSync(key, uid, gid);
}

export interface TlsPostgres {
  readonly cluster: TestPostgres;
  readonly files: TlsFiles;
  /** A URL for `database` on `host` (`localhost` is in the certificate, 127.0.0.1 is not). */
  readonly url: (params: string, options?: { host?: string; database?: string }) => string;
  readonly destroy: () => Promise<void>;
}

/** A cluster with ssl=on; the `sslonly` database accepts TLS connections only. */
export async function createTlsPostgres(): Promise<TlsPostgres> {
  const files = makeTlsFiles();
  const hba = path.join(files.dir, "pg_hba.conf");
  writeFileSync(
    hba,
    [
      "local all all scram-sha-256",
      "hostssl sslonly all 127.0.0.1/32 scram-sha-256",
      "hostssl sslonly all ::1/128 scram-sha-256",
      "host sslonly all 127.0.0.1/32 reject",
      "host sslonly all ::1/128 reject",
      "host all all 127.0.0.1/32 scram-sha-256",
      "host all all ::1/128 scram-sha-256",
      "",
    ].join("\n"),
  );
  chmodSync(hba, 0o644);
  const cluster = await createTestPostgres({
    start: false,
    postgresFlags: ["-c", "ssl=on", "-c", `ssl_cert_file=${files.serverCert}`, "-c", `ssl_key_file=${files.serverKey}`, "-c", `hba_file=${hba}`],
  });
  giveKeyToPostgres(files.serverKey);
  await cluster.start();
  await cluster.sql("CREATE DATABASE sslonly");
  return {
    cluster,
    files,
    url: (params, o = {}) => `postgres://postgres:${PG_PASSWORD}@${o.host ?? "localhost"}:${cluster.port}/${o.database ?? "postgres"}${params ? `?${params}` : ""}`,
    destroy: async () => {
      await cluster.destroy();
      rmSync(files.dir, { recursive: true, force: true });
    },
  };
}
