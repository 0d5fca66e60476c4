// Services context over HTTP (SPEC §5.3, seed 002): the service catalog, worker applications, workers' ratings,
// and service requests — shortcuts over the generic issue API, like /tasks.
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, eq, getTableColumns, inArray } from 'drizzle-orm';
import { publishToTopic } from '../lib/issues/topics.js';
import { transaction, type Tx } from '../db/client.js';
import { appendEvent } from '../db/events.js';
import { users } from '../db/schema/auth.js';
import { issues } from '../db/schema/issues.js';
import {
  services,
  workerApplications,
  workerApplicationServices,
  workerApplicationStatuses,
  workerQualifications,
  workerRatings,
  type ServiceRow,
  type WorkerApplicationRow,
} from '../db/schema/services.js';
import { ServiceEventFields, ServiceRequestFields } from '../lib/services/issue-type.js';
import type { PublicUser } from '../db/users.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, idempotentTransaction, IdParam, jsonBody, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { IssueSchema, issueService, unavailableResponse } from './issues.js';
import { problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

const ServiceName = z.string().trim().min(1).max(100);
const Description = z.string().trim().max(2000);
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

const ApplicationSchema = z
  .object({
    id: z.uuid(),
    workerId: z.uuid(),
    serviceIds: z.array(z.uuid()),
    note: z.string(),
    status: z.enum(workerApplicationStatuses),
    rejectionReason: z.string().nullable(),
    decidedBy: z.uuid().nullable(),
    decidedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('WorkerApplication');
const NewApplicationBody = z
  .object({
    serviceIds: z
      .array(z.uuid())
      .min(1)
      .max(50)
      .refine((ids) => new Set(ids).size === ids.length, 'name each service once'),
    note: Description.default(''),
  })
  .strict()
  .openapi('NewWorkerApplication');
const RejectBody = z.object({ reason: z.string().trim().min(1).max(2000) }).strict().openapi('WorkerApplicationRejection');
const ApplicationsQuery = PageQuery.extend({ status: z.enum(workerApplicationStatuses).optional() });
const applicationPages = pages([workerApplications.createdAt, workerApplications.id], 'asc');

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

/**
 * A route's copy of a service-request schema, named in the OpenAPI document. zod gives an instance the methods its
 * prototype had when it was made: schemas built before `@hono/zod-openapi` loaded have no `.openapi` (lib/services/issue-type.ts does
 * not load it), copies made here do.
 */
const named = <S extends z.ZodRawShape>(schema: z.ZodObject<S, z.core.$strict>, name: string) => schema.extend({}).openapi(name);
const NewServiceRequestBody = named(ServiceRequestFields, 'NewServiceRequest');

const serviceJson = (row: ServiceRow) => ({ ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() });
const applicationJson = (row: WorkerApplicationRow, serviceIds: string[]) => ({
  id: row.id,
  workerId: row.workerId,
  serviceIds,
  note: row.note,
  status: row.status,
  rejectionReason: row.rejectionReason,
  decidedBy: row.decidedBy,
  decidedAt: row.decidedAt?.toISOString() ?? null,
  createdAt: row.createdAt.toISOString(),
});

/** PostgreSQL's unique_violation, wherever the driver or drizzle wrapped it. */
const isUniqueViolation = (error: unknown): boolean => {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if ((e as { code?: unknown }).code === '23505') return true;
  return false;
};
const nameTaken = (name: string) => problems.conflict(`a service named "${name}" exists`, 'service-name-taken');

export function serviceRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;
  const issueApi = issueService(deps);

  const servicesOf = async (applicationIds: string[], tx: Tx = db) => {
    const rows = applicationIds.length
      ? await tx.select().from(workerApplicationServices).where(inArray(workerApplicationServices.applicationId, applicationIds))
      : [];
    const byApplication = new Map<string, string[]>(applicationIds.map((id) => [id, []]));
    for (const row of rows) byApplication.get(row.applicationId)!.push(row.serviceId);
    return byApplication;
  };

  // ---- the catalog ----

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
      const rows = await db
        .select()
        .from(services)
        .where(active === undefined ? undefined : eq(services.active, active === 'true'))
        .orderBy(asc(services.name));
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
      const [row] = await db.select().from(services).where(eq(services.id, id));
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
        const [created] = await tx.insert(services).values(body).onConflictDoNothing({ target: services.name }).returning();
        if (!created) throw nameTaken(body.name);
        await appendEvent(tx, { name: 'service.created', version: 1, producer: 'services', data: serviceJson(created) });
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
        const row = await transaction(db, 'services.service.change', async (tx) => {
          const [changed] = await tx
            .update(services)
            .set({ ...changes, updatedAt: new Date() })
            .where(eq(services.id, id))
            .returning();
          if (!changed) throw problems.notFound(`service ${id}`);
          await appendEvent(tx, { name: 'service.updated', version: 1, producer: 'services', data: { ...serviceJson(changed), changed: Object.keys(changes) } });
          return changed;
        });
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
      const [worker] = await db.select({ id: users.id, name: users.name, role: users.role }).from(users).where(eq(users.id, id));
      if (!worker || worker.role !== 'worker') throw problems.notFound(`worker ${id}`);
      const qualified = await db
        .select({ id: services.id, name: services.name, active: services.active })
        .from(workerQualifications)
        .innerJoin(services, eq(services.id, workerQualifications.serviceId))
        .where(eq(workerQualifications.workerId, id))
        .orderBy(asc(services.name));
      const [rating] = await db.select().from(workerRatings).where(eq(workerRatings.workerId, id));
      const reviews = rating?.reviews ?? 0;
      return c.json(
        {
          workerId: worker.id,
          name: worker.name,
          services: qualified,
          rating: { average: reviews ? Math.round((rating!.ratingSum * 100) / reviews) / 100 : null, reviews },
        },
        200,
      );
    },
  );

  // ---- worker applications ----

  app.openapi(
    createRoute({
      method: 'post',
      path: '/worker-applications',
      operationId: 'submitWorkerApplication',
      tags: ['worker applications'],
      summary: 'Apply to perform services (workers)',
      ...signedIn(deps, 'worker'),
      request: { headers: IdempotencyHeaders, body: jsonBody(NewApplicationBody) },
      responses: { 201: jsonContent(ApplicationSchema, 'The pending application'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const worker = c.get('user');
      const known = new Map(
        (await db.select({ id: services.id, active: services.active }).from(services).where(inArray(services.id, body.serviceIds))).map((s) => [s.id, s.active]),
      );
      body.serviceIds.forEach((id, index) => {
        if (!known.has(id)) throw problems.invalid(`body.serviceIds.${index}`, `no service ${id}`);
        if (!known.get(id)) throw problems.invalid(`body.serviceIds.${index}`, `service ${id} is not offered any more`);
      });
      const answer = await idempotentTransaction(c, deps, 'POST /worker-applications', async (tx) => {
        const [created] = await tx.insert(workerApplications).values({ workerId: worker.id, note: body.note }).returning();
        await tx.insert(workerApplicationServices).values(body.serviceIds.map((serviceId) => ({ applicationId: created!.id, serviceId })));
        await appendEvent(tx, {
          name: 'worker_application.submitted',
          version: 1,
          producer: 'services',
          data: { applicationId: created!.id, workerId: worker.id, serviceIds: body.serviceIds },
        });
        return { status: 201, body: applicationJson(created!, body.serviceIds) };
      });
      return c.json(answer.body, answer.status);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/worker-applications',
      operationId: 'listWorkerApplications',
      tags: ['worker applications'],
      summary: 'Applications, oldest first: every one for admins and managers, their own for workers',
      ...signedIn(deps, 'admin', 'manager', 'worker'),
      request: { query: ApplicationsQuery },
      responses: { 200: jsonContent(page(ApplicationSchema), 'A page of applications'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const user = c.get('user');
      const { after, limit, status } = c.req.valid('query');
      const rows = await db
        .select(applicationPages.select(getTableColumns(workerApplications)))
        .from(workerApplications)
        .where(
          and(
            user.role === 'worker' ? eq(workerApplications.workerId, user.id) : undefined,
            status && eq(workerApplications.status, status),
            applicationPages.after(after),
          ),
        )
        .orderBy(...applicationPages.orderBy)
        .limit(applicationPages.fetch(limit));
      const { items, nextCursor } = applicationPages.page(rows, limit);
      const serviceIds = await servicesOf(items.map((row) => row.id));
      return c.json({ items: items.map((row) => applicationJson(row, serviceIds.get(row.id)!)), nextCursor }, 200);
    },
  );

  /** Moves a pending application to its decision, once: a decided one is a 409. */
  const decide = async (
    admin: PublicUser,
    id: string,
    decision: { status: 'approved' } | { status: 'rejected'; rejectionReason: string },
  ): Promise<{ row: WorkerApplicationRow; serviceIds: string[] }> =>
    transaction(db, 'services.application.decide', async (tx) => {
      const [row] = await tx
        .update(workerApplications)
        .set({ ...decision, decidedBy: admin.id, decidedAt: new Date() })
        .where(and(eq(workerApplications.id, id), eq(workerApplications.status, 'pending')))
        .returning();
      if (!row) {
        const [existing] = await tx.select({ status: workerApplications.status }).from(workerApplications).where(eq(workerApplications.id, id));
        if (!existing) throw problems.notFound(`worker application ${id}`);
        throw problems.conflict(`worker application ${id} is already ${existing.status}`, 'application-decided');
      }
      const serviceIds = (await servicesOf([id], tx)).get(id)!;
      if (decision.status === 'approved') {
        await tx
          .insert(workerQualifications)
          .values(serviceIds.map((serviceId) => ({ serviceId, workerId: row.workerId, applicationId: id })))
          .onConflictDoNothing();
      }
      await appendEvent(tx, {
        name: `worker_application.${decision.status}`,
        version: 1,
        producer: 'services',
        data: { applicationId: id, workerId: row.workerId, serviceIds, decidedBy: admin.id, reason: row.rejectionReason },
      });
      return { row, serviceIds };
    });

  const decisionResponses = {
    200: jsonContent(ApplicationSchema, 'The decided application'),
    ...authResponses,
    404: problemContent('No such application'),
    409: problemContent('The application was decided before'),
    ...validationResponses,
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/worker-applications/{id}/approve',
      operationId: 'approveWorkerApplication',
      tags: ['worker applications'],
      summary: 'Approve an application: the worker is qualified for its services and gets their requests offered',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam },
      responses: decisionResponses,
    }),
    async (c) => {
      const { row, serviceIds } = await decide(c.get('user'), c.req.valid('param').id, { status: 'approved' });
      // Requests that found no worker for these services wait on their topic (see the service_request type).
      for (const serviceId of serviceIds) {
        try {
          await publishToTopic(deps, { topic: `services/${serviceId}/workers`, type: 'worker.qualified', data: { workerId: row.workerId, serviceId } });
        } catch (error) {
          deps.log.warn(`worker ${row.workerId} qualified for ${serviceId}, but waiting requests were not told: ${(error as Error).message}`);
        }
      }
      return c.json(applicationJson(row, serviceIds), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/worker-applications/{id}/reject',
      operationId: 'rejectWorkerApplication',
      tags: ['worker applications'],
      summary: 'Reject an application with a reason',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam, body: jsonBody(RejectBody) },
      responses: decisionResponses,
    }),
    async (c) => {
      const { reason } = c.req.valid('json');
      const { row, serviceIds } = await decide(c.get('user'), c.req.valid('param').id, { status: 'rejected', rejectionReason: reason });
      return c.json(applicationJson(row, serviceIds), 200);
    },
  );

  // ---- service requests ----

  app.openapi(
    createRoute({
      method: 'post',
      path: '/service-requests',
      operationId: 'requestService',
      tags: ['service requests'],
      summary: 'Request a catalog service (clients); answers once it is offered to a worker or waits for one',
      ...signedIn(deps, 'client'),
      request: { headers: IdempotencyHeaders, body: jsonBody(NewServiceRequestBody) },
      responses: {
        201: jsonContent(IssueSchema, 'The request (an issue of type service_request) with its price and the worker it is offered to'),
        503: unavailableResponse,
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const [service] = await db.select().from(services).where(eq(services.id, body.serviceId));
      if (!service) throw problems.invalid('body.serviceId', `no service ${body.serviceId}`);
      if (!service.active) throw problems.invalid('body.serviceId', `the service "${service.name}" is not offered any more`);
      const answer = await idempotent(c, deps, 'POST /service-requests', async () => ({
        status: 201,
        body: await issueApi.start(c.get('user'), { type: 'service_request', title: service.name, context: body }, c.req.header('Idempotency-Key')),
      }));
      return c.json(answer.body, answer.status);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/service-requests',
      operationId: 'listServiceRequests',
      tags: ['service requests'],
      summary: 'Service requests the caller made or is offered or performs (every one for managers and admins), newest first',
      ...signedIn(deps),
      request: { query: PageQuery.extend({ status: z.enum(['active', 'done']).optional() }) },
      responses: { 200: jsonContent(page(IssueSchema), 'A page of service requests'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => c.json(await issueApi.list(c.get('user'), { ...c.req.valid('query'), type: 'service_request' }), 200),
  );

  /** Sends an event to a service request (the statechart's guards decide who may). */
  const sendToRequest = async (user: PublicUser, id: string, type: string, data: Record<string, unknown>) => {
    const [row] = await db.select({ typeKey: issues.typeKey }).from(issues).where(eq(issues.id, id));
    if (!row || row.typeKey !== 'service_request') throw problems.notFound(`service request ${id}`);
    return issueApi.send(user, id, { type, data });
  };
  const stepResponses = (who: string) => ({
    200: jsonContent(IssueSchema, 'The request after the step'),
    401: authResponses[401],
    403: problemContent(`Only ${who} may`),
    404: problemContent('No such service request, or not yours to see'),
    409: problemContent('Not allowed in the request’s current state'),
    503: unavailableResponse,
    ...validationResponses,
  });
  /** An optional JSON body: sending none at all is the same as `{}`. */
  const optionalBody = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: false });

  /** The steps of a request, each a shortcut for one statechart event (whose guard decides who may send it). */
  const steps = [
    { path: 'accept', operationId: 'acceptServiceRequest', event: 'accept', who: 'the worker the request is offered to', summary: 'Accept the offer (the worker it is offered to)' },
    {
      path: 'decline',
      operationId: 'declineServiceRequest',
      event: 'decline',
      who: 'the worker the request is offered to',
      summary: 'Decline the offer (the worker it is offered to); it goes to another qualified worker',
      body: optionalBody(named(ServiceEventFields.decline, 'ServiceOfferDecline')),
    },
    {
      path: 'done',
      operationId: 'markServiceRequestDone',
      event: 'done',
      who: 'the worker who accepted the request',
      summary: 'Mark the request done (its worker); the client is charged and the worker credited in the background',
    },
    {
      path: 'not-done',
      operationId: 'markServiceRequestNotDone',
      event: 'not_done',
      who: 'the worker who accepted the request',
      summary: 'Mark the request not done, with a reason (its worker); nothing is charged',
      body: jsonBody(named(ServiceEventFields.not_done, 'ServiceNotDone')),
    },
    {
      path: 'review',
      operationId: 'reviewServiceRequest',
      event: 'review',
      who: 'the client who made the request',
      summary: 'Review the performed request (its client, once, within the review window)',
      body: jsonBody(named(ServiceEventFields.review, 'ServiceReview')),
    },
    {
      path: 'cancel',
      operationId: 'cancelServiceRequest',
      event: 'cancel',
      who: 'the client who made the request, or a manager',
      summary: 'Cancel the request before a worker accepted it (its client, or a manager)',
      body: optionalBody(named(ServiceEventFields.cancel, 'ServiceRequestCancellation')),
    },
  ];
  for (const step of steps) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/service-requests/{id}/${step.path}`,
        operationId: step.operationId,
        tags: ['service requests'],
        summary: step.summary,
        ...signedIn(deps),
        request: { params: IdParam, ...(step.body && { body: step.body }) },
        responses: stepResponses(step.who),
      }),
      async (c) => {
        const data = step.body ? ((c.req.valid('json' as never) ?? {}) as Record<string, unknown>) : {};
        return c.json(await sendToRequest(c.get('user'), c.req.valid('param').id, step.event, data), 200);
      },
    );
  }

  return app;
}
