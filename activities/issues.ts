// Issues context's activities: the read model each workflow step writes, and the shuffle's fan-out (assignment and
// topics: lib/issues/effects.ts, lib/issues/topics.ts).
import { setMaxListeners } from 'node:events';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { DomainEventInput } from '../db/events.js';
import { domainEvents } from '../db/schema/platform.js';
import { issues, issueTransitions } from '../db/schema/issues.js';
import type { Role } from '../db/schema/auth.js';
import { issueWorkflowId, sendEventUpdate } from '../workflows/messages.js';
import type { Actor, EffectInput } from '../workflows/statechart/catalog.js';
import type { RecordStepInput } from '../workflows/statechart/step-plan.js';
import { transaction, type Tx } from '../db/client.js';
import { stableUuid } from '../lib/ids.js';
import { issueEffects } from '../lib/issues/effects.js';
import type { ActivityDeps } from './deps.js';

/** The issue's read-model row as of this step; a late retry of an older step never overwrites a newer one. */
export async function writeReadModel(tx: Tx, input: RecordStepInput & { value?: unknown }): Promise<void> {
  const row = {
    typeKey: input.type.key,
    typeVersion: input.type.version,
    title: input.title,
    state: input.to,
    ...(input.value === undefined ? {} : { value: input.value }),
    status: input.status,
    context: input.context,
    assigneeId: input.assigneeId,
    creatorId: input.creatorId,
    step: input.step,
    updatedAt: new Date(),
  };
  await tx
    .insert(issues)
    .values({ id: input.issueId, ...row })
    .onConflictDoUpdate({ target: issues.id, set: row, setWhere: sql`${issues.step} < ${input.step}` });
}

/** The step's row in `issue_transitions`. */
export const transitionRow = ({ issueId, step, from, event, to }: RecordStepInput) => ({
  issueId,
  step,
  fromState: from,
  event: event.type,
  toState: to,
  actorId: event.actor.id,
  actorRole: event.actor.role,
});

/** The step's `issue.transitioned` event and what its `emit` actions ask for, each under an id derived from the step. */
export function stepEvents(input: RecordStepInput): DomainEventInput[] {
  const { issueId, step, event } = input;
  const transition = { issueId, type: input.type.key, step, from: input.from, event: event.type, to: input.to, actorId: event.actor.id };
  return [
    { id: stableUuid(`${issueId}:${step}:transition`), name: 'issue.transitioned', version: 1, producer: 'issues', data: transition },
    // A saved `emit` may leave `data` out: its documented default is `{}`.
    ...input.emits.map((emit, index) => ({ id: stableUuid(`${issueId}:${step}:emit:${index}`), name: emit.name, version: emit.version, producer: 'issues', data: emit.data ?? {} })),
  ];
}

/**
 * Records the step once, in one statement: locks the issue's row (a shuffle batch locks it first too, so steps and
 * batches of one issue take turns and never deadlock), claims the step's transition and, only when this claim is
 * the first, writes the read model and the step's domain events. False when the step was recorded before (a retry,
 * which waits here for an attempt still writing it to commit first). A step without `value` keeps the stored one.
 */
export async function recordStepOnce(tx: Tx, input: RecordStepInput & { value?: unknown }): Promise<boolean> {
  const t = transitionRow(input);
  const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));
  const claimed = await tx.execute<{ step: number }>(sql`
    with locked as (select id from ${issues} where id = ${input.issueId}::uuid for update),
    claimed as (
      insert into ${issueTransitions} (issue_id, step, from_state, event, to_state, actor_id, actor_role)
      select ${t.issueId}::uuid, ${t.step}::int, ${t.fromState}::text, ${t.event}::text, ${t.toState}::text, ${t.actorId}::text, ${t.actorRole}::text
      from (select count(*) from locked) as lock_taken
      on conflict do nothing
      returning step
    ),
    read_model as (
      insert into ${issues} (id, type_key, type_version, title, state, value, status, context, assignee_id, creator_id, step, updated_at)
      select ${input.issueId}::uuid, ${input.type.key}::text, ${input.type.version}::int, ${input.title}::text, ${input.to}::text,
        ${json(input.value)}::jsonb, ${input.status}::text, ${json(input.context)}::jsonb, ${input.assigneeId}::uuid, ${input.creatorId}::uuid,
        step, now()
      from claimed
      on conflict (id) do update set
        type_key = excluded.type_key, type_version = excluded.type_version, title = excluded.title, state = excluded.state,
        value = coalesce(excluded.value, ${issues}.value), status = excluded.status, context = excluded.context,
        assignee_id = excluded.assignee_id, creator_id = excluded.creator_id, step = excluded.step, updated_at = excluded.updated_at
      where ${issues}.step < excluded.step
    ),
    events as (
      insert into ${domainEvents} (id, name, version, producer, data)
      select (e.event->>'id')::uuid, e.event->>'name', (e.event->>'version')::int, e.event->>'producer', e.event->'data'
      from claimed, jsonb_array_elements(${json(stepEvents(input))}::jsonb) with ordinality as e(event, n)
      order by e.n
      on conflict (id) do nothing
    )
    select step from claimed`);
  return claimed.length > 0;
}

