// Issues context over HTTP: issue types (versioned statecharts), issues, their events and history.
import { createRoute, z } from '@hono/zod-openapi';
import {
  isGrpcServiceError,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, desc, eq, getTableColumns, or, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { stableUuid } from '../lib/ids.js';
import { startContextOf } from '../lib/issues/builtin-types.js';
import type { Role } from '../db/schema/auth.js';
import { issues, issueTransitions, issueTypes } from '../db/schema/issues.js';
import type { PublicUser } from '../lib/auth/users.js';
import type { issueWorkflow } from '../workflows/issue.js';
import { issueWorkflowId, sendEventUpdate, settledUpdate, type IssueView } from '../workflows/messages.js';
import { IssueStateKey, IssueTypeKey } from '../workflows/search-attributes.js';
import { isUserEventType, type Actor } from '../workflows/statechart/catalog.js';
import { validateDefinition } from '../workflows/statechart/validate.js';
import { taskQueues } from '../workflows/task-queues.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, IdParam, jsonBody, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { allowedEventsOf, pinnedType } from './issue-machines.js';
import { checkEventData, checkStart, TypeInputSchema, validateInput, type TypeInput } from './issue-type-input.js';
import { ProblemError, problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

export const TypeKey = z.string().regex(/^[a-z][a-z0-9_]{0,49}$/, 'lower-case letters, digits and _, starting with a letter');
export const Title = z.string().trim().min(1).max(200);
const JsonObject = z.record(z.string(), z.unknown());

export const IssueSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    version: z.number().int(),
    title: z.string(),
    state: z.string().openapi({ example: 'open', description: 'The active state; a parallel state shows every region\'s, joined by `|` (`review.legal.ok|review.qa.pending`).' }),
    states: z.array(z.string()).openapi({ example: ['review.legal.ok', 'review.qa.pending'], description: 'Every active state, one per parallel region.' }),
    status: z.enum(['active', 'done']),
    context: JsonObject,
    assigneeId: z.uuid().nullable(),
    creatorId: z.uuid(),
    step: z.number().int(),
    allowedEvents: z.array(z.string()).openapi({ description: 'Events the caller may send now.' }),
  })
  .openapi('Issue');
export type IssueJson = z.infer<typeof IssueSchema>;

const IssueTypeSchema = z
  .object({
    key: z.string(),
    version: z.number().int(),
    name: z.string(),
    description: z.string(),
    definition: JsonObject,
    input: JsonObject.nullable().openapi({ description: 'What starters and senders may put in; null: nothing, and every role may start.' }),
    createdAt: z.iso.datetime(),
  })
  .openapi('IssueType');

const IssueTypeSummarySchema = IssueTypeSchema.pick({ key: true, version: true, name: true, description: true, createdAt: true }).openapi('IssueTypeSummary');
const typePages = pages([issueTypes.key], 'asc');

const CreateIssueTypeBody = z
  .object({
    key: TypeKey,
    name: z.string().trim().min(1).max(100),
    description: z.string().max(2000).default(''),
    definition: JsonObject.openapi({ description: 'An XState v5 machine config using the action and guard catalog (README).' }),
    input: TypeInputSchema.optional().openapi({
      description:
        'Who may start it (`startRoles`), and JSON Schemas (type object) of what a starter may put in the initial `context` and each user event in `events` may carry. Everything else is server-owned: left out, no context and no event data are taken.',
    }),
  })
  .strict()
  .openapi('CreateIssueTypeRequest');

const CreateIssueBody = z
  .object({ type: TypeKey, title: Title, context: JsonObject.default({}) })
  .strict()
  .refine((body) => JSON.stringify(body.context).length <= 32_768, { message: 'at most 32 KiB', path: ['context'] })
  .openapi('CreateIssueRequest');

const SendEventBody = z
  .object({
    type: z
      .string()
      .max(200)
      .refine(isUserEventType, 'an event a user can send: words starting with a lower-case letter, dotted to group them (complete, legal.ok), not one the product sends itself (such as assignee.assigned)'),
    data: JsonObject.default({}),
  })
  .strict()
  .refine((body) => JSON.stringify(body.data).length <= 16_384, { message: 'at most 16 KiB', path: ['data'] })
  .openapi('SendEventRequest');

