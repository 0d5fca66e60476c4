// The minimal baseline of the task benchmarks: a hand-written task workflow making the same kind of database
// writes as an aTES task with the fewest round trips, to show what Temporal and PostgreSQL cost at the least.
// Creation is an update-with-start answered once two local activities have run (the task row with a random
// worker; then the assignment fee and the worker's notification); completion is one update running one local
// activity (the reward and the task marked done). Each activity is one statement: one transaction, one trip.
// Bundled on its own (bench/minimal-worker.ts), never part of the product's workflows/ bundle.
import { allHandlersFinished, condition, defineQuery, defineUpdate, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { MinimalActivities } from './minimal-activities.js';

export interface MinimalTask {
  id: string;
  title: string;
  assigneeId: string;
  assignFeeCents: number;
  rewardCents: number;
  status: 'open' | 'done';
}

/** Answers once the task is assigned and charged (what `POST /tasks` waits for). */
export const minimalCreatedUpdate = defineUpdate<MinimalTask>('created');
/** Pays the reward and ends the task (what `POST /tasks/:id/complete` does). */
export const minimalCompleteUpdate = defineUpdate<MinimalTask>('complete');
/** The live task (what `GET /issues/:id` answers for an open task). */
export const minimalTaskQuery = defineQuery<MinimalTask | undefined>('task');

export const minimalTaskQueue = 'bench-minimal';

const local = proxyLocalActivities<MinimalActivities>({ startToCloseTimeout: '10s', retry: { initialInterval: '200ms', maximumInterval: '10s' } });

export async function minimalTaskWorkflow(input: { id: string; title: string }): Promise<MinimalTask> {
  // Math.random is deterministic in a workflow: the prices are drawn once and replayed.
  const assignFeeCents = 1000 + 100 * Math.floor(Math.random() * 11);
  const rewardCents = 2000 + 100 * Math.floor(Math.random() * 21);
  let task: MinimalTask | undefined;
  let completing = false;

  setHandler(minimalTaskQuery, () => task);
  setHandler(minimalCreatedUpdate, async () => {
    await condition(() => task !== undefined);
    return task!;
  });
  setHandler(
    minimalCompleteUpdate,
    async () => {
      completing = true;
      await condition(() => task !== undefined);
      await local.completeTask({ id: input.id, assigneeId: task!.assigneeId, rewardCents });
      task = { ...task!, status: 'done' };
      return task;
    },
    {
      validator: () => {
        if (completing) throw new Error('the task is done or being completed');
      },
    },
  );

  const { assigneeId } = await local.createTask({ id: input.id, title: input.title, assignFeeCents, rewardCents });
  await local.chargeAssignFee({ id: input.id, title: input.title, assigneeId, assignFeeCents });
  task = { id: input.id, title: input.title, assigneeId, assignFeeCents, rewardCents, status: 'open' };
  await condition(() => task!.status === 'done' && allHandlersFinished());
  return task;
}
