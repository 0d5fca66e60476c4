// Case 2: shuffle of every open task (POST /tasks/shuffle, then GET /task-shuffles/:id until completed),
// against the same number of reassign updates sent to open bare workflows at the shuffle's own concurrency.
import { randomUUID } from 'node:crypto';
import { startBaseline } from '../baseline.js';
import { figure, inLanes, since, waitFor, type BenchCase } from '../measure.js';
import { openConcurrency, openTasksFixture, releaseOpenTasks } from './open-tasks.js';

/** Updates a shuffle batch keeps in flight (activities/issues.ts shuffleTasks). */
const shuffleLanes = 16;

export const shuffleCase: BenchCase = {
  name: 'shuffle',
  async run(context, result) {
    const { env, log } = context;
    const { stack, manager, n } = await openTasksFixture(context);
    Object.assign(result.sizes, { openTasks: n });

    let productMs: number;
    try {
      log.info(`shuffle: ${n} open tasks`);
      const start = performance.now();
      const { id } = await stack.call('POST', '/tasks/shuffle', 202, { token: manager.token });
      const progress = await waitFor(
        `shuffle ${id}`,
        60 * 60_000,
        async () => {
          const answer = await stack.call('GET', `/task-shuffles/${id}`, 200, { token: manager.token });
          return answer.status === 'completed' ? answer : undefined;
        },
        250,
      );
      productMs = since(start);
      if (progress.seen !== n || progress.reassigned !== n) throw new Error(`the shuffle saw ${progress.seen} and reassigned ${progress.reassigned} of ${n} open tasks`);
    } finally {
      // The baseline should not share the machine with a worker holding thousands of workflows.
      await releaseOpenTasks(context);
    }

    log.info(`shuffle: baseline, ${n} reassign updates to open bare workflows at concurrency ${shuffleLanes}`);
    const baseline = await startBaseline(env, await env.createNamespace());
    let bareMs: number;
    try {
      const ids = Array.from({ length: n }, () => randomUUID());
      await inLanes(n, openConcurrency, (index) => baseline.create(ids[index]!, { open: true }));
      const bareStart = performance.now();
      await inLanes(n, shuffleLanes, (index) => baseline.step(ids[index]!, 'reassign'));
      bareMs = since(bareStart);
    } finally {
      await baseline.stop();
    }

    const label = 'bare workflow updates';
    result.figures.push(figure('total time', 's', productMs / 1000, bareMs / 1000, label, { difference: true }));
    result.figures.push(figure('throughput', 'tasks/s', (n * 1000) / productMs, (n * 1000) / bareMs, label));
    result.notes.push(
      `time from POST /tasks/shuffle until GET /task-shuffles/:id (polled every 250 ms) answers completed, all ${n} reassigned; ` +
        `baseline: ${n} updates from the Temporal client, ${shuffleLanes} in flight as in a shuffle batch, each doing a reassignment's ` +
        'no-op activities (2 local, 3 activities of which 1 in the background); the open bare workflows are started beforehand, untimed',
    );
  },
};
