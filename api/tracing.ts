// One server span per HTTP request (only with tracing on: lib/tracing.ts). It continues the caller's trace when the
// request carries a W3C `traceparent`, and everything the request causes joins it: its SQL, the Temporal start or
// update it sends (the client's interceptor carries the context into the workflow), the workflow's activities.
import { context, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import type { Tracing } from '../lib/tracing.js';
import type { AppEnv } from './deps.js';
import { routeTemplate } from './metrics.js';

const requestHeaders: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/**
 * Registered first in api/app.ts, so the span covers every answer, refusals of the other middleware and time-outs
 * included. Named by method and route template (`POST /tasks/:id/complete`, as the metrics label it), never by the
 * path itself; a request no route matches is named by its method alone. Answers of 500 and up mark it failed.
 */
export function traceRequests(tracing: Tracing | undefined): MiddlewareHandler<AppEnv> {
  if (!tracing) return (_c, next) => next();
  const { tracer } = tracing;
  return async (c, next) => {
    const caller = propagation.extract(context.active(), c.req.raw.headers, requestHeaders);
    const { method } = c.req;
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': c.req.path } }, caller);
    try {
      await context.with(trace.setSpan(caller, span), next);
    } finally {
      const route = routeTemplate(c);
      if (route !== 'unmatched') {
        span.updateName(`${method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', c.res.status);
      const user = c.get('user');
      if (user) span.setAttribute('enduser.id', user.id);
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${c.res.status}` });
      span.end();
    }
  };
}
