// Issues context: the shuffle in sets. One transaction per batch of open tasks runs each task's `shuffle` through
// its statechart and commits the steps that follow (new assignee, fee, events, notification) as the task's own
// workflow would; then each task's workflow learns its steps with one signal (sent while the next batch commits)
// and applies them to its machine without committing anything again (workflows/issue.ts `applyCommitted`).
//
// The batch and the tasks' own steps never interleave: both hold the task's read-model row locked while they write
// a step, so a task completed first is not shuffled (it is no longer active), and a completion that comes second
// finds its step number taken and is taken again after the shuffle's steps (and refused: the task is someone
// else's now).
import { activityInfo, heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { and, asc, eq, gt, inArray, isNotNull, lte, or, sql } from 'drizzle-orm';
import type { AnyStateMachine, StateValue } from 'xstate';
import { transaction, type Transaction } from '../db/client.js';
import { appendEvents } from '../db/events.js';
import { issues, issueTransitions, issueTypes } from '../db/schema/issues.js';
import { issueWorkflowId, stepsCommittedSignal, type CommittedSteps } from '../workflows/messages.js';
import { systemActor, type Actor, type IssueEvent } from '../workflows/statechart/catalog.js';
import { buildMachine, restore, stateName, step, type IssueTypeDefinition } from '../workflows/statechart/machine.js';
import { planStep, type CommitStepInput } from '../workflows/statechart/step-plan.js';
import type { ActivityDeps } from './deps.js';
import { runStepEffects } from './issue-step.js';
import { shuffleByUpdates, stepEvents, transitionRow, writeReadModel } from './issues.js';

export interface ShuffleBatchInput {
  shuffleId: string;
  actor: Actor;
  /** The last task id of the previous batch. */
  after?: string;
  limit: number;
}

export interface ShuffleBatchResult {
  /** Open tasks the batch looked at; 0: the shuffle is over. */
  seen: number;
  reassigned: number;
  /** Tasks that could not be shuffled in their state (e.g. still being assigned). */
  skipped: number;
  /** Where the next batch starts. */
  last?: string;
}

/** Tasks of a batch whose steps are written at once. */
const tasksInFlight = 16;
/** Signals in flight at once. */
const signalLanes = 32;

/** How far a telling got: every task up to `toldThrough` (in id order) was told. */
interface TellProgress {
  toldThrough: string;
  told: number;
}

export function createShuffleActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  return {
    /**
     * Shuffles the next `limit` open tasks after `after`. Retried after its commit (the worker died before Temporal
     * heard), it finds the tasks this shuffle moved and counts them again instead of moving them twice.
     */
    async shuffleTaskBatch(input: ShuffleBatchInput): Promise<ShuffleBatchResult> {
      const started = performance.now();
      const batch = await transaction(db, 'shuffle.batch', (tx) => commitBatch(tx, deps, input));
      deps.log.info(`shuffle ${input.shuffleId}: ${batch.reassigned} of ${batch.seen} tasks committed in ${Math.round(performance.now() - started)} ms`);
      // Tasks whose workflows started before steps committed in one transaction take the shuffle as an update.
      const older = batch.olderIssueIds.length ? await shuffleByUpdates(deps, { shuffleId: input.shuffleId, actor: input.actor, issueIds: batch.olderIssueIds }) : { reassigned: 0, skipped: 0 };
      return {
        seen: batch.seen,
        reassigned: batch.reassigned + older.reassigned,
        skipped: batch.skipped + older.skipped,
        ...(batch.last ? { last: batch.last } : {}),
      };
    },

    /**
     * Tells each task of a committed batch (ids after `after` up to `last`) its steps, with one signal: the message
     * the batch stored on the first step it committed for the task. It heartbeats the id up to which every task was
     * told, and a retry (the worker died meanwhile) starts after it; the few sent again are applied once.
     */
    async tellShuffledTasks(input: { shuffleId: string; after?: string; last: string }): Promise<{ told: number }> {
      const t0 = performance.now();
      const resumed = activityInfo().heartbeatDetails as TellProgress | undefined;
      const after = resumed?.toldThrough ?? input.after;
      const rows = await db
        .select({ issueId: issueTransitions.issueId, outcome: issueTransitions.outcome })
        .from(issueTransitions)
        .where(
          and(
            after ? gt(issueTransitions.issueId, after) : undefined,
            lte(issueTransitions.issueId, input.last),
            sql`${issueTransitions.outcome}->>'shuffleId' = ${input.shuffleId}`,
            isNotNull(sql`${issueTransitions.outcome}->'steps'`),
          ),
        )
        .orderBy(asc(issueTransitions.issueId));
      // Signals go out in lanes, so they finish out of order: the heartbeat names the end of the told prefix.
      const done = rows.map(() => false);
      let prefix = 0;
      let told = resumed?.told ?? 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: signalLanes }, async () => {
          for (let index = next++; index < rows.length; index = next++) {
            const row = rows[index]!;
            try {
              await deps.temporal.workflow.getHandle(issueWorkflowId(row.issueId)).signal(stepsCommittedSignal, row.outcome!.steps as CommittedSteps);
            } catch (error) {
              // Finished meanwhile: nothing is left to tell it.
              if (!(error instanceof WorkflowNotFoundError)) throw error;
            }
            done[index] = true;
            while (done[prefix]) prefix++;
            if (++told % 100 === 0 && prefix > 0) heartbeat({ toldThrough: rows[prefix - 1]!.issueId, told } satisfies TellProgress);
          }
        }),
      );
      deps.log.info(`shuffle ${input.shuffleId}: ${rows.length} tasks told their steps in ${Math.round(performance.now() - t0)} ms${resumed ? ` (resumed after ${resumed.toldThrough})` : ''}`);
      return { told };
    },
  };
}

