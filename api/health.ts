// Liveness of the API, the database and Temporal, each reported on its own.
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from './common.js';
import type { ApiDeps } from './deps.js';

const Status = z.enum(['up', 'down']);
const HealthSchema = z
  .object({
    status: Status,
    api: Status,
    database: Status,
    temporal: Status,
    errors: z.record(z.string(), z.string()).optional(),
  })
  .openapi('Health');

/** How long each dependency has to answer. */
const probeMs = 2000;

const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);

export function healthRoutes(deps: ApiDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      tags: ['health'],
      summary: 'Liveness of API, database and Temporal',
      security: [],
      responses: {
        200: { description: 'Everything is up', content: { 'application/json': { schema: HealthSchema } } },
        503: { description: 'The database or Temporal is down', content: { 'application/json': { schema: HealthSchema } } },
      },
    }),
    async (c) => {
      const errors: Record<string, string> = {};
      const probe = async (name: string, check: () => Promise<unknown>) => {
        try {
          await within(probeMs, check());
          return 'up' as const;
        } catch (error) {
          errors[name] = (error as Error).message;
          return 'down' as const;
        }
      };
      const [database, temporal] = await Promise.all([
        probe('database', () => deps.database.sql`select 1`),
        // The call's own deadline ends it (and the SDK's retries) with the probe: nothing is left running when Temporal is down.
        probe('temporal', () => deps.temporal.connection.withDeadline(Date.now() + probeMs, () => deps.temporal.connection.workflowService.getSystemInfo({}))),
      ]);
      const status = database === 'up' && temporal === 'up' ? ('up' as const) : ('down' as const);
      const body = { status, api: 'up' as const, database, temporal, ...(status === 'down' ? { errors } : {}) };
      return status === 'up' ? c.json(body, 200) : c.json(body, 503);
    },
  );
  return app;
}
