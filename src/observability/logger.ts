/**
 * The one pino root logger. Modules take a child (`logger.child({ module: "sync" })`).
 * Secrets never reach a log line: known secret values are scrubbed from every message
 * and error, and the usual secret-bearing keys are redacted by path.
 */
import { pino, stdSerializers, type Logger, type DestinationStream } from "pino";
import { Writable } from "node:stream";
import { scrub } from "../schema/config.ts";
import type { LogLevel } from "../schema/config.ts";

export type { Logger } from "pino";

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Values to scrub from every line (passwords, API keys). */
  readonly secrets?: readonly string[];
  /** Where lines go; defaults to stderr, pretty when stderr is a TTY. */
  readonly destination?: DestinationStream;
}

const REDACT_PATHS = [
  "password",
  "databaseUrl",
  "listenDatabaseUrl",
  "databaseReadUrl",
  "apiKey",
  "apiKeys",
  "embeddingApiKey",
  "*.password",
  "*.databaseUrl",
  "*.listenDatabaseUrl",
  "*.databaseReadUrl",
  "*.apiKeys",
  "*.embeddingApiKey",
  'headers["x-api-key"]',
  "headers.authorization",
];

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** A small human format for terminals: `12:00:01 INFO  sync: message {extra}`. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          const { level, time, msg, module, pid: _p, hostname: _h, err, ...rest } = JSON.parse(line);
          const t = new Date(time).toISOString().slice(11, 19);
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
          const error = err ? `\n    ${err.type ?? "Error"}: ${err.message}` : "";
          out.write(`${t} ${(LEVEL_NAMES[level] ?? level).padEnd(5)} ${module ? `${module}: ` : ""}${msg ?? ""}${extra}${error}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

export function createLogger(options: LoggerOptions): Logger {
  const secrets = options.secrets ?? [];
  const clean = (v: unknown): unknown => (typeof v === "string" ? scrub(v, secrets) : v);
  const destination = options.destination ?? (process.stderr.isTTY ? prettyStream(process.stderr) : pino.destination(2));
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      serializers: {
        err: (e: Error) => {
          const s = stdSerializers.err(e);
          return { ...s, message: clean(s.message), stack: clean(s.stack) };
        },
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(clean) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}

/** A logger that writes nothing, for library users who pass none. */
export const silentLogger = (): Logger => pino({ level: "silent" });