const IssuesQuery = PageQuery.extend({
  type: TypeKey.optional(),
  state: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: 'Issues one of whose active states is this one or lies inside it: `review` finds `review.legal.ok|review.qa.pending`.' }),
  status: z.enum(['active', 'done']).optional(),
  assignee: z.union([z.literal('me'), z.uuid()]).optional().openapi({ description: '`me` or a user id' }),
});
const issuePages = pages([issues.createdAt, issues.id], 'desc');

/** One of the issue's active states (the read model joins a parallel state's regions with `|`) is `state` or lies inside it. */
const inState = (state: string) =>
  sql`exists (select 1 from unnest(string_to_array(${issues.state}, '|')) as active(path) where active.path = ${state} or starts_with(active.path, ${`${state}.`}))`;

const TransitionSchema = z
  .object({ step: z.number().int(), from: z.string().nullable(), event: z.string(), to: z.string(), actorId: z.string(), actorRole: z.string(), at: z.iso.datetime() })
  .openapi('Transition');

const actorOf = (user: PublicUser): Actor => ({ id: user.id, role: user.role });
const overseers: Role[] = ['admin', 'manager'];

/** Maps what the issue workflow refused to the HTTP answer. */
export function issueProblem(error: unknown): ProblemError | undefined {
  const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
  if (cause instanceof ApplicationFailure) {
    if (cause.type === 'Issue.GuardRejected') return problems.forbidden(cause.message);
    if (cause.type === 'Issue.EventNotAllowed') return problems.conflict(cause.message, 'event-not-allowed');
    // The step could not be stored; the issue stays as it was and takes events again.
    if (cause.type === 'Issue.StepFailed') return new ProblemError(422, 'step-failed', cause.message);
  }
  return undefined;
}

/** How long an event refused by an issue still applying committed steps is sent again. */
const catchUpWindowMs = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the issue refused the event judging from a step before `step` (see workflows/issue.ts `refusal`). */
function judgedBefore(error: unknown, step: number): boolean {
  const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || (cause.type !== 'Issue.GuardRejected' && cause.type !== 'Issue.EventNotAllowed')) return false;
  const judgedAt = (cause.details?.[0] as { step?: unknown } | undefined)?.step;
  return typeof judgedAt === 'number' && judgedAt < step;
}

/** Documented on routes that wait for an issue's workflow. */
export const unavailableResponse = problemContent('The issue is recovering from a worker failure; retry after Retry-After seconds');

/** gRPC FAILED_PRECONDITION: how the server refuses an update while the workflow's task keeps failing or timing out. */
const FAILED_PRECONDITION = 9;
const recoveryWindowMs = 60_000;

/** The update could not be delivered yet, though it may well be later: worth sending again. */
const notDeliveredYet = (error: unknown): boolean => {
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && e.code === FAILED_PRECONDITION) return true;
  }
  return false;
};

/**
 * When a worker dies holding an issue's workflow task, the server refuses updates to that issue (or lets the
 * call time out) until another worker has run the task, which happens on its own within seconds. So the update
 * is sent again under the same update id (the server runs it at most once) until the window closes; then the
 * caller gets a 503 to retry.
 */
