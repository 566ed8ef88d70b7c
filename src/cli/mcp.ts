/**
 * `mcp`: the memory tools over stdio. stdout is the protocol channel, so nothing else may be
 * written there: logs go to stderr (the logger's destination), and this command prints nothing.
 * It ends when stdin closes (the client went away) or on SIGINT/SIGTERM.
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { Config } from "../schema/config.ts";
import type { Logger } from "../observability/logger.ts";
import { EmbeddedMemory } from "../runtime/embeddedMemory.ts";
import { createMcpServer } from "../mcp/server.ts";

/** How long a closing server waits for pending local writes to reach the master; the rest go up at the next start. */
export const OUTBOX_GRACE_MS = 3_000;
const OUTBOX_POLL_MS = 50;

export async function runMcp(config: Config, logger: Logger): Promise<number> {
  const log = logger.child({ module: "mcp" });
  const memory = new EmbeddedMemory(config, { logger });
  await memory.start();
  const server = createMcpServer(memory);
  const transport = new StdioServerTransport();
  await server.connect(transport);
  log.info({ replica: config.localPath, table: config.memoryTable }, "MCP server on stdio");

  await new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    transport.onclose = () => resolve();
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  const deadline = Date.now() + OUTBOX_GRACE_MS;
  while (memory.stats().outbox.pending > 0 && memory.stats().pool_connected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, OUTBOX_POLL_MS));
  }
  const left = memory.stats().outbox.pending;
  if (left > 0) log.warn({ pending: left }, "stopping with local writes not yet on the master: they are uploaded at the next start");
  await server.close().catch(() => undefined);
  await memory.stop(5_000);
  log.info("stopped");
  return 0;
}
