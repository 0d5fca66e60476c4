// Workers' applications to perform services over HTTP: workers apply, admins approve or reject
// (lib/services/applications.ts). An approval tells service requests waiting for such a worker.
import { createRoute, z } from '@hono/zod-openapi';
import { workerApplicationStatuses, type WorkerApplicationRow } from '../../db/schema/services.js';
import { publishToTopic } from '../../lib/issues/topics.js';
import { applicationOrder, decideApplication, listApplications, submitApplication, type Decision } from '../../lib/services/applications.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotentTransaction, IdParam, jsonBody, jsonContent, page, PageQuery, pages, validationResponses } from '../common.js';
import type { ApiDeps } from '../deps.js';
import { problemContent, problems } from '../problem.js';
import { signedIn } from '../security.js';
import { checkOffered, Description } from './catalog.js';

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
const applicationPages = pages(applicationOrder, 'asc');

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

export function workerApplicationRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

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
      await checkOffered(deps, 'serviceIds', body.serviceIds);
      const answer = await idempotentTransaction(c, deps, 'POST /worker-applications', async (tx) => ({
        status: 201,
        body: applicationJson(await submitApplication(tx, worker.id, body), body.serviceIds),
      }));
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
      const query = c.req.valid('query');
      const { items, nextCursor } = await listApplications(db, applicationPages, { ...query, workerId: user.role === 'worker' ? user.id : undefined });
      return c.json({ items: items.map(({ row, serviceIds }) => applicationJson(row, serviceIds)), nextCursor }, 200);
    },
  );

  /** Moves a pending application to its decision, once: a decided one is a 409. */
  const decide = async (adminId: string, id: string, decision: Decision) => {
    const outcome = await decideApplication(db, id, adminId, decision);
    if (!outcome) throw problems.notFound(`worker application ${id}`);
    if ('before' in outcome) throw problems.conflict(`worker application ${id} is already ${outcome.before}`, 'application-decided');
    return outcome.decided;
  };

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
      const { row, serviceIds } = await decide(c.get('user').id, c.req.valid('param').id, { status: 'approved' });
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
      const { row, serviceIds } = await decide(c.get('user').id, c.req.valid('param').id, { status: 'rejected', rejectionReason: reason });
      return c.json(applicationJson(row, serviceIds), 200);
    },
  );

  return app;
}