async function untilWorkflowRecovers<T>(send: (updateId: string) => Promise<T>): Promise<T> {
  const updateId = randomUUID();
  const deadline = Date.now() + recoveryWindowMs;
  for (let delayMs = 250; ; delayMs = Math.min(2 * delayMs, 2000)) {
    try {
      return await send(updateId);
    } catch (error) {
      if (!notDeliveredYet(error)) throw error;
      if (Date.now() + delayMs > deadline) {
        throw new ProblemError(503, 'unavailable', 'the issue is recovering from a worker failure; retry shortly', undefined, { 'Retry-After': '5' });
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** How an issue's workflow is started: its id, queue, input and search attributes. */
export function issueStartOptions(
  issueId: string,
  type: { key: string; version: number; definition: unknown },
  user: PublicUser,
  input: { title: string; context: Record<string, unknown> },
) {
  return {
    workflowId: issueWorkflowId(issueId),
    taskQueue: taskQueues.issues,
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    args: [
      {
        issueId,
        type: { key: type.key, version: type.version, definition: type.definition as Record<string, unknown> },
        title: input.title,
        creator: actorOf(user),
        context: { ...input.context, title: input.title, creatorId: user.id },
      },
    ] satisfies Parameters<typeof issueWorkflow>,
    typedSearchAttributes: [
      { key: IssueTypeKey, value: type.key },
      { key: IssueStateKey, value: 'new' },
    ],
    memo: { title: input.title },
  };
}

export function issueService(deps: ApiDeps) {
  const { db } = deps.database;

  const readModel = async (id: string) => (await db.select().from(issues).where(eq(issues.id, id)))[0];

  /** Involved users (creator, assignee, anyone the issue's context names) and overseers may see an issue. */
  const mayRead = (user: PublicUser, row: { creatorId: string; assigneeId: string | null; context: unknown }) =>
    overseers.includes(user.role) ||
    row.creatorId === user.id ||
    row.assigneeId === user.id ||
    Object.values((row.context ?? {}) as Record<string, unknown>).includes(user.id);

  const fromReadModel = (row: typeof issues.$inferSelect): IssueJson => ({
    id: row.id,
    type: row.typeKey,
    version: row.typeVersion,
    title: row.title,
    state: row.state,
    states: row.state.split('|'),
    status: row.status,
    context: row.context as Record<string, unknown>,
    assigneeId: row.assigneeId,
    creatorId: row.creatorId,
    step: row.step,
    allowedEvents: [],
  });

  /** The issue's read model for a caller who may see it; for anyone else the same 404 as for a missing issue. */
  const readable = async (user: PublicUser, id: string) => {
    const row = await readModel(id);
    if (!row || !mayRead(user, row)) throw problems.notFound(`issue ${id}`);
    return row;
  };

  return {
    mayRead,
    readable,

    async latestType(key: string) {
      const [row] = await db.select().from(issueTypes).where(eq(issueTypes.key, key)).orderBy(desc(issueTypes.version)).limit(1);
      return row;
    },

    /** Starts an issue and answers once it has settled; the same idempotency key always means the same issue. */
    async start(
      user: PublicUser,
      input: { type: string; title: string; context: Record<string, unknown> },
      idempotencyKey?: string,
    ): Promise<IssueView> {
      const type = await this.latestType(input.type);
      if (!type) throw problems.invalid('body.type', `no issue type "${input.type}"`);
      // Every start, by any route, takes what the type declares and nothing else: money and assignees stay server-owned.
      const declared = checkStart(type, user.role, input.title, input.context);
      const issueId = idempotencyKey ? stableUuid(`issue:${user.id}:${idempotencyKey}`) : randomUUID();
      const context = { ...declared, ...startContextOf(type.key, deps.config) };
      const startIssue = () =>
        new WithStartWorkflowOperation<typeof issueWorkflow>('issueWorkflow', issueStartOptions(issueId, type, user, { ...input, context }));
      // A retry starts nothing new: the workflow id is taken (USE_EXISTING) and the update id is the same.
      return untilWorkflowRecovers((updateId) =>
        deps.temporal.workflow.executeUpdateWithStart(settledUpdate, { args: [actorOf(user)], updateId, startWorkflowOperation: startIssue() }),
      );
    },

    /** The issue as its last committed step left it: the read model, exact by construction (steps commit with their effects). */
    async get(user: PublicUser, id: string): Promise<IssueJson> {
      const row = await readable(user, id);
      return { ...fromReadModel(row), allowedEvents: await allowedEventsOf(db, row, actorOf(user)) };
    },

    async send(user: PublicUser, id: string, event: { type: string; data: Record<string, unknown> }): Promise<IssueView> {
      // Refusing by guard or state would tell a stranger that the issue exists and where it stands.
      const row = await readable(user, id);
      const type = await pinnedType(db, row.typeKey, row.typeVersion);
      if (type) event = { ...event, data: checkEventData(type, event.type, event.data) };
      const finished = (issue: typeof row) => problems.conflict(`issue ${id} is ${issue.state}: it takes no more events`, 'event-not-allowed');
      if (row.status === 'done') throw finished(row);
      const handle = deps.temporal.workflow.getHandle(issueWorkflowId(id));
      const sendOnce = () =>
        untilWorkflowRecovers((updateId) => handle.executeUpdate(sendEventUpdate, { args: [{ type: event.type, data: event.data, actor: actorOf(user) }], updateId }));
      try {
        // Refused from a step before the read model's: the issue has not applied the steps a shuffle batch committed
        // for it yet (it does within moments), so the answer would be about a state that is gone. Asked again then.
        for (const deadline = Date.now() + catchUpWindowMs; ; await sleep(100)) {
          try {
            return await sendOnce();
          } catch (error) {
            if (!(judgedBefore(error, row.step) && Date.now() < deadline)) throw error;
          }
        }
      } catch (error) {
        const problem = issueProblem(error);
        if (problem) throw problem;
        // The issue finished after it was read above (its last step committed before its workflow ended).
        if (error instanceof WorkflowNotFoundError) throw finished((await readModel(id)) ?? row);
        throw error;
      }
    },

    async list(user: PublicUser, query: z.infer<typeof IssuesQuery>) {
      const after = issuePages.after(query.after);
      const assignee = query.assignee === 'me' ? user.id : query.assignee;
      // Overseers see every issue; others see what they created or are assigned to.
      const visible = overseers.includes(user.role) ? undefined : or(eq(issues.creatorId, user.id), eq(issues.assigneeId, user.id));
      const rows = await db
        .select(issuePages.select(getTableColumns(issues)))
        .from(issues)
        .where(
          and(
            visible,
            query.type ? eq(issues.typeKey, query.type) : undefined,
            query.state ? inState(query.state) : undefined,
            query.status ? eq(issues.status, query.status) : undefined,
            assignee ? eq(issues.assigneeId, assignee) : undefined,
            after,
          ),
        )
        .orderBy(...issuePages.orderBy)
        .limit(issuePages.fetch(query.limit));
      const { items, nextCursor } = issuePages.page(rows, query.limit);
      return { items: items.map(fromReadModel), nextCursor };
    },
  };
}

export function issueRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;
  const service = issueService(deps);
  const typeJson = (row: typeof issueTypes.$inferSelect) => ({
    ...row,
    definition: row.definition as Record<string, unknown>,
    input: row.input as Record<string, unknown> | null,
    createdAt: row.createdAt.toISOString(),
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issue-types',
      operationId: 'listIssueTypes',
      tags: ['issue types'],
      summary: 'Issue types by key: the latest version of each, without its definition (GET /issue-types/{key} has it)',
      ...signedIn(deps),
      request: { query: PageQuery },
      responses: { 200: jsonContent(page(IssueTypeSummarySchema), 'A page of types'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      // The highest version of each key: the first row per key in this order.
      const { key, version, name, description, createdAt } = getTableColumns(issueTypes);
      const rows = await db
        .selectDistinctOn([issueTypes.key], typePages.select({ key, version, name, description, createdAt }))
        .from(issueTypes)
        .where(typePages.after(query.after))
        .orderBy(...typePages.orderBy, desc(issueTypes.version))
        .limit(typePages.fetch(query.limit));
      const { items, nextCursor } = typePages.page(rows, query.limit);
      return c.json({ items: items.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() })), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issue-types/{key}',
      operationId: 'getIssueType',
      tags: ['issue types'],
      summary: 'One issue type: its current definition and every version number',
      ...signedIn(deps),
      request: { params: z.object({ key: TypeKey.openapi({ param: { name: 'key', in: 'path' } }) }) },
      responses: {
        200: jsonContent(IssueTypeSchema.extend({ versions: z.array(z.number().int()) }), 'The type'),
        401: authResponses[401],
        404: problemContent('No such type'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      const rows = await db.select().from(issueTypes).where(eq(issueTypes.key, key)).orderBy(desc(issueTypes.version));
      if (!rows[0]) throw problems.notFound(`issue type ${key}`);
      return c.json({ ...typeJson(rows[0]), versions: rows.map((row) => row.version) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/issue-types',
      operationId: 'saveIssueType',
      tags: ['issue types'],
      summary: 'Save a new type, or the next version of an existing one',
      description: 'The definition is validated completely: catalog names and params, delays and every target. Running issues keep their version.',
      ...signedIn(deps, 'admin'),
      request: { body: jsonBody(CreateIssueTypeBody) },
      responses: { 201: jsonContent(IssueTypeSchema, 'The saved version'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const errors = validateDefinition(body.definition, body.key);
      if (errors.length === 0) errors.push(...validateInput(body.definition, body.input as TypeInput | undefined));
      if (errors.length) {
        const fieldOf = (path: string) => (path === '(root)' ? 'body.definition' : path.startsWith('input.') ? `body.${path}` : `body.definition.${path}`);
        const fields = errors.map((e) => ({ field: fieldOf(e.path), message: e.message }));
        throw new ProblemError(422, 'invalid-definition', fields.map((f) => `${f.field}: ${f.message}`).join('; '), fields);
      }
      // Concurrent saves of one key race for the next number; the primary key lets exactly one win each.
      for (;;) {
        const [row] = await db
          .insert(issueTypes)
          .values({
            key: body.key,
            version: sql`(select coalesce(max(version), 0) + 1 from ${issueTypes} where key = ${body.key})`,
            name: body.name,
            description: body.description,
            definition: body.definition,
            input: body.input ?? null,
            createdBy: c.get('user').id,
          })
          .onConflictDoNothing()
          .returning();
        if (row) return c.json(typeJson(row), 201);
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/issues',
      operationId: 'startIssue',
      tags: ['issues'],
      summary: 'Start an issue of a type; answers once it has settled',
      ...signedIn(deps),
      request: { headers: IdempotencyHeaders, body: jsonBody(CreateIssueBody) },
      responses: {
        201: jsonContent(IssueSchema, 'The issue after its first step settled (a retry with the same Idempotency-Key gets this same answer)'),
        503: unavailableResponse,
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = c.get('user');
      const answer = await idempotent(c, deps, 'POST /issues', async () => ({
        status: 201,
        body: await service.start(user, body, c.req.header('Idempotency-Key')),
      }));
      return c.json(answer.body, answer.status);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issues',
      operationId: 'listIssues',
      tags: ['issues'],
      summary: 'Issues the caller may see, newest first',
      ...signedIn(deps),
      request: { query: IssuesQuery },
      responses: { 200: jsonContent(page(IssueSchema), 'A page of issues'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => c.json(await service.list(c.get('user'), c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issues/{id}',
      operationId: 'getIssue',
      tags: ['issues'],
      summary: 'An issue: state, context, assignee and the events the caller may send now',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: { 200: jsonContent(IssueSchema, 'The issue'), 401: authResponses[401], 404: problemContent('No such issue, or not yours to see'), ...validationResponses },
    }),
    async (c) => c.json(await service.get(c.get('user'), c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/issues/{id}/events',
      operationId: 'sendIssueEvent',
      tags: ['issues'],
      summary: 'Send an event; answers with the issue after the step has settled',
      ...signedIn(deps),
      request: { params: IdParam, body: jsonBody(SendEventBody) },
      responses: {
        200: jsonContent(IssueSchema, 'The issue after the step'),
        401: authResponses[401],
        403: problemContent('A guard of the statechart refused the caller'),
        404: problemContent('No such issue, or not yours to see'),
        409: problemContent('The event is not allowed in the current state'),
        503: unavailableResponse,
        ...validationResponses,
      },
    }),
    async (c) => c.json(await service.send(c.get('user'), c.req.valid('param').id, c.req.valid('json')), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issues/{id}/history',
      operationId: 'getIssueHistory',
      tags: ['issues'],
      summary: 'Every transition of an issue: from, event, to, actor, time',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ items: z.array(TransitionSchema) }), 'Transitions in order'),
        401: authResponses[401],
        404: problemContent('No such issue, or not yours to see'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await service.readable(c.get('user'), id);
      const rows = await db.select().from(issueTransitions).where(eq(issueTransitions.issueId, id)).orderBy(asc(issueTransitions.step));
      return c.json(
        { items: rows.map(({ issueId: _, fromState, toState, at, ...t }) => ({ ...t, from: fromState, to: toState, at: at.toISOString() })) },
        200,
      );
    },
  );

  return app;
}
