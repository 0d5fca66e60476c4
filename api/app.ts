import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { TrieRouter } from 'hono/router/trie-router';
import { secureHeaders } from 'hono/secure-headers';
import { analyticsRoutes } from './analytics.js';
import { authRoutes } from './auth.js';
import { billingRoutes } from './billing.js';
import { billingDayRoutes } from './billing-days.js';
import { documentFrameworkResponses, findIllFormed } from './common.js';
import { dashboardRoutes } from './dashboard/routes.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { eventRoutes } from './events.js';
import { healthRoutes } from './health.js';
import { inventoryRoutes } from './inventories.js';
import { issueDiagramRoutes } from './issue-diagrams.js';
import { issueMigrationRoutes } from './issue-migrations.js';
import { issueRoutes } from './issues.js';
import { metricsRoutes, recordRequests } from './metrics.js';
import { notificationRoutes } from './notifications.js';
import { oidcSignInRoutes } from './oidc-sign-in.js';
import { documentRoutes } from './openapi.js';
import { ProblemError, problemResponse, problems, toProblem } from './problem.js';
import { workerApplicationRoutes } from './services/applications.js';
import { serviceCatalogRoutes } from './services/catalog.js';
import { serviceRequestRoutes } from './services/requests.js';
import { taskRoutes } from './tasks.js';
import { webhookRoutes } from './webhooks.js';
import { traceRequests } from './tracing.js';

/** Every router of the API; the authorization matrix test walks the same list. */
export const routers = [healthRoutes, metricsRoutes, authRoutes, oidcSignInRoutes, eventRoutes, issueRoutes, issueDiagramRoutes, issueMigrationRoutes, taskRoutes, inventoryRoutes, serviceCatalogRoutes, workerApplicationRoutes, serviceRequestRoutes, billingRoutes, billingDayRoutes, analyticsRoutes, notificationRoutes, webhookRoutes];

/**
 * Every call answers within this time: longer than an issue's recovery window after a worker failure (which
 * answers 503 itself), so only a hung dependency reaches it. The work may still finish; a retry with the same
 * Idempotency-Key then gets its result.
 */
const answerWithinMs = 75_000;
/** Streams stay open by design. */
const streamingPaths = new Set(['/notifications/stream']);

const answerInTime: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (streamingPaths.has(c.req.path)) return next();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ProblemError(503, 'unavailable', `no answer within ${answerWithinMs / 1000} s; retry shortly`, undefined, { 'Retry-After': '5' })),
      answerWithinMs,
    );
  });
  try {
    await Promise.race([next(), late]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * A JSON body is checked whole before any route's schema sees it: refinements that walk it (sizes, NUL scans)
 * would otherwise recurse as deep as it nests. Malformed JSON is left to the route's validator (400).
 */
const wellFormedJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.req.header('content-type')?.includes('json')) return next();
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return next();
  }
  const illFormed = findIllFormed(body);
  if (illFormed) throw problems.invalid(['body', ...illFormed.path].join('.'), illFormed.message);
  return next();
};

const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header('Cache-Control', 'no-store');
};

/**
 * The methods each registered path answers, found with the app's own path matching: a request whose path
 * matches a route but whose method matches none gets 405 with `Allow`, not the 404 of an unknown path. HEAD is
 * answered wherever GET is. Middleware (registered for every method) is not a route and allows nothing, nor
 * does a route that documents no successful answer (2xx, or a redirect): it is there to refuse (`DELETE /users/{id}`).
 */
function allowedMethods(app: OpenAPIHono<AppEnv>): (path: string) => string[] {
  const refusals = new Set(
    app.openAPIRegistry.definitions.flatMap((definition) =>
      definition.type === 'route' && !Object.keys(definition.route.responses).some((status) => /^(2|30[23])/.test(status))
        ? [`${definition.route.method.toUpperCase()} ${definition.route.path.replace(/\{(\w+)\}/g, ':$1')}`]
        : [],
    ),
  );
  const router = new TrieRouter<string>();
  for (const { method, path } of app.routes) if (method !== 'ALL' && !refusals.has(`${method} ${path}`)) router.add('ALL', path, method);
  return (path) => {
    const methods = new Set(router.match('GET', path)[0].map(([method]) => method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>();

  // First, so they see every final answer: errors, refusals by the middleware below and time-outs included.
  app.use(traceRequests(deps.tracing));
  app.use(recordRequests(deps));
  app.use(answerInTime);
  // nosniff, no framing, no referrer and the rest of the usual defaults on every answer; JSON answers load
  // nothing, so their policy allows nothing (the docs page sets its own).
  app.use(secureHeaders({ contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] }, overwrite: false }));
  // Tokens and the caller's own account are never kept by a cache.
  app.use('/auth/*', noStore);
  app.use('/me', noStore);

  app.use(
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: () => {
        // The rest of the body is never read: the connection cannot carry another request.
        throw new ProblemError(413, 'payload-too-large', 'the request body is larger than 1 MiB', undefined, { Connection: 'close' });
      },
    }),
  );
  app.use(wellFormedJson);
  for (const router of routers) app.route('/', router(deps));
  app.route('/', dashboardRoutes(deps));
  documentFrameworkResponses(app);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The token of `POST /auth/login`, or, with `OIDC_ISSUER` set, an access token of that identity provider.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'metricsToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'The `METRICS_TOKEN` setting, held by a Prometheus scraper (GET /metrics only).',
  });
  documentRoutes(app);

  const allowed = allowedMethods(app);
  app.notFound((c) => {
    const methods = allowed(c.req.path);
    if (methods.length > 0) {
      return problemResponse(
        c,
        new ProblemError(405, 'method-not-allowed', `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(', ')}`, undefined, {
          Allow: methods.join(', '),
        }),
      );
    }
    return problemResponse(c, new ProblemError(404, 'not-found', `no route for ${c.req.method} ${c.req.path}`));
  });
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem?.type === 'unavailable') deps.log.warn(`${c.req.method} ${c.req.path}: ${problem.message} (${String(error)})`);
    if (problem) return problemResponse(c, problem);
    deps.log.error(`${c.req.method} ${c.req.path} failed`, error);
    return problemResponse(c, new ProblemError(500, 'internal', 'an unexpected error occurred; it has been logged'));
  });
  return app;
}
