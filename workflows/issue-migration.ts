// Moves the running issues a migration matches to its target version, a batch at a time
// (activities/issue-migrations.ts); progress is the migration's row, which each batch adds its counts to.
import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { IssueMigrationActivities } from '../activities/types.js';
import type { IssueMigrationInput } from './messages.js';
import { activityPolicies } from './policies.js';
import { taskQueues } from './task-queues.js';

const batches = proxyActivities<IssueMigrationActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.migrationBatch });
const records = proxyActivities<IssueMigrationActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.effect });

/** Batches per run: a large migration goes on in a fresh history, from where it was. */
const batchesPerRun = 20;

export async function issueMigrationWorkflow(input: IssueMigrationInput): Promise<void> {
  const { migrationId, batchSize = 100 } = input;
  try {
    // Keyset paging over the read model: a migrated issue leaves the source version, so nothing is selected twice.
    let after = input.resume?.after;
    for (let batch = 0; ; batch++) {
      if (batch === batchesPerRun && after) return continueAsNew<typeof issueMigrationWorkflow>({ ...input, resume: { after } });
      const result = await batches.migrateIssueBatch({ migrationId, after, limit: batchSize });
      if (result.matched === 0) break;
      after = result.last;
    }
  } catch (error) {
    await records.finishIssueMigration({ migrationId, status: 'failed' });
    throw error;
  }
  await records.finishIssueMigration({ migrationId, status: 'done' });
}
