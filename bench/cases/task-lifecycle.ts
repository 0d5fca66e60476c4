// Case 1: N tasks created (POST /tasks) and completed by their assignee (POST /tasks/:id/complete) at
// concurrency C, against the bare workflow doing the same update-with-start/update round trips and no-op activities.
import { randomUUID } from 'node:crypto';
import { and, count, eq } from 'drizzle-orm';
import { issues } from '../../db/schema/issues.js';
import { startBaseline } from '../baseline.js';
import { figure, inLanes, percentile, since, timed, type BenchCase } from '../measure.js';
import { startProductStack, type BenchUser } from '../stack.js';

export const taskLifecycleCase: BenchCase = {
  name: 'task lifecycle',
  async run({ env, quick, log }, result) {
    const tasks = quick ? 40 : 500;
    const concurrency = quick ? 8 : 16;
    const warmUp = quick ? 10 : 50;
    const workerCount = 10;
    Object.assign(result.sizes, { tasks, concurrency, warmUp, workers: workerCount });

    const stack = await startProductStack(env, { workers: true });
    try {
      const manager = await stack.user('manager');
      const workers = await Promise.all(Array.from({ length: workerCount }, () => stack.user('worker')));
      const tokenOf = new Map<string, BenchUser>(workers.map((worker) => [worker.id, worker]));

      const lifecycles = async (n: number, create: number[], complete: number[]) => {
        const start = performance.now();
        await inLanes(n, concurrency, async (index) => {
          const task = await timed(create, () => stack.call('POST', '/tasks', 201, { token: manager.token, body: { title: `Bench task ${index}` } }));
          const assignee = tokenOf.get(task.assigneeId);
          if (!assignee) throw new Error(`task ${task.id} was assigned to ${task.assigneeId}, not one of the bench's workers`);
          await timed(complete, () => stack.call('POST', `/tasks/${task.id}/complete`, 200, { token: assignee.token }));
        });
        return since(start);
      };
      log.info(`task lifecycle: ${warmUp} warm-up + ${tasks} tasks at concurrency ${concurrency} over HTTP`);
      await lifecycles(warmUp, [], []);
      const product = { create: [] as number[], complete: [] as number[], ms: 0 };
      product.ms = await lifecycles(tasks, product.create, product.complete);
      const [done] = await stack.database.db
        .select({ n: count() })
        .from(issues)
        .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'done')));
      if (done!.n !== tasks + warmUp) throw new Error(`expected ${tasks + warmUp} done tasks in the read model, found ${done!.n}`);

      log.info('task lifecycle: the same on the bare workflow');
      const baseline = await startBaseline(env, stack.namespace);
      const bare = { create: [] as number[], complete: [] as number[], ms: 0 };
      try {
        const bareLifecycles = async (n: number, create: number[], complete: number[]) => {
          const start = performance.now();
          await inLanes(n, concurrency, async () => {
            const id = randomUUID();
            await timed(create, () => baseline.create(id));
            await timed(complete, () => baseline.step(id, 'complete'));
          });
          return since(start);
        };
        await bareLifecycles(warmUp, [], []);
        bare.ms = await bareLifecycles(tasks, bare.create, bare.complete);
      } finally {
        await baseline.stop();
      }

      const label = 'bare workflow';
      result.figures.push(figure('throughput', 'tasks/s', (tasks * 1000) / product.ms, (tasks * 1000) / bare.ms, label));
      for (const [call, product_, bare_] of [
        ['POST /tasks', product.create, bare.create],
        ['POST /tasks/:id/complete', product.complete, bare.complete],
      ] as const) {
        for (const p of [50, 99]) {
          result.figures.push(figure(`${call} p${p}`, 'ms', percentile(product_, p), percentile(bare_, p), label, { difference: true }));
        }
      }
      result.notes.push(
        'baseline: bare workflow with the same update-with-start + update round trips and the same no-op activities ' +
          '(per task: 4 activities, one in the background, and 3 local activities), its own worker process and task queue',
      );
    } finally {
      await stack.stop();
    }
  },
};
