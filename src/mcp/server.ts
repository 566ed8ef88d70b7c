/**
 * The MCP server (official SDK, low-level Server: the tools' JSON schemas come from our Effect
 * schemas, not zod). One server per replica over stdio (`embedded-memory mcp`); over Streamable
 * HTTP (`POST /mcp` in serve) it is stateless: a server and transport per request, JSON answers.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import type { MemoryApi } from "../index.ts";
import { callTool, TOOLS } from "./tools.ts";

export const SERVER_INFO = { name: "embedded-memory", version: "0.1.0" } as const;

const INSTRUCTIONS =
  "Long-term memory for agents, answered from a local SQLite replica of a Postgres table: search before answering, store what is worth remembering. Results carry `state` and `complete` (whether the replica holds a full copy of the master).";

/** An MCP server whose tools act through `api` (the whole replica, or one tenant's view). */
export function createMcpServer(api: MemoryApi): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: TOOLS.map(({ name, title, description, inputSchema, outputSchema, annotations }) => ({ name, title, description, inputSchema, outputSchema, annotations })),
  }));
  server.setRequestHandler(CallToolRequestSchema, (request) => callTool(api, request.params.name, request.params.arguments) as never);
  return server;
}

/** POST /mcp: one stateless Streamable HTTP exchange (JSON response) against `api`. */
export async function handleMcpRequest(api: MemoryApi, request: Request, parsedBody?: unknown): Promise<Response> {
  const server = createMcpServer(api);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request, parsedBody === undefined ? undefined : { parsedBody });
  } finally {
    // Stateless: nothing outlives the exchange (the JSON body is complete once handleRequest resolves).
    void transport.close();
    void server.close();
  }
}
