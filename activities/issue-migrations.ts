// Issues context: an issue migration's batches. Each batch selects the next running issues of the source version
// (keyset on the issue id, with the migration's filter), tells each issue's workflow to migrate with `migrateUpdate`
// (the workflow commits its own migration step: workflows/issue.ts `migrate`), and adds its counts to the migration.
import { setMaxListeners } from 'node:events';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq } from 'drizzle-orm';
import { transaction } from '../db/client.js';
import { issueMigrations, issues, issueTypes, type SkippedIssue } from '../db/schema/issues.js';
import { issueWorkflowId, migrateUpdate } from '../workflows/messages.js';
import type { Actor } from '../workflows/statechart/catalog.js';
import type { IssueTypeDefinition } from '../workflows/statechart/machine.js';
import { migrationSelection } from '../lib/issues/migrations.js';
import type { ActivityDeps } from './deps.js';

export interface MigrationBatchInput {
  migrationId: string;
  /** The last issue id of the previous batch. */
  after?: string;
  limit: number;
}

export interface MigrationBatchResult {
  /** Issues the batch selected; 0: the migration is over. */
  matched: number;
  migrated: number;
  skipped: number;
  /** Where the next batch starts. */
  last?: string;
}

/** Updates in flight at once: each is a step its issue's worker commits. */
const updatesInFlight = 16;
/** Skipped issues kept with their reasons on the migration (its count has them all). */
const skippedKept = 100;

export function createIssueMigrationActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  return {
    /**
     * Migrates the next `limit` matching issues after `after`. The selected ids are stored on the migration first:
     * a retried attempt tells the same issues again (each answers a repeat of its migration as done, by its update
     * id or its record of the migration) instead of selecting past the ones already moved, so the counts stay
     * exact. The counts are added once: only while the migration's last counted issue is still `after`.
     */
    async migrateIssueBatch(input: MigrationBatchInput): Promise<MigrationBatchResult> {
      const [migration] = await db.select().from(issueMigrations).where(eq(issueMigrations.id, input.migrationId));
      if (!migration) throw ApplicationFailure.nonRetryable(`no issue migration ${input.migrationId}`, 'Issue.MigrationNotFound');
      const [target] = await db
        .select({ definition: issueTypes.definition })
        .from(issueTypes)
        .where(and(eq(issueTypes.key, migration.typeKey), eq(issueTypes.version, migration.toVersion)));
      if (!target) throw ApplicationFailure.nonRetryable(`no version ${migration.toVersion} of ${migration.typeKey}`, 'Issue.MigrationNotFound');

      const after = input.after ?? null;
      let issueIds = migration.batch?.after === after ? migration.batch.issueIds : undefined;
      if (!issueIds) {
        const rows = await db.select({ id: issues.id }).from(issues).where(migrationSelection(migration, input.after)).orderBy(asc(issues.id)).limit(input.limit);
        issueIds = rows.map((row) => row.id);
        await db.update(issueMigrations).set({ batch: { after, issueIds } }).where(eq(issueMigrations.id, migration.id));
      }
      if (issueIds.length === 0) return { matched: 0, migrated: 0, skipped: 0 };

      // Only admins start migrations (the role that saves issue types): the migration step's actor.
      const actor: Actor = { id: migration.startedBy, role: 'admin' };
      const migrate = {
        migrationId: migration.id,
        fromVersion: migration.fromVersion,
        toVersion: migration.toVersion,
        definition: target.definition as IssueTypeDefinition,
        stateMapping: migration.stateMapping,
        actor,
      };
      let migrated = 0;
      const skipped: SkippedIssue[] = [];
      // Cancelled (e.g. the worker shuts down): stop waiting on updates this very worker may be the one to process;
      // the retried batch sends them again under the same update ids.
      const cancelled = cancellationSignal();
      // The SDK adds an abort listener per call and keeps it while the signal lives: expected here, not a leak.
      setMaxListeners(0, cancelled);
      const queue = [...issueIds];
      await Promise.all(
        Array.from({ length: updatesInFlight }, async () => {
          for (let issueId = queue.shift(); issueId; issueId = queue.shift()) {
            try {
              await deps.temporal.withAbortSignal(cancelled, () =>
                deps.temporal.workflow.getHandle(issueWorkflowId(issueId)).executeUpdate(migrateUpdate, { args: [migrate], updateId: `migrate-${migration.id}` }),
              );
              migrated++;
            } catch (error) {
              // Refused by the issue (it moved to an unmapped state, or is at another version), or finished meanwhile.
              if (error instanceof WorkflowUpdateFailedError) skipped.push({ issueId, reason: error.cause instanceof Error ? error.cause.message : String(error.cause) });
              else if (error instanceof WorkflowNotFoundError) skipped.push({ issueId, reason: 'the issue is finished' });
              else throw error;
            }
            heartbeat({ migrated, skipped: skipped.length });
          }
        }),
      );

      const last = issueIds.at(-1)!;
      await transaction(db, 'issue.migration.batch', async (tx) => {
        const [row] = await tx.select().from(issueMigrations).where(eq(issueMigrations.id, migration.id)).for('update');
        // Counted already: this attempt's twin finished the batch, then Temporal did not hear of it.
        if (!row || row.lastIssueId !== after) return;
        await tx
          .update(issueMigrations)
          .set({
            matched: row.matched + issueIds.length,
            migrated: row.migrated + migrated,
            skippedCount: row.skippedCount + skipped.length,
            skipped: [...row.skipped, ...skipped].slice(0, skippedKept),
            lastIssueId: last,
          })
          .where(eq(issueMigrations.id, migration.id));
      });
      deps.log.info(`issue migration ${migration.id}: ${migrated} of ${issueIds.length} issues migrated, ${skipped.length} skipped`);
      return { matched: issueIds.length, migrated, skipped: skipped.length, last };
    },

    /** Marks the migration done (or failed); a repeat changes nothing. */
    async finishIssueMigration(input: { migrationId: string; status: 'done' | 'failed' }): Promise<void> {
      await db
        .update(issueMigrations)
        .set({ status: input.status, finishedAt: new Date() })
        .where(and(eq(issueMigrations.id, input.migrationId), eq(issueMigrations.status, 'running')));
    },
  };
}

export type IssueMigrationActivities = ReturnType<typeof createIssueMigrationActivities>;
