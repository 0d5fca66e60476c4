// Opens many tasks quickly: the starting point of the shuffle and the worker RSS cases, which measure what
// happens to open tasks, not their creation (case 1 measures that).
//
// One task is created over POST /tasks; the others are started over the Temporal client as that task would
// continue after a continue-as-new: the issue workflow gets the carried state (`open`, a context of the same
// shape with its own assignee and prices) and settles at once, without running the creation effects again.
// Their read-model rows are written in bulk beforehand, since the shuffle pages through the read model.
import { randomInt, randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { and, count, desc, eq } from 'drizzle-orm';
import { issues, issueTypes } from '../../db/schema/issues.js';
import type { issueWorkflow } from '../../workflows/issue.js';
import { issueWorkflowId, settledUpdate } from '../../workflows/messages.js';
import { AssigneeIdKey, IssueStateKey, IssueTypeKey } from '../../workflows/search-attributes.js';
import type { IssueTypeDefinition } from '../../workflows/statechart/machine.js';
import { taskQueues } from '../../workflows/task-queues.js';
import { inLanes, since, sleep, within, type CaseContext } from '../measure.js';
import { startProductStack, type BenchUser, type ProductStack } from '../stack.js';

/** Opens `n` tasks assigned to `workers`; answers tasks per second. Every one is open and settled when this returns. */
export async function openTasks(stack: ProductStack, options: { creator: BenchUser; workers: BenchUser[]; n: number; concurrency: number }): Promise<number> {
  const { creator, workers, n, concurrency } = options;
  const { db } = stack.database;
  const start = performance.now();
  const model = await stack.call('POST', '/tasks', 201, { token: creator.token, body: { title: 'Open task 0' } });
  if (model.state !== 'open') throw new Error(`task ${model.id} is ${model.state}, not open`);
  const [type] = await db.select().from(issueTypes).where(eq(issueTypes.key, 'task')).orderBy(desc(issueTypes.version)).limit(1);
  if (!type || type.version !== model.version) throw new Error('the task type changed under the bench');

  const tasks = Array.from({ length: n - 1 }, (_, index) => {
    const title = `Open task ${index + 1}`;
    const assigneeId = workers[index % workers.length]!.id;
    const context = { ...model.context, title, assigneeId, assignFeeCents: 100 * randomInt(10, 21), rewardCents: 100 * randomInt(20, 41) };
    return { id: randomUUID(), title, assigneeId, context };
  });
  for (let from = 0; from < tasks.length; from += 1000) {
    await db.insert(issues).values(
      tasks.slice(from, from + 1000).map((task) => ({
        id: task.id,
        typeKey: type.key,
        typeVersion: type.version,
        title: task.title,
        state: 'open',
        value: 'open',
        status: 'active' as const,
        context: task.context,
        assigneeId: task.assigneeId,
        creatorId: creator.id,
        step: model.step,
      })),
    );
  }
  await inLanes(tasks.length, concurrency, async (index) => {
    const task = tasks[index]!;
    const opening = stack.temporal.workflow.executeUpdateWithStart(settledUpdate, {
      args: [{ id: creator.id, role: creator.role }],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof issueWorkflow>('issueWorkflow', {
        workflowId: issueWorkflowId(task.id),
        taskQueue: taskQueues.issues,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [
          {
            issueId: task.id,
            type: { key: type.key, version: type.version, definition: type.definition as IssueTypeDefinition },
            title: task.title,
            creator: { id: creator.id, role: creator.role },
            context: task.context,
            carried: { value: 'open', context: task.context, step: model.step, timers: [] },
          },
        ],
        typedSearchAttributes: [
          { key: IssueTypeKey, value: type.key },
          { key: IssueStateKey, value: 'open' },
          { key: AssigneeIdKey, value: task.assigneeId },
        ],
        memo: { title: task.title },
      }),
    });
    const settled = await within(`opening task ${task.id}`, 120_000, opening);
    if (settled.state !== 'open' || settled.assigneeId !== task.assigneeId) throw new Error(`task ${task.id} did not open: ${JSON.stringify(settled)}`);
  });
  const rate = (n * 1000) / since(start);

  const [open] = await db
    .select({ n: count() })
    .from(issues)
    .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active')));
  if (open!.n !== n) throw new Error(`expected ${n} open tasks in the read model, found ${open!.n}`);
  return rate;
}

export const openConcurrency = 64;
/** Pause before reading a process's RSS, so it reflects a settled process rather than a burst. */
export const settleMs = 5000;
const openTasksKey = 'open tasks';

/** Room for every open task and the few other workflows the deployment runs (billing days, the shuffle). */
export const cacheSizeFor = (openTasks: number) => openTasks + 100;

/** Stops the deployment of the open tasks (its worker holds them in memory). */
export const releaseOpenTasks = (context: CaseContext) => context.release(openTasksKey);

export interface OpenTasksFixture {
  stack: ProductStack;
  manager: BenchUser;
  workers: BenchUser[];
  /** Open tasks. */
  n: number;
  /** How fast they were opened (tasks/s). */
  rate: number;
  /** The worker process's RSS before the first task, once start-up had settled. */
  idleRssBytes: number;
}

/**
 * One deployment with `n` open tasks on 10 workers, shared by the worker RSS and shuffle cases. Its worker caches
 * every open task (WORKFLOW_CACHE_SIZE above `n`): the RSS case weighs them all, and the shuffle replays none.
 */
export function openTasksFixture(context: CaseContext): Promise<OpenTasksFixture> {
  const n = context.quick ? 200 : 10_000;
  return context.shared(openTasksKey, async () => {
    const stack = await startProductStack(context.env, { workers: true, workerEnv: { WORKFLOW_CACHE_SIZE: String(cacheSizeFor(n)) } });
    try {
      const manager = await stack.user('manager');
      const workers = await Promise.all(Array.from({ length: 10 }, () => stack.user('worker')));
      // Idle after start-up: the bundle is loaded, no workflow has run yet.
      await sleep(settleMs);
      const idleRssBytes = stack.workers!.rssBytes();
      context.log.info(`opening ${n} tasks (1 over HTTP, the rest over the Temporal client) at concurrency ${openConcurrency}`);
      const rate = await openTasks(stack, { creator: manager, workers, n, concurrency: openConcurrency });
      context.log.info(`opened ${n} tasks at ${rate.toFixed(1)} tasks/s`);
      return { value: { stack, manager, workers, n, rate, idleRssBytes }, stop: () => stack.stop() };
    } catch (error) {
      await stack.stop();
      throw error;
    }
  });
}
