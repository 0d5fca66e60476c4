// The baseline of the task benchmarks: a bare workflow with a task's shape of work and none of its logic.
// Per assignment (creation, reassignment) a task's workflow runs a local read-model write, the assignment
// activity, a second local write, the fee activity, and the notification activity in the background; a
// completion runs a local write and the reward activity. Here every one of those is a no-op, and the
// messages are the same: update-with-start answering once settled, then one update per step.
// Bundled on its own (bench/baseline-worker.ts), never part of the product's workflows/ bundle.
import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { BaselineActivities } from './baseline-activities.js';

/** Answers once the workflow has settled (what `POST /tasks` waits for). */
export const bareSettledUpdate = defineUpdate<number>('settled');
/** `complete` ends the workflow; `reassign` repeats the assignment work (what a shuffle sends). */
export const bareStepUpdate = defineUpdate<number, ['complete' | 'reassign']>('step');

export const bareTaskQueue = 'bench-baseline';

const activities = proxyActivities<BaselineActivities>({ startToCloseTimeout: '30s' });
const localActivities = proxyLocalActivities<BaselineActivities>({ startToCloseTimeout: '10s' });

/** `open`: start as an already assigned task (what the shuffle's open tasks are), without the assignment work. */
export async function bareTaskWorkflow(options: { open?: boolean } = {}): Promise<number> {
  let steps = 0;
  let busy = true;
  let done = false;
  const background: Promise<void>[] = [];

  const assign = async () => {
    await localActivities.noop();
    await activities.noop();
    await localActivities.noop();
    await activities.noop();
    background.push(activities.noop());
    steps++;
  };
  const complete = async () => {
    await localActivities.noop();
    await activities.noop();
    steps++;
    done = true;
  };

  setHandler(bareSettledUpdate, async () => {
    await condition(() => !busy);
    return steps;
  });
  setHandler(
    bareStepUpdate,
    async (step) => {
      await condition(() => !busy);
      busy = true;
      try {
        await (step === 'complete' ? complete() : assign());
      } finally {
        busy = false;
      }
      return steps;
    },
    {
      validator: (_step) => {
        if (done) throw new Error('the bare task is done');
      },
    },
  );

  if (!options.open) await assign();
  busy = false;
  await condition(() => done);
  await Promise.all(background);
  return steps;
}