/**
 * Sends `shuffle` to each task as an update its own workflow commits. The update id is derived from the shuffle, so
 * a retried batch is deduplicated by Temporal and never reassigns (or charges) a task twice for one shuffle. How
 * tasks whose workflows started before steps committed in one transaction are shuffled (activities/shuffle.ts).
 */
export async function shuffleByUpdates(
  deps: Pick<ActivityDeps, 'temporal'>,
  input: { shuffleId: string; actor: Actor; issueIds: string[] },
): Promise<{ reassigned: number; skipped: number }> {
  let reassigned = 0;
  let skipped = 0;
  const queue = [...input.issueIds];
  // Cancelled (e.g. the worker shuts down): stop waiting on updates, which this very worker may be the one
  // to process; the retried batch sends them again under the same update ids.
  const cancelled = cancellationSignal();
  // The SDK adds an abort listener per call and keeps it until the signal is gone (with this activity): a batch
  // makes hundreds of calls, which is expected here, not the leak Node warns of after ten.
  setMaxListeners(0, cancelled);
  const worker = async () => {
    for (let issueId = queue.shift(); issueId; issueId = queue.shift()) {
      try {
        await deps.temporal.withAbortSignal(cancelled, () =>
          deps.temporal.workflow.getHandle(issueWorkflowId(issueId)).executeUpdate(sendEventUpdate, {
            args: [{ type: 'shuffle', data: { shuffleId: input.shuffleId }, actor: input.actor }],
            updateId: `shuffle-${input.shuffleId}`,
          }),
        );
        reassigned++;
      } catch (error) {
        // Done meanwhile (or finished): not reassigned, by design.
        if (error instanceof WorkflowUpdateFailedError || error instanceof WorkflowNotFoundError) skipped++;
        else throw error;
      }
      heartbeat({ reassigned, skipped });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { reassigned, skipped };
}

export function createIssueActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  return {
    /** The old path's step record: the read-model row, the transition and its domain events, in one transaction. */
    async recordStep(input: RecordStepInput): Promise<void> {
      await transaction(db, 'issue.record-step', async (tx) => {
        await recordStepOnce(tx, input);
      });
    },

    // Issues started before steps ran in one transaction still call these as activities of their own.
    assignRandomUser: (input: EffectInput<{ role: Role; excludeFields?: string[] }>) => issueEffects.assignRandomUser(db, input),
    subscribe: (input: EffectInput<{ topic: string }>) => issueEffects.subscribe(db, input),
    unsubscribe: (input: EffectInput<{ topic: string }>) => issueEffects.unsubscribe(db, input),

    /** A page of open tasks (keyset by id) for the shuffle. */
    async listOpenTasks(input: { after?: string; limit: number }): Promise<string[]> {
      const rows = await db
        .select({ id: issues.id })
        .from(issues)
        .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active'), input.after ? gt(issues.id, input.after) : undefined))
        .orderBy(asc(issues.id))
        .limit(input.limit);
      return rows.map((row) => row.id);
    },

    /** The old shuffle's batch (shuffles started before batches committed in one transaction): see `shuffleByUpdates`. */
    shuffleTasks: (input: { shuffleId: string; actor: Actor; issueIds: string[] }) => shuffleByUpdates(deps, input),
  };
}

export type IssueActivities = ReturnType<typeof createIssueActivities>;
