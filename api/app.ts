import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { bodyLimit } from 'hono/body-limit';
import { analyticsRoutes } from './analytics.js';
import { authRoutes } from './auth.js';
import { billingRoutes } from './billing.js';
import { billingDayRoutes } from './billing-days.js';
import { documentFrameworkResponses } from './common.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { eventRoutes } from './events.js';
import { healthRoutes } from './health.js';
import { inventoryRoutes } from './inventories.js';
import { issueRoutes } from './issues.js';
import { notificationRoutes } from './notifications.js';
import { ProblemError, problemResponse, toProblem } from './problem.js';
import { serviceRoutes } from './services.js';
import { taskRoutes } from './tasks.js';

/** Every router of the API; the authorization matrix test walks the same list. */
export const routers = [healthRoutes, authRoutes, eventRoutes, issueRoutes, taskRoutes, inventoryRoutes, serviceRoutes, billingRoutes, billingDayRoutes, analyticsRoutes, notificationRoutes];

export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono<AppEnv>();

  app.use(
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: () => {
        // The rest of the body is never read: the connection cannot carry another request.
        throw new ProblemError(413, 'payload-too-large', 'the request body is larger than 1 MiB', undefined, { Connection: 'close' });
      },
    }),
  );
  for (const router of routers) app.route('/', router(deps));
  documentFrameworkResponses(app);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'aTES',
      version: '1.0.0',
      description: 'Issue lifecycles as statecharts and a per-day billing cycle, run as durable Temporal workflows.',
    },
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'aTES API' }));

  app.notFound((c) => problemResponse(c, new ProblemError(404, 'not-found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem) return problemResponse(c, problem);
    deps.log.error(`${c.req.method} ${c.req.path} failed`, error);
    return problemResponse(c, new ProblemError(500, 'internal', 'an unexpected error occurred; it has been logged'));
  });
  return app;
}
