// Reassigns every open task to a random active worker, a batch at a time, with progress as a query.
//
// Each batch is one transaction that commits the tasks' steps, then one signal per task (activities/shuffle.ts).
// Shuffles started before that (`shuffle-in-sets`) go on as they began: a page of ids, then an update per task.
// Once none runs (Web UI: shuffleWorkflow executions started before the deploy that brought it), replace
// `patched` by `deprecatePatch`, then remove the old branch with `listOpenTasks` and `shuffleTasks`.
import { continueAsNew, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { IssueActivities, ShuffleActivities } from '../activities/types.js';
import { shuffleProgressQuery, type ShuffleInput, type ShuffleProgress } from './messages.js';
import { activityPolicies } from './policies.js';
import { taskQueues } from './task-queues.js';

const tasks = proxyActivities<IssueActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.effect });
const batches = proxyActivities<IssueActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.shuffleBatch });
const sets = proxyActivities<ShuffleActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.shuffleBatch });
const shuffleInSetsPatch = 'shuffle-in-sets';

export async function shuffleWorkflow(input: ShuffleInput): Promise<ShuffleProgress> {
  const { shuffleId, actor, batchSize = 200 } = input;
  const progress: ShuffleProgress = input.resume?.progress ?? { shuffleId, status: 'running', seen: 0, reassigned: 0, skipped: 0, startedBy: actor.id };
  setHandler(shuffleProgressQuery, () => progress);

  // The tasks of the batch before are told their steps while the next batch commits: at most one telling at a time.
  let telling: Promise<unknown> = Promise.resolve();
  // Keyset paging over the read model: tasks created meanwhile are shuffled if their id comes later.
  for (let after = input.resume?.after; ; ) {
    // A shuffle of very many tasks goes on in a fresh history, from where it was.
    if (workflowInfo().continueAsNewSuggested) {
      await telling;
      return continueAsNew<typeof shuffleWorkflow>({ ...input, resume: { after, progress } });
    }
    if (patched(shuffleInSetsPatch)) {
      const batch = await sets.shuffleTaskBatch({ shuffleId, actor, after, limit: batchSize });
      if (batch.seen === 0) break;
      await telling;
      telling = sets.tellShuffledTasks({ shuffleId, after, last: batch.last! });
      progress.seen += batch.seen;
      progress.reassigned += batch.reassigned;
      progress.skipped += batch.skipped;
      after = batch.last;
      continue;
    }
    const issueIds = await tasks.listOpenTasks({ after, limit: batchSize });
    if (issueIds.length === 0) break;
    progress.seen += issueIds.length;
    const result = await batches.shuffleTasks({ shuffleId, actor, issueIds });
    progress.reassigned += result.reassigned;
    progress.skipped += result.skipped;
    after = issueIds.at(-1);
  }
  await telling;
  progress.status = 'completed';
  return progress;
}