interface CommittedBatch {
  seen: number;
  reassigned: number;
  skipped: number;
  last?: string;
  olderIssueIds: string[];
}

async function commitBatch(tx: Transaction, deps: ActivityDeps, input: ShuffleBatchInput): Promise<CommittedBatch> {
  const { shuffleId, actor } = input;
  const rows = await tx
    .select()
    .from(issues)
    .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active'), input.after ? gt(issues.id, input.after) : undefined))
    .orderBy(asc(issues.id))
    .limit(input.limit)
    .for('update');
  const result: CommittedBatch = { seen: rows.length, reassigned: 0, skipped: 0, last: rows.at(-1)?.id, olderIssueIds: [] };
  if (rows.length === 0) return result;

  // Tasks this shuffle moved already (a retried batch): counted again, not moved again.
  const earlier = await tx
    .select({ issueId: issueTransitions.issueId })
    .from(issueTransitions)
    .where(
      and(
        inArray(
          issueTransitions.issueId,
          rows.map((row) => row.id),
        ),
        sql`${issueTransitions.outcome}->>'shuffleId' = ${shuffleId}`,
        isNotNull(sql`${issueTransitions.outcome}->'steps'`),
      ),
    );
  const movedBefore = new Set(earlier.map((row) => row.issueId));

  const definitions = await tx
    .select({ key: issueTypes.key, version: issueTypes.version, definition: issueTypes.definition })
    .from(issueTypes)
    .where(
      or(
        ...[...new Set(rows.map((row) => `${row.typeKey}@${row.typeVersion}`))].map((pinned) => {
          const [key, version] = pinned.split('@') as [string, string];
          return and(eq(issueTypes.key, key), eq(issueTypes.version, Number(version)));
        }),
      ),
    );
  const definitionOf = new Map(definitions.map((row) => [`${row.key}@${row.version}`, row.definition as IssueTypeDefinition]));

  const shuffleOne = async (row: (typeof rows)[number]) => {
    if (movedBefore.has(row.id)) {
      result.reassigned++;
      return;
    }
    // Written by a workflow on the path before steps committed in one transaction: no state value to step from.
    if (row.value === null) {
      result.olderIssueIds.push(row.id);
      return;
    }
    const definition = definitionOf.get(`${row.typeKey}@${row.typeVersion}`);
    if (!definition) throw new Error(`issue ${row.id} is pinned to ${row.typeKey}@${row.typeVersion}, which does not exist`);
    // Built per issue, as its workflow does: `$issue.id` in its expressions is this issue's.
    const machine: AnyStateMachine = buildMachine(definition, { id: row.id, type: row.typeKey });
    const issue = { issueId: row.id, type: { key: row.typeKey, version: row.typeVersion }, title: row.title, creatorId: row.creatorId };
    let snapshot = restore(machine, row.value as StateValue, row.context as Record<string, unknown>);
    let stepNo = row.step;
    let last: CommitStepInput | undefined;
    const events: IssueEvent[] = [];
    const mailKeys: string[] = [];
    const transitions: (typeof issueTransitions.$inferInsert)[] = [];
    // The issue's settle loop: the shuffle, then each effect answer in turn, until none is left. The row is
    // locked, so no step of this issue can take these numbers meanwhile: the transitions are written at the end.
    const queue: IssueEvent[] = [{ type: 'shuffle', data: { shuffleId }, actor }];
    for (let event = queue.shift(); event; event = queue.shift()) {
      const [next, actions] = step(machine, snapshot, event);
      if (next === snapshot) continue;
      stepNo++;
      last = planStep(issue, stepNo, stateName(snapshot.value), event, next, actions);
      await appendEvents(tx, stepEvents(last));
      const outcome = await runStepEffects(tx, deps, last.effects);
      transitions.push({ ...transitionRow(last), outcome: { ...outcome, shuffleId } });
      events.push(event);
      mailKeys.push(...outcome.mailKeys);
      for (const answer of outcome.answers) queue.push({ ...answer, actor: systemActor });
      snapshot = next;
    }
    if (!last) {
      result.skipped++;
      return;
    }
    // The first step carries the message that tells the issue's workflow (sent again should the batch be retried).
    const steps: CommittedSteps = { shuffleId, fromStep: row.step, events, mailKeys };
    transitions[0]!.outcome = { ...transitions[0]!.outcome!, steps };
    await tx.insert(issueTransitions).values(transitions);
    // The read model as the last step leaves it: the steps before it are in the transitions and events.
    await writeReadModel(tx, last);
    result.reassigned++;
  };
  // Tasks are independent: several go at once on the transaction's one connection, which pipelines their statements
  // (each task's own statements stay in order).
  const pending = [...rows];
  await Promise.all(
    Array.from({ length: tasksInFlight }, async () => {
      for (let row = pending.shift(); row; row = pending.shift()) await shuffleOne(row);
    }),
  );
  return result;
}
