// Case 5: resident memory of the worker process (workers/main.ts, every context, its own child process) with
// many open issues, against the same process's RSS before any issue existed.
import { figure, sleep, type BenchCase } from '../measure.js';
import { cacheSizeFor, openTasksFixture, settleMs } from './open-tasks.js';

const MiB = 2 ** 20;

export const workerRssCase: BenchCase = {
  name: 'worker RSS',
  async run(context, result) {
    const fixture = await openTasksFixture(context);
    Object.assign(result.sizes, { openIssues: fixture.n });
    await sleep(settleMs);
    const loaded = fixture.stack.workers!.rssBytes();
    const idle = fixture.idleRssBytes;
    result.figures.push(figure(`RSS with ${fixture.n.toLocaleString('en-US')} open issues`, 'MiB', loaded / MiB, idle / MiB, 'same process, no issues', { difference: true }));
    result.notes.push(
      `VmRSS from /proc/<pid>/status, ${settleMs / 1000} s after start-up and ${settleMs / 1000} s after the last task opened. ` +
        `The worker caches every open issue (WORKFLOW_CACHE_SIZE=${cacheSizeFor(fixture.n)}): ${((loaded - idle) / 1024 / fixture.n).toFixed(0)} KiB per cached issue workflow.`,
      `open tasks: 1 created over POST /tasks, the rest started over the Temporal client in state open with the carried ` +
        `state of a continued-as-new task (read-model rows written in bulk), ${fixture.rate.toFixed(1)} tasks/s`,
    );
  },
};
