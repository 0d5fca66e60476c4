// Webhook subscriptions (admin): outside systems get the domain events they name pushed to their URL, signed the
// Standard Webhooks way. Delivery runs in one workflow per subscription (workflows/webhooks.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import { randomBytes, randomUUID } from 'node:crypto';
import { stableUuid } from '../lib/ids.js';
import { knownDomainEventNames } from '../db/events.js';
import { webhookDeliveries, webhookSubscriptions, webhookDeliveryOutcomes, type WebhookDeliveryRow, type WebhookSubscriptionRow } from '../db/schema/notifications.js';
import { webhookWorkflowId } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';
import type { webhookDeliveryWorkflow } from '../workflows/webhooks.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, IdParam, jsonBody, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

const NewWebhookBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
      .max(2000)
      .openapi({ example: 'https://example.com/ates-webhooks' }),
    eventTypes: z
      .array(z.string().min(1).max(100))
      .min(1, 'name at least one domain event')
      .max(100)
      .refine((names) => new Set(names).size === names.length, 'each event name once')
      .openapi({ description: 'Domain event names (as `GET /events` shows them) to deliver.', example: ['task.assigned', 'task.completed'] }),
  })
  .strict();

export const WebhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    createdAt: z.iso.datetime(),
  })
  .openapi('Webhook');

const NewWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({
    description: 'The signing secret (`whsec_` + base64), shown only in this answer: verify each delivery with it.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  }),
}).openapi('NewWebhook');

export const WebhookDeliverySchema = z
  .object({
    id: z.uuid(),
    eventId: z.uuid(),
    eventSeq: z.number().int(),
    messageId: z.string().openapi({ description: 'The `webhook-id` header: the same on every attempt of this event.' }),
    attempt: z.number().int().openapi({ description: 'The attempt at this event, from 1.' }),
    outcome: z.enum(webhookDeliveryOutcomes).openapi({ description: '`succeeded` (2xx), `failed` (retried), `gave_up` (the retry window closed; no request).' }),
    httpStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int(),
    attemptedAt: z.iso.datetime(),
  })
  .openapi('WebhookDelivery');

const webhookJson = (row: WebhookSubscriptionRow): z.infer<typeof WebhookSchema> => ({
  id: row.id,
  url: row.url,
  eventTypes: row.eventTypes,
  createdAt: row.createdAt.toISOString(),
});

const deliveryJson = ({ subscriptionId: _, attemptedAt, ...row }: WebhookDeliveryRow): z.infer<typeof WebhookDeliverySchema> => ({
  ...row,
  attemptedAt: attemptedAt.toISOString(),
});

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

const subscriptionPages = pages([webhookSubscriptions.createdAt, webhookSubscriptions.id], 'desc');
const deliveryPages = pages([webhookDeliveries.attemptedAt, webhookDeliveries.id], 'desc');

