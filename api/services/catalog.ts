// The service catalog over HTTP, and workers as clients see them (lib/services/catalog.ts, workers.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { isUniqueViolation } from '../../db/client.js';
import { activeByService, addService, changeService, listServices, serviceById, serviceJson } from '../../lib/services/catalog.js';
import { workerProfile } from '../../lib/services/workers.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotentTransaction, IdParam, jsonBody, jsonContent, validationResponses } from '../common.js';
import type { ApiDeps } from '../deps.js';
import { problemContent, problems } from '../problem.js';
import { signedIn } from '../security.js';

const ServiceName = z.string().trim().min(1).max(100);
export const Description = z.string().trim().max(2000);
const PriceCents = z.number().int().positive().max(100_000_000).openapi({ description: 'Integer cents', example: 2500 });

const ServiceSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    priceCents: z.number().int(),
    active: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Service');
const NewServiceBody = z
  .object({ name: ServiceName, description: Description.default(''), priceCents: PriceCents, active: z.boolean().default(true) })
  .strict()
  .openapi('NewService');
const ServiceChangeBody = z
  .object({ name: ServiceName.optional(), description: Description.optional(), priceCents: PriceCents.optional(), active: z.boolean().optional() })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'name at least one of name, description, priceCents, active')
  .openapi('ServiceChange', { minProperties: 1 });

const WorkerProfileSchema = z
  .object({
    workerId: z.uuid(),
    name: z.string(),
    services: z.array(z.object({ id: z.uuid(), name: z.string(), active: z.boolean() })).openapi({ description: 'Services the worker is qualified for' }),
    rating: z.object({
      average: z.number().nullable().openapi({ description: 'Mean of the clients’ ratings (1..5), two decimals; null before the first review' }),
      reviews: z.number().int(),
    }),
  })
  .openapi('ServiceWorker');

const nameTaken = (name: string) => problems.conflict(`a service named "${name}" exists`, 'service-name-taken');

/** Refuses, at `body.<field>.<index>`, a service that is not in the catalog or not offered any more. */
export async function checkOffered(deps: ApiDeps, field: string, serviceIds: string[]): Promise<void> {
  const active = await activeByService(deps.database.db, serviceIds);
  serviceIds.forEach((id, index) => {
    if (!active.has(id)) throw problems.invalid(`body.${field}.${index}`, `no service ${id}`);
    if (!active.get(id)) throw problems.invalid(`body.${field}.${index}`, `service ${id} is not offered any more`);
  });
}

export function serviceCatalogRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/services',
      operationId: 'listServices',
      tags: ['services'],
      summary: 'The service catalog, by name',
      ...signedIn(deps),
      request: { query: z.object({ active: z.enum(['true', 'false']).optional().openapi({ description: 'Only active (or inactive) services' }) }) },
      responses: { 200: jsonContent(z.object({ items: z.array(ServiceSchema) }), 'Services'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => {
      const { active } = c.req.valid('query');
      const rows = await listServices(db, { active: active === undefined ? undefined : active === 'true' });
      return c.json({ items: rows.map(serviceJson) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/services/{id}',
      operationId: 'getService',
      tags: ['services'],
      summary: 'One service of the catalog',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: { 200: jsonContent(ServiceSchema, 'The service'), 401: authResponses[401], 404: problemContent('No such service'), ...validationResponses },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const row = await serviceById(db, id);
      if (!row) throw problems.notFound(`service ${id}`);
      return c.json(serviceJson(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/services',
      operationId: 'addService',
      tags: ['services'],
      summary: 'Add a service to the catalog',
      ...signedIn(deps, 'admin'),
      request: { headers: IdempotencyHeaders, body: jsonBody(NewServiceBody) },
      responses: {
        201: jsonContent(ServiceSchema, 'The new service'),
        ...authResponses,
        409: problemContent('A service of that name exists'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const answer = await idempotentTransaction(c, deps, 'POST /services', async (tx) => {
        const created = await addService(tx, body);
        if (!created) throw nameTaken(body.name);
        return { status: 201, body: serviceJson(created) };
      });
      return c.json(answer.body, answer.status);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/services/{id}',
      operationId: 'updateService',
      tags: ['services'],
      summary: 'Change a service; requests already made keep their price',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam, body: jsonBody(ServiceChangeBody) },
      responses: {
        200: jsonContent(ServiceSchema, 'The changed service'),
        ...authResponses,
        404: problemContent('No such service'),
        409: problemContent('Another service has that name'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const changes = c.req.valid('json');
      try {
        const row = await changeService(db, id, changes);
        if (!row) throw problems.notFound(`service ${id}`);
        return c.json(serviceJson(row), 200);
      } catch (error) {
        if (isUniqueViolation(error)) throw nameTaken(changes.name ?? '');
        throw error;
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/services/workers/{id}',
      operationId: 'getWorkerProfile',
      tags: ['services'],
      summary: 'A worker as clients see them: the services they are qualified for and their rating',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: { 200: jsonContent(WorkerProfileSchema, 'The worker'), 401: authResponses[401], 404: problemContent('No such worker'), ...validationResponses },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const profile = await workerProfile(db, id);
      if (!profile) throw problems.notFound(`worker ${id}`);
      return c.json(profile, 200);
    },
  );

  return app;
}
