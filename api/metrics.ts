// Prometheus metrics of the API: requests by route template, method and status, their latency, and the Node
// process's own metrics (prom-client's defaults). Served at GET /metrics to a scraper holding METRICS_TOKEN.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { createHash, timingSafeEqual } from 'node:crypto';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { createRouter } from './common.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { ProblemError, problemContent, problems } from './problem.js';

interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route' | 'status'>;
}

let metrics: ApiMetrics | undefined;

/**
 * One registry per process, made when the first app with metrics is: the Node metrics describe the process, and
 * every app in it (tests build several) counts into the same series.
 */
function apiMetrics(): ApiMetrics {
  if (metrics) return metrics;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  metrics = {
    registry,
    requests: new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route template and status.', labelNames, registers: [registry] }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request (to its headers, for a stream), by method, route template and status.',
      labelNames,
      // Every call answers within 75 s (api/app.ts).
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 75],
      registers: [registry],
    }),
  };
  return metrics;
}

const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The template of the route that answered (`/tasks/:id/complete`), never the path itself, so labels stay few
 * whatever a caller sends: a request no route matches is `unmatched`. Middleware entries (method ALL, e.g. `*`) are
 * not routes; when middleware answered before the route's handler ran (413, 422 of the edge checks), the route the
 * request was headed for is named.
 */
export function routeTemplate(c: Context): string {
  const matched = matchedRoutes(c);
  const answered = matched[c.req.routeIndex];
  if (answered && answered.method !== 'ALL') return answered.path;
  return matched.find((route) => route.method !== 'ALL')?.path ?? 'unmatched';
}

/** Records every request; registered first in api/app.ts, so it sees the final answer, errors and time-outs included. */
export function recordRequests(deps: ApiDeps): MiddlewareHandler<AppEnv> {
  if (!deps.config.metrics.token) return (_c, next) => next();
  const { requests, duration } = apiMetrics();
  return async (c, next) => {
    const stop = duration.startTimer();
    try {
      await next();
    } finally {
      const labels = { method: knownMethods.has(c.req.method) ? c.req.method : 'other', route: routeTemplate(c), status: String(c.res.status) };
      requests.inc(labels);
      stop(labels);
    }
  };
}

/** The Prometheus text format (`registry.contentType` adds its version and charset). */
const prometheusText: string = 'text/plain';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Whether the request carries the metrics token (compared in constant time). */
function holdsToken(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token));
}

export function metricsRoutes(deps: ApiDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      tags: ['health'],
      summary: 'Prometheus metrics of this API process',
      description:
        'Requests by method, route template and status (`http_requests_total`), their latency (`http_request_duration_seconds`) and the Node process metrics, in the Prometheus text format. Needs the `METRICS_TOKEN` as bearer token; without that setting the API serves no metrics (404).',
      security: [{ metricsToken: [] }],
      responses: {
        200: { description: 'The metrics', content: { [prometheusText]: { schema: z.string().openapi({ example: 'http_requests_total{method="GET",route="/health",status="200"} 3\n' }) } } },
        401: problemContent('No token, or not the metrics token.'),
        404: problemContent('Metrics are off: METRICS_TOKEN is not set.'),
      },
    }),
    async (c) => {
      const { token } = deps.config.metrics;
      if (!token) throw new ProblemError(404, 'not-found', 'metrics are off: METRICS_TOKEN is not set');
      if (!holdsToken(c.req.header('authorization'), token)) throw problems.unauthorized('the metrics token is required as bearer token');
      const { registry } = apiMetrics();
      return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
    },
  );
  return app;
}
