/** `serve`: sync + HTTP until SIGINT/SIGTERM, then a graceful shutdown in reverse order. */
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";
import { createHttpApp } from "../http/app.ts";
import { startHttpServer } from "../http/server.ts";
import { startStatelyInspection } from "../runtime/statelyInspect.ts";
import { handleMcpRequest } from "../mcp/server.ts";

export async function runServe(config: Config, logger: Logger, inspectUrl?: string): Promise<number> {
  const log = logger.child({ module: "serve" });
  // Opt-in only: nothing of @statelyai/inspect is loaded without --inspect.
  const stately = inspectUrl ? await startStatelyInspection(inspectUrl, logger) : undefined;
  const memory = new EmbeddedMemory(config, { logger, inspect: stately?.inspect });
  await memory.start();
  const shutdown = new AbortController();
  const server = await startHttpServer(createHttpApp(memory, { apiKeys: config.apiKeys, logger, shutdown: shutdown.signal, metrics: memory.metrics, mcp: handleMcpRequest }), config.host, config.port);
  log.info({ url: server.url, replica: config.localPath, table: config.memoryTable }, `serving on ${server.url}`);
  if (config.apiKeys.length === 0) log.warn("API_KEYS is not set: protected endpoints answer 503");

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  // A second signal while shutting down means "now".
  const force = () => process.exit(130);
  process.once("SIGINT", force);
  process.once("SIGTERM", force);
  log.info({ signal }, "shutting down");
  shutdown.abort(); // event streams end, so in-flight requests are all that the close waits for
  await server.close(5_000);
  await memory.stop(10_000);
  stately?.stop();
  log.info("stopped");
  process.removeListener("SIGINT", force);
  process.removeListener("SIGTERM", force);
  return 0;
}