export function webhookRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  const find = async (id: string) => {
    const [row] = await db.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id));
    if (!row) throw problems.notFound(`webhook ${id}`);
    return row;
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/webhooks',
      operationId: 'createWebhook',
      tags: ['webhooks'],
      summary: 'Subscribe a URL to domain events',
      description:
        'Every domain event named in `eventTypes` that is written from now on is POSTed to `url` as `{ type, timestamp, data }` ' +
        'with the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`, in the order of the log, ' +
        'each retried until it is delivered or its retry window (24 h) closes.',
      ...signedIn(deps, 'admin'),
      request: { headers: IdempotencyHeaders, body: jsonBody(NewWebhookBody) },
      responses: {
        201: jsonContent(NewWebhookSchema, 'The subscription with its signing secret'),
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const known = await knownDomainEventNames(db);
      const unknown = body.eventTypes.findIndex((name) => !known.has(name));
      if (unknown >= 0) throw problems.invalid(`body.eventTypes.${unknown}`, `no domain event is called ${JSON.stringify(body.eventTypes[unknown])}`);
      const user = c.get('user');
      const idempotencyKey = c.req.header('Idempotency-Key');
      const answer = await idempotent(c, deps, 'POST /webhooks', async () => {
        // The id follows from the key: a retry whose first attempt stored the subscription but not its answer
        // finds that subscription (and starts its workflow if the first attempt could not).
        const id = idempotencyKey ? stableUuid(`webhook:${user.id}:${idempotencyKey}`) : randomUUID();
        // Deliveries start with the events of transactions still in flight now and everything after.
        await db
          .insert(webhookSubscriptions)
          .values({
            id,
            url: body.url,
            eventTypes: body.eventTypes,
            secret: newSecret(),
            cursorTxId: sql`pg_snapshot_xmin(pg_current_snapshot())`,
            cursorSeq: 0,
            createdBy: user.id,
          })
          .onConflictDoNothing();
        try {
          await deps.temporal.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
            workflowId: webhookWorkflowId(id),
            taskQueue: taskQueues.notifications,
            args: [{ subscriptionId: id, retry: deps.config.webhooks.retry }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          });
        } catch (error) {
          // The subscription was deleted meanwhile, and its workflow with it.
          if (!(idempotencyKey && error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        }
        const row = await find(id);
        return { status: 201, body: { ...webhookJson(row), secret: row.secret } };
      });
      return c.json(answer.body, answer.status, { Location: `/webhooks/${answer.body.id}` });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhooks',
      operationId: 'listWebhooks',
      tags: ['webhooks'],
      summary: 'The webhook subscriptions, newest first',
      ...signedIn(deps, 'admin'),
      request: { query: PageQuery },
      responses: { 200: jsonContent(page(WebhookSchema), 'A page of subscriptions'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const { after, limit } = c.req.valid('query');
      const rows = await db
        .select(subscriptionPages.select(getTableColumns(webhookSubscriptions)))
        .from(webhookSubscriptions)
        .where(subscriptionPages.after(after))
        .orderBy(...subscriptionPages.orderBy)
        .limit(subscriptionPages.fetch(limit));
      const { items, nextCursor } = subscriptionPages.page(rows, limit);
      return c.json({ items: items.map(webhookJson), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhooks/{id}',
      operationId: 'getWebhook',
      tags: ['webhooks'],
      summary: 'One webhook subscription (without its secret)',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam },
      responses: { 200: jsonContent(WebhookSchema, 'The subscription'), ...authResponses, 404: problemContent('No such subscription'), ...validationResponses },
    }),
    async (c) => c.json(webhookJson(await find(c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/webhooks/{id}',
      operationId: 'deleteWebhook',
      tags: ['webhooks'],
      summary: 'Unsubscribe: no event goes out after this answer (a request already under way may still finish)',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted, with its delivery records' }, ...authResponses, 404: problemContent('No such subscription'), ...validationResponses },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      // The row first: a delivery round checks it before each request and records nothing for a deleted one.
      const [deleted] = await db.delete(webhookSubscriptions).where(eq(webhookSubscriptions.id, id)).returning({ id: webhookSubscriptions.id });
      if (!deleted) throw problems.notFound(`webhook ${id}`);
      try {
        await deps.temporal.workflow.getHandle(webhookWorkflowId(id)).terminate('webhook subscription deleted');
      } catch (error) {
        // Its workflow had already seen the subscription gone and ended.
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhooks/{id}/deliveries',
      operationId: 'listWebhookDeliveries',
      tags: ['webhooks'],
      summary: 'Every delivery attempt of a subscription, newest first',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam, query: PageQuery },
      responses: {
        200: jsonContent(page(WebhookDeliverySchema), 'A page of attempts'),
        ...authResponses,
        404: problemContent('No such subscription'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { after, limit } = c.req.valid('query');
      await find(id);
      const rows = await db
        .select(deliveryPages.select(getTableColumns(webhookDeliveries)))
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.subscriptionId, id), deliveryPages.after(after)))
        .orderBy(...deliveryPages.orderBy)
        .limit(deliveryPages.fetch(limit));
      const { items, nextCursor } = deliveryPages.page(rows, limit);
      return c.json({ items: items.map(deliveryJson), nextCursor }, 200);
    },
  );

  return app;
}
