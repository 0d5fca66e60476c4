// Service requests over HTTP: shortcuts over the generic issue API for issues of the `service_request` type
// (lib/services/issue-type.ts), like /tasks. The statechart's guards decide who may take each step.
import { createRoute, z } from '@hono/zod-openapi';
import type { PublicUser } from '../../lib/auth/users.js';
import { serviceById } from '../../lib/services/catalog.js';
import { ServiceEventFields, ServiceRequestFields, serviceRequestType } from '../../lib/services/issue-type.js';
import { isServiceRequest } from '../../lib/services/requests.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, IdParam, jsonBody, jsonContent, page, PageQuery, validationResponses } from '../common.js';
import type { ApiDeps } from '../deps.js';
import { IssueSchema, issueService, unavailableResponse } from '../issues.js';
import { problemContent, problems } from '../problem.js';
import { signedIn } from '../security.js';

/**
 * A route's copy of a service-request schema, named in the OpenAPI document. zod gives an instance the methods its
 * prototype had when it was made: schemas built before `@hono/zod-openapi` loaded have no `.openapi`
 * (lib/services/issue-type.ts does not load it), copies made here do.
 */
const named = <S extends z.ZodRawShape>(schema: z.ZodObject<S, z.core.$strict>, name: string) => schema.extend({}).openapi(name);
const NewServiceRequestBody = named(ServiceRequestFields, 'NewServiceRequest');

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

const stepResponses = (who: string) => ({
  200: jsonContent(IssueSchema, 'The request after the step'),
  401: authResponses[401],
  403: problemContent(`Only ${who} may`),
  404: problemContent('No such service request, or not yours to see'),
  409: problemContent('Not allowed in the request’s current state'),
  503: unavailableResponse,
  ...validationResponses,
});

export function serviceRequestRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;
  const issueApi = issueService(deps);

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
      const service = await serviceById(db, body.serviceId);
      if (!service) throw problems.invalid('body.serviceId', `no service ${body.serviceId}`);
      if (!service.active) throw problems.invalid('body.serviceId', `the service "${service.name}" is not offered any more`);
      const answer = await idempotent(c, deps, 'POST /service-requests', async () => ({
        status: 201,
        body: await issueApi.start(c.get('user'), { type: serviceRequestType.key, title: service.name, context: body }, c.req.header('Idempotency-Key')),
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
    async (c) => c.json(await issueApi.list(c.get('user'), { ...c.req.valid('query'), type: serviceRequestType.key }), 200),
  );

  /** Sends an event to a service request (the statechart's guards decide who may). */
  const sendToRequest = async (user: PublicUser, id: string, type: string, data: Record<string, unknown>) => {
    if (!(await isServiceRequest(db, id))) throw problems.notFound(`service request ${id}`);
    return issueApi.send(user, id, { type, data });
  };

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
