// aTES task shortcuts over the generic issue API, and the shuffle.
import { createRoute, z, type RouteHandler } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { stableUuid } from '../lib/ids.js';
import type { shuffleWorkflow } from '../workflows/shuffle.js';
import { shuffleProgressQuery, shuffleWorkflowId } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, IdParam, jsonBody, jsonContent, page, PageQuery, validationResponses } from './common.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { TaskContextFields, TaskTitle } from '../lib/tasks/issue-type.js';
import { IssueSchema, issueService, Title, unavailableResponse } from './issues.js';
import { problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

const CreateTaskBody = TaskContextFields.extend({ title: Title.pipe(TaskTitle) }).openapi('CreateTaskRequest');

const ShuffleSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(['running', 'completed']),
    seen: z.number().int(),
    reassigned: z.number().int(),
    skipped: z.number().int(),
    startedBy: z.uuid(),
  })
  .openapi('Shuffle');

export function taskRoutes(deps: ApiDeps) {
  const app = createRouter();
  const issues = issueService(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/tasks',
      operationId: 'createTask',
      tags: ['tasks'],
      summary: 'Create a task: priced, assigned to a random worker who is charged the fee and notified',
      ...signedIn(deps),
      request: { headers: IdempotencyHeaders, body: jsonBody(CreateTaskBody) },
      responses: {
        201: jsonContent(IssueSchema, 'The task with its assignee (a retry with the same Idempotency-Key gets this same answer)'),
        503: unavailableResponse,
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const { title, ...context } = c.req.valid('json');
      const answer = await idempotent(c, deps, 'POST /tasks', async () => ({
        status: 201,
        body: await issues.start(c.get('user'), { type: 'task', title, context }, c.req.header('Idempotency-Key')),
      }));
      return c.json(answer.body, answer.status);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/tasks/mine',
      operationId: 'listMyTasks',
      tags: ['tasks'],
      summary: 'Tasks assigned to the caller, newest first',
      ...signedIn(deps),
      request: { query: PageQuery.extend({ status: z.enum(['active', 'done']).optional() }) },
      responses: { 200: jsonContent(page(IssueSchema), 'A page of tasks'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => c.json(await issues.list(c.get('user'), { ...c.req.valid('query'), type: 'task', assignee: 'me' }), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/tasks/{id}/complete',
      operationId: 'completeTask',
      tags: ['tasks'],
      summary: 'Complete a task (its assignee only); credits the reward',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: {
        200: jsonContent(IssueSchema, 'The done task'),
        401: authResponses[401],
        403: problemContent('Only the assignee completes a task'),
        404: problemContent('No such task, or not yours to see'),
        409: problemContent('The task is already done'),
        503: unavailableResponse,
        ...validationResponses,
      },
    }),
    async (c) => c.json(await issues.send(c.get('user'), c.req.valid('param').id, { type: 'complete', data: {} }), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/tasks/shuffle',
      operationId: 'shuffleTasks',
      tags: ['tasks'],
      summary: 'Reassign every open task to a random active worker (runs in the background)',
      ...signedIn(deps, 'manager', 'admin'),
      request: { headers: IdempotencyHeaders },
      responses: { 202: jsonContent(ShuffleSchema, 'The shuffle has started; watch it at /task-shuffles/{id}'), ...authResponses },
    }),
    async (c) => {
      const user = c.get('user');
      const key = c.req.header('Idempotency-Key');
      const answer = await idempotent(c, deps, 'POST /tasks/shuffle', async () => {
        // The id follows from the key: a retry whose first attempt started the shuffle but could not store its
        // answer (the database was down) finds that shuffle instead of starting a second one.
        const id = key ? stableUuid(`shuffle:${user.id}:${key}`) : randomUUID();
        try {
          await deps.temporal.workflow.start<typeof shuffleWorkflow>('shuffleWorkflow', {
            workflowId: shuffleWorkflowId(id),
            taskQueue: taskQueues.issues,
            args: [{ shuffleId: id, actor: { id: user.id, role: user.role } }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          });
        } catch (error) {
          // That first shuffle has finished meanwhile.
          if (!(key && error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        }
        return { status: 201, body: { id, status: 'running' as const, seen: 0, reassigned: 0, skipped: 0, startedBy: user.id } };
      });
      return c.json(answer.body, 202);
    },
  );

  // Its progress lives outside /tasks/: under /tasks/ a third segment after a literal (`/tasks/shuffles/{id}`) reads
  // like a task's action (`/tasks/{id}/complete`), and generated clients and linters cannot tell the two apart.
  const shuffleProgress = createRoute({
    method: 'get',
    path: '/task-shuffles/{id}',
    operationId: 'getTaskShuffle',
    tags: ['tasks'],
    summary: 'Progress of a shuffle',
    ...signedIn(deps, 'manager', 'admin'),
    request: { params: IdParam },
    responses: { 200: jsonContent(ShuffleSchema, 'Progress so far'), ...authResponses, 404: problemContent('No such shuffle'), ...validationResponses },
  });
  const answerShuffleProgress: RouteHandler<typeof shuffleProgress, AppEnv> = async (c) => {
    const { id } = c.req.valid('param');
    try {
      const { shuffleId, ...progress } = await deps.temporal.workflow.getHandle(shuffleWorkflowId(id)).query(shuffleProgressQuery);
      return c.json({ id: shuffleId, ...progress }, 200);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw problems.notFound(`shuffle ${id}`);
      throw error;
    }
  };
  app.openapi(shuffleProgress, answerShuffleProgress);
  // Its first address, still answered alike for clients written against it; left out of the document.
  app.openapi({ ...shuffleProgress, path: '/tasks/shuffles/{id}', hide: true }, answerShuffleProgress);

  return app;
}
