/**
 * GET /openapi.json: the API as OpenAPI 3.1, generated from the schemas the routes decode
 * requests with (src/schema, exported by the package root), so the document cannot drift from what is accepted.
 */
import * as Schema from "effect/Schema";
import { ForceSyncQuery, MemoryId, MemoryWrite, SearchQuery, SearchRequest, TableKey, TableQueryString } from "../index.ts";
import { SEARCH_BODY_LIMIT_BYTES } from "./searchRoutes.ts";
import { WRITE_BODY_LIMIT_BYTES } from "./memoryRoutes.ts";

type Json = Record<string, unknown>;

const jsonSchema = (s: Schema.Top): Json => Schema.toJsonSchemaDocument(s).schema as Json;

/** A struct schema's fields as query parameters. */
function queryParameters(s: Schema.Top): Json[] {
  const props = (jsonSchema(s).properties ?? {}) as Record<string, Json>;
  return Object.entries(props).map(([name, schema]) => ({ name, in: "query", required: false, schema }));
}

const error = { description: "An error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
const json = (description: string, schema: Json = { type: "object" }) => ({ description, content: { "application/json": { schema } } });
const protectedResponses = {
  "400": { ...error, description: "Bad input: `error` names the field, `field` holds its path" },
  "401": { ...error, description: "Missing or wrong API key" },
  "503": { ...error, description: "API_KEYS is not set (protected endpoints are disabled)" },
};
const secured = { security: [{ apiKey: [] }, { bearer: [] }] };
const tableName = { name: "name", in: "path", required: true, schema: { type: "string" }, description: "the table's local name: unified_ai_memory or a further replicated table (REPLICATE_TABLES)" };
const tablePage = {
  type: "object",
  required: ["table", "rows", "next_cursor", "complete"],
  properties: {
    table: { type: "string" },
    rows: { type: "array", items: { type: "object" } },
    next_cursor: { type: ["string", "null"], description: "the next page's cursor; null on the last page" },
    complete: { type: "boolean", description: "false while the table is being copied (first copy, or anew): rows may be missing or partial" },
  },
};

export function openApiDocument(): Json {
  return {
    openapi: "3.1.0",
    info: {
      title: "embedded-memory",
      version: "0.1.0",
      description: "A local SQLite replica of the agents' memory table in a master PostgreSQL: search and write locally; the replica syncs with the master.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        bearer: { type: "http", scheme: "bearer" },
      },
      schemas: {
        Error: { type: "object", required: ["error"], properties: { error: { type: "string" }, field: { type: "string" } } },
        SearchBody: jsonSchema(SearchRequest),
        MemoryBody: jsonSchema(MemoryWrite),
      },
    },
    paths: {
      "/health": { get: { summary: "Liveness", responses: { "200": json("The process runs", { type: "object", properties: { status: { const: "ok" } } }) } } },
      "/ready": { get: { summary: "Readiness: first copy complete and master reachable", responses: { "200": json("Ready"), "503": json("Not ready; `state` says why") } } },
      "/memory/stats": { get: { summary: "Sync, outbox and replica statistics", responses: { "200": json("The stats object (see README)") } } },
      "/memory/force-sync": {
        post: { summary: "Run a sync that starts after the request; answer when it ends", ...secured, parameters: queryParameters(ForceSyncQuery), responses: { "200": json("The sync ran"), ...protectedResponses, "503": json("Master unreachable (success: false), or API_KEYS unset") } },
      },
      "/memory/search": {
        get: { summary: "Hybrid local search", ...secured, parameters: queryParameters(SearchQuery), responses: { "200": json("Results, ranked"), ...protectedResponses } },
        post: {
          summary: "Hybrid local search, with an optional query vector and filters",
          ...secured,
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/SearchBody" } } }, description: `At most ${SEARCH_BODY_LIMIT_BYTES} bytes` },
          responses: { "200": json("Results, ranked"), ...protectedResponses, "413": error },
        },
      },
      "/memory": {
        post: {
          summary: "Store a memory (insert, or update by id); durable locally before the answer, uploaded to the master",
          ...secured,
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/MemoryBody" } } }, description: `At most ${WRITE_BODY_LIMIT_BYTES} bytes` },
          responses: { "201": json("The stored row (pending: true until the master has it)"), ...protectedResponses, "413": error },
        },
      },
      "/memory/{id}": {
        parameters: [{ name: "id", in: "path", required: true, schema: jsonSchema(MemoryId) }],
        get: { summary: "One memory from the replica", ...secured, responses: { "200": json("The row"), "404": error, ...protectedResponses } },
        delete: { summary: "Delete locally at once; the delete is uploaded", ...secured, responses: { "200": json("Deleted"), "404": error, ...protectedResponses } },
      },
      "/tables/{name}": {
        parameters: [tableName],
        get: {
          summary: "Rows of a replicated table from the local replica, a page at a time (cursor pagination)",
          ...secured,
          parameters: [
            ...queryParameters(TableQueryString),
            {
              name: "filters",
              in: "query",
              required: false,
              style: "form",
              explode: true,
              description: "every other parameter, `<column>=<value>`, keeps only rows whose column equals the value (checked against the column's type; an empty value matches empty text)",
              schema: { type: "object", additionalProperties: { type: "string" } },
            },
          ],
          responses: { "200": json("A page of rows", tablePage), ...protectedResponses, "400": { ...error, description: "Unknown table or column, a value not of its column's type, order_by not the key or an indexed column, a bad limit or cursor" } },
        },
      },
      "/tables/{name}/{key}": {
        parameters: [tableName, { name: "key", in: "path", required: true, schema: jsonSchema(TableKey), description: "the row's key, checked against the key column's type" }],
        get: { summary: "One row of a replicated table from the local replica", ...secured, responses: { "200": json("The row: the master's column names, JSON values"), "404": error, ...protectedResponses } },
      },
      "/memory/events": { get: { summary: "Server-Sent Events: machine transitions and events", responses: { "200": { description: "An event stream", content: { "text/event-stream": {} } } } } },
      "/memory/machines": { get: { summary: "The machines' definitions and current states", responses: { "200": json("Definitions and states") } } },
      "/inspector": { get: { summary: "The live statechart inspector page", responses: { "200": { description: "HTML", content: { "text/html": {} } } } } },
      "/inspector/{file}": {
        parameters: [{ name: "file", in: "path", required: true, schema: { type: "string" } }],
        get: { summary: "The inspector page's scripts, styles and icon", responses: { "200": { description: "A static asset" }, "404": error } },
      },
      "/metrics": { get: { summary: "Prometheus metrics", responses: { "200": { description: "Prometheus text format", content: { "text/plain": {} } } } } },
      "/openapi.json": { get: { summary: "This document", responses: { "200": json("OpenAPI 3.1") } } },
      "/mcp": {
        post: {
          summary: "MCP over Streamable HTTP (stateless, JSON responses): the same tools as `embedded-memory mcp`, through the key's tenant view",
          ...secured,
          requestBody: { required: true, content: { "application/json": { schema: { type: "object", description: "a JSON-RPC 2.0 message" } } } },
          responses: { "200": json("A JSON-RPC response"), "202": { description: "A notification was accepted" }, ...protectedResponses },
        },
        get: { summary: "Not offered (stateless: no server-initiated stream)", ...secured, responses: { "405": error } },
        delete: { summary: "Not offered (stateless: no session)", ...secured, responses: { "405": error } },
      },
    },
  };
}
