// The OpenAPI document (GET /openapi.json) and the reference page reading it (GET /docs). The document is built
// from the routes' own zod schemas, lints clean under Redocly's `recommended` rules (redocly.yaml, `npm run
// lint:openapi`) and is what the typed client in test/support/api-schema.d.ts is generated from.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps.js';
import { docsPage, scalarScriptHandler, scalarScriptPath } from './docs.js';

const info = {
  title: 'aTES',
  version: '1.0.0',
  description: 'Issue lifecycles as statecharts and a per-day billing cycle, run as durable Temporal workflows.',
};

/**
 * Relative: wherever the document was fetched from is the API (a proxy in front, a test's random port), so a
 * client or schemathesis resolves it against the document's own address. A generated client is handed its base
 * URL (openapi-fetch's `baseUrl`) and needs no host written here.
 */
const servers = [{ url: '/', description: 'This API: the origin the document was fetched from' }];

/**
 * The document as served. `errorMessage` (the message a built-in type's input schema refuses a value with,
 * lib/issues/builtin-input.ts) is a keyword only this API reads; in the document it travels as the extension
 * `x-errorMessage`, which OpenAPI tools accept, and stored type definitions keep their `errorMessage`.
 */
export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  return asExtensionKeywords(app.getOpenAPI31Document({ openapi: '3.1.0', info, servers }));
}

function asExtensionKeywords<T>(node: T): T {
  if (Array.isArray(node)) return node.map(asExtensionKeywords) as T;
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      // A string value: a keyword. A property that happens to be named errorMessage has a schema (an object).
      key === 'errorMessage' && typeof value === 'string' ? 'x-errorMessage' : key,
      asExtensionKeywords(value),
    ]),
  ) as T;
}

const documentRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  tags: ['docs'],
  summary: 'This OpenAPI 3.1 document',
  security: [],
  responses: {
    200: {
      description: 'The document: every route with its schemas, responses and security',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi('OpenApiDocument') } },
    },
  },
});

const referencePageRoute = createRoute({
  method: 'get',
  path: '/docs',
  operationId: 'getApiReference',
  tags: ['docs'],
  summary: 'A reference page of this API, reading /openapi.json (every asset served by this API)',
  security: [],
  responses: { 200: { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } } },
});

/** Serves the document and the reference page, both public and both in the document. */
export function documentRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(documentRoute, (c) => c.json(openApiDocument(app), 200));
  // The page is Scalar's HTML, not a typed answer: its route is documented and served as plain Hono.
  app.openAPIRegistry.registerPath(referencePageRoute);
  app.get(referencePageRoute.path, docsPage);
  // The page's script: an asset of the page, not an operation of the API.
  app.get(scalarScriptPath, scalarScriptHandler);
}
