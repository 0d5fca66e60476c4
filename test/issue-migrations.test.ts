// Migrating running issues to a new version of their type: 1000 open tasks moved to a version that renames their
// state (one `issue.migrated` step each, no money moved, still completable, nothing moved twice), the requests
// refused before anything moves, a migration of many batches across workflow runs and a retried batch counted once,
// an issue refusing a mapping it has moved past, and a target state's `after` timer re-armed from the migration time.
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIssueMigrationActivities } from '../activities/issue-migrations.js';
import { ledgerEntries } from '../db/schema/billing.js';
import { issueMigrations, issues, issueTransitions } from '../db/schema/issues.js';
import { domainEvents } from '../db/schema/platform.js';
import { issueMigrationWorkflowId, issueQuery, issueWorkflowId, migrateUpdate } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';
import { inBatches } from './support/lanes.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { startIssue } from './support/time-skipping.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a migration (in real time) until it is no longer running; answers it. */
async function finished(h: Harness, admin: TestUser, location: string, withinMs = 300_000) {
  for (const deadline = Date.now() + withinMs; ; await sleep(200)) {
    const res = await h.request('GET', location, { token: admin.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    if (res.body.status !== 'running') return res.body;
    if (Date.now() > deadline) throw new Error(`migration still running: ${JSON.stringify(res.body)}`);
  }
}

// First, on a server of its own whose clock the test moves: the time-skipping runtime is installed before any other.
describe('a target state with an after timer', () => {
  let h: Harness;
  let admin: TestUser;
  beforeAll(async () => {
    h = await startHarness({ timeSkipping: true });
    admin = await h.user('admin');
  }, 180_000);
  afterAll(() => h?.stop());

  const history = async (issueId: string): Promise<[string | null, string, string][]> =>
    (await h.request('GET', `/issues/${issueId}/history`, { token: admin.token })).body.items.map((t: any) => [t.from, t.event, t.to]);

  it('arms it from the migration time; the old version’s timer never fires', async () => {
    const save = async (definition: Record<string, unknown>) => {
      const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'reminder', name: 'Reminder', definition } });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      return saved.body.version as number;
    };
    // v1: waiting --(1 h)--> late.  v2: pending --($context.expiry, 2 h)--> expired.
    const v1 = await save({ initial: 'waiting', context: { expiry: '2h' }, states: { waiting: { after: { '1h': 'late' }, on: { go: 'late' } }, late: { on: { go: 'waiting' } } } });
    const issue = await startIssue(h, admin, { type: 'reminder', title: 'Renew the perch licence' });
    expect(issue).toMatchObject({ state: 'waiting', version: v1 });
    const v2 = await save({ initial: 'pending', states: { pending: { after: { '$context.expiry': 'expired' } }, expired: { on: { renew: 'pending' } } } });

    await h.time!.skip(30 * 60_000);
    const started = await h.request('POST', '/issue-types/reminder/migrations', {
      token: admin.token,
      body: { fromVersion: v1, toVersion: v2, stateMapping: { waiting: 'pending' } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(await finished(h, admin, started.headers.get('location')!, 60_000)).toMatchObject({ status: 'done', matched: 1, migrated: 1 });
    const state = async () => (await h.request('GET', `/issues/${issue.id}`, { token: admin.token })).body;
    expect(await state()).toMatchObject({ version: v2, state: 'pending' });

    // 1 h 15 min after the start: the old 1 h timer would have fired.
    await h.time!.skip(45 * 60_000);
    await sleep(1000);
    expect((await state()).state).toBe('pending');
    // 2 h 15 min after the start, 1 h 45 min after the migration: a 2 h timer from the start would have fired.
    await h.time!.skip(60 * 60_000);
    await sleep(1000);
    expect((await state()).state).toBe('pending');
    // 2 h 45 min after the start, 2 h 15 min after the migration.
    await h.time!.skip(30 * 60_000);
    for (const deadline = Date.now() + 20_000; (await state()).state !== 'expired'; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`not expired: ${JSON.stringify(await state())}`);
    }
    expect(await history(issue.id)).toEqual([
      [null, 'issue.created', 'waiting'],
      ['waiting', 'issue.migrated', 'pending'],
      ['pending', 'xstate.after.$context.expiry.reminder.pending', 'expired'],
    ]);
  }, 120_000);
});

describe('migrating running tasks', () => {
  let h: Harness;
  let admin: TestUser;
  let manager: TestUser;
  let workers: TestUser[];
  beforeAll(async () => {
    h = await startHarness();
    [admin, manager] = [await h.user('admin'), await h.user('manager')];
    workers = await Promise.all(Array.from({ length: 5 }, () => h.user('worker')));
  });
  afterAll(() => h?.stop());

  const ledger = async () => {
    const [row] = await h.database.db.select({ rows: sql<number>`count(*)::int`, cents: sql<number>`coalesce(sum(${ledgerEntries.amountCents}), 0)::bigint` }).from(ledgerEntries);
    return { rows: row!.rows, cents: Number(row!.cents) };
  };

  it('moves 1000 open tasks to a version that renames their state: one step each, no money moved, still completable', async () => {
    const created = Date.now();
    const taskIds = await inBatches(Array.from({ length: 1000 }, (_, n) => n), 16, async (n) => {
      const res = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Migrate me #${n}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    });
    console.info(`created 1000 tasks in ${Date.now() - created} ms`);

    // The next version of the built-in task: `open` is called `in_progress` now.
    const current = (await h.request('GET', '/issue-types/task', { token: admin.token })).body;
    const definition = structuredClone(current.definition);
    definition.states.in_progress = definition.states.open;
    delete definition.states.open;
    definition.states.assigning.on['assignee.assigned'].target = 'in_progress';
    const saved = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: { key: 'task', name: current.name, description: current.description, definition, input: current.input },
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const v2: number = saved.body.version;

    // Every state open tasks are in is mapped: the renamed one to its new name, any other to itself.
    const occupied = await h.database.db.selectDistinct({ state: issues.state }).from(issues).where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active')));
    expect(occupied.map((row) => row.state)).toContain('open');
    const stateMapping = Object.fromEntries(occupied.map(({ state }) => [state, state === 'open' ? 'in_progress' : state]));
    const ledgerBefore = await ledger();

    const key = randomUUID();
    const body = { fromVersion: current.version, toVersion: v2, stateMapping };
    const startedAt = Date.now();
    const started = await h.request('POST', '/issue-types/task/migrations', { token: admin.token, body, headers: { 'Idempotency-Key': key } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ typeKey: 'task', fromVersion: current.version, toVersion: v2, status: 'running', startedBy: admin.id });
    const location = started.headers.get('location')!;
    expect(location).toBe(`/issue-types/task/migrations/${started.body.id}`);
    const migration = await finished(h, admin, location);
    console.info(`migrated 1000 tasks in ${Date.now() - startedAt} ms: ${JSON.stringify({ ...migration, stateMapping: undefined })}`);
    expect(migration).toMatchObject({ status: 'done', matched: 1000, migrated: 1000, skipped: { count: 0, issues: [] } });
    expect(migration.finishedAt).not.toBeNull();

    const { db } = h.database;
    const rows = await db.select().from(issues).where(inArray(issues.id, taskIds));
    expect(rows.filter((row) => row.typeVersion !== v2 || row.state !== 'in_progress' || row.value !== 'in_progress').map((row) => row.id)).toEqual([]);
    const migratedSteps = await db
      .select({ issueId: issueTransitions.issueId, steps: sql<number>`count(*)::int` })
      .from(issueTransitions)
      .where(and(inArray(issueTransitions.issueId, taskIds), eq(issueTransitions.event, 'issue.migrated')))
      .groupBy(issueTransitions.issueId);
    expect(migratedSteps).toHaveLength(1000);
    expect(migratedSteps.every((row) => row.steps === 1)).toBe(true);
    const [transition] = await db.select().from(issueTransitions).where(and(eq(issueTransitions.issueId, taskIds[0]!), eq(issueTransitions.event, 'issue.migrated')));
    expect(transition).toMatchObject({ fromState: 'open', toState: 'in_progress', actorId: admin.id, actorRole: 'admin' });
    const [events] = await db
      .select({ count: sql<number>`count(*)::int` })
      .from(domainEvents)
      .where(and(eq(domainEvents.name, 'issue.migrated'), sql`${domainEvents.data}->>'migrationId' = ${migration.id}`));
    expect(events!.count).toBe(1000);
    expect(await ledger()).toEqual(ledgerBefore);

    // The workflows run the new version: what they show is the read model's.
    const sample = taskIds[0]!;
    const handle = h.services.deps.temporal.workflow.getHandle(issueWorkflowId(sample));
    expect(await handle.query(issueQuery, { id: admin.id, role: 'admin' })).toMatchObject({ version: v2, state: 'in_progress' });

    // A migrated task is completed by its assignee and paid its reward, once.
    const task = (await h.request('GET', `/issues/${sample}`, { token: admin.token })).body;
    const assignee = workers.find((worker) => worker.id === task.assigneeId)!;
    expect((await h.request('GET', `/issues/${sample}`, { token: assignee.token })).body.allowedEvents).toContain('complete');
    const completed = await h.request('POST', `/tasks/${sample}/complete`, { token: assignee.token });
    expect(completed.status, JSON.stringify(completed.body)).toBe(200);
    expect(completed.body).toMatchObject({ state: 'done', version: v2 });
    const rewards = await db.select().from(ledgerEntries).where(and(eq(ledgerEntries.issueId, sample), eq(ledgerEntries.kind, 'reward')));
    expect(rewards.map((r) => [r.userId, r.amountCents])).toEqual([[assignee.id, task.context.rewardCents]]);
    expect(await ledger()).toEqual({ rows: ledgerBefore.rows + 1, cents: ledgerBefore.cents + task.context.rewardCents });

    // The same request again answers the same migration; a new one of the same versions finds nothing to move.
    const retried = await h.request('POST', '/issue-types/task/migrations', { token: admin.token, body, headers: { 'Idempotency-Key': key } });
    expect(retried.status).toBe(202);
    expect(retried.body.id).toBe(migration.id);
    const again = await h.request('POST', '/issue-types/task/migrations', { token: admin.token, body });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(await finished(h, admin, again.headers.get('location')!)).toMatchObject({ status: 'done', matched: 0, migrated: 0 });
    // A batch retried after it told an issue: the issue answers as done and takes no second step.
    const other = taskIds[1]!;
    const before = (await db.select().from(issues).where(eq(issues.id, other)))[0]!;
    const view = await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(other)).executeUpdate(migrateUpdate, {
      args: [{ migrationId: migration.id, fromVersion: current.version, toVersion: v2, definition, stateMapping, actor: { id: admin.id, role: 'admin' } }],
      updateId: `migrate-${migration.id}`,
    });
    expect(view).toMatchObject({ version: v2, state: 'in_progress', step: before.step });
    const [{ steps }] = (await db
      .select({ steps: sql<number>`count(*)::int` })
      .from(issueTransitions)
      .where(and(eq(issueTransitions.event, 'issue.migrated'), inArray(issueTransitions.issueId, taskIds)))) as [{ steps: number }];
    expect(steps).toBe(1000);
    expect(await ledger()).toEqual({ rows: ledgerBefore.rows + 1, cents: ledgerBefore.cents + task.context.rewardCents });

    const listed = await h.request('GET', '/issue-types/task/migrations?limit=1', { token: admin.token });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((m: any) => m.id)).toEqual([again.body.id]);
    const rest = await h.request('GET', `/issue-types/task/migrations?limit=1&after=${listed.body.nextCursor}`, { token: admin.token });
    expect(rest.body).toMatchObject({ items: [{ id: migration.id }], nextCursor: null });
  }, 600_000);

  it('refuses, before anything moves, unmapped occupied states, unknown and final targets, unknown sources and equal versions', async () => {
    const save = async (definition: Record<string, unknown>) => {
      const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'chore', name: 'Chore', definition } });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      return saved.body.version as number;
    };
    const v1 = await save({ initial: 'open', states: { open: { on: { finish: 'closed' } }, closed: { type: 'final' } } });
    const created = await h.request('POST', '/issues', { token: manager.token, body: { type: 'chore', title: 'Sweep the cage' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const v2 = await save({ initial: 'todo', states: { todo: { on: { finish: 'closed' } }, closed: { type: 'final' } } });

    const post = (body: unknown, key = 'chore') => h.request('POST', `/issue-types/${key}/migrations`, { token: admin.token, body });
    const refused = async (body: unknown) => {
      const res = await post(body);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      return res.body.errors as { field: string; message: string }[];
    };
    const fieldsOf = async (body: unknown) => (await refused(body)).map((e) => e.field);
    // The running chore is `open`, which version 2 does not have.
    expect(await refused({ fromVersion: v1, toVersion: v2, stateMapping: {} })).toEqual([
      { field: 'body.stateMapping.open', message: `running issues of version ${v1} are in "open": map it to a state of version ${v2}` },
    ]);
    expect(await fieldsOf({ fromVersion: v1, toVersion: v2, stateMapping: { open: 'nowhere' } })).toEqual(['body.stateMapping.open']);
    const final = await refused({ fromVersion: v1, toVersion: v2, stateMapping: { open: 'closed' } });
    expect(final.map((e) => e.field)).toEqual(['body.stateMapping.open']);
    expect(final[0]!.message).toMatch(/final/);
    expect(await fieldsOf({ fromVersion: v1, toVersion: v2, stateMapping: { open: 'todo', gone: 'todo' } })).toEqual(['body.stateMapping.gone']);
    expect(await fieldsOf({ fromVersion: v1, toVersion: v1, stateMapping: { open: 'open' } })).toEqual(['body.toVersion']);
    expect(await fieldsOf({ fromVersion: v1, toVersion: 99, stateMapping: { open: 'todo' } })).toEqual(['body.toVersion']);
    expect(await fieldsOf({ fromVersion: 99, toVersion: v2, stateMapping: { open: 'todo' } })).toEqual(['body.fromVersion']);
    expect((await post({ fromVersion: 1, toVersion: 2, stateMapping: {} }, 'no_such_type')).status).toBe(404);

    expect(await h.database.db.select().from(issueMigrations).where(eq(issueMigrations.typeKey, 'chore'))).toEqual([]);
    expect((await h.request('GET', `/issues/${created.body.id}`, { token: manager.token })).body).toMatchObject({ version: v1, state: 'open' });
  });

  it('goes on across runs of its workflow with exact counts when it has many batches', async () => {
    const save = async (working: string) => {
      const definition = { initial: working, states: { [working]: { on: { finish: 'finished' } }, finished: { type: 'final' } } };
      const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'batched', name: 'Batched', definition } });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      return saved.body.version as number;
    };
    const v1 = await save('working');
    const issueIds = await inBatches(Array.from({ length: 25 }, (_, n) => n), 5, async (n) => {
      const res = await h.request('POST', '/issues', { token: manager.token, body: { type: 'batched', title: `Batch me #${n}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    });
    const v2 = await save('busy');
    // One issue per batch: more batches than one run of the workflow takes.
    const migrationId = randomUUID();
    await h.database.db.insert(issueMigrations).values({ id: migrationId, typeKey: 'batched', fromVersion: v1, toVersion: v2, stateMapping: { working: 'busy' }, startedBy: admin.id });
    const handle = await h.services.deps.temporal.workflow.start('issueMigrationWorkflow', {
      workflowId: issueMigrationWorkflowId(migrationId),
      taskQueue: taskQueues.issues,
      args: [{ migrationId, batchSize: 1 }],
    });
    await handle.result();
    expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
    expect(await finished(h, admin, `/issue-types/batched/migrations/${migrationId}`)).toMatchObject({ status: 'done', matched: 25, migrated: 25, skipped: { count: 0 } });
    const rows = await h.database.db.select({ version: issues.typeVersion, state: issues.state }).from(issues).where(inArray(issues.id, issueIds));
    expect(rows.every((row) => row.version === v2 && row.state === 'busy')).toBe(true);

    // A first batch retried after it told its issues but before it counted them (the worker died): it tells the same
    // issues again, they answer as done, and it counts them once, moving nothing twice.
    const firstBatch = [...issueIds].sort().slice(0, 5);
    await h.database.db
      .update(issueMigrations)
      .set({ batch: { after: null, issueIds: firstBatch }, lastIssueId: null, matched: 0, migrated: 0 })
      .where(eq(issueMigrations.id, migrationId));
    const { migrateIssueBatch } = createIssueMigrationActivities(h.services.deps);
    const retried = await new MockActivityEnvironment().run(migrateIssueBatch, { migrationId, limit: 5 });
    expect(retried).toEqual({ matched: 5, migrated: 5, skipped: 0, last: firstBatch.at(-1) });
    expect(await h.request('GET', `/issue-types/batched/migrations/${migrationId}`, { token: admin.token }).then((res) => res.body)).toMatchObject({ matched: 5, migrated: 5 });
    const [{ steps }] = (await h.database.db
      .select({ steps: sql<number>`count(*)::int` })
      .from(issueTransitions)
      .where(and(eq(issueTransitions.event, 'issue.migrated'), inArray(issueTransitions.issueId, issueIds)))) as [{ steps: number }];
    expect(steps).toBe(25);
  });

  it('is refused by an issue that moved into a state the mapping does not name since its batch was selected', async () => {
    const save = async (doing: string) => {
      const definition = { initial: 'todo', states: { todo: { on: { start: doing } }, [doing]: { on: { finish: 'finished' } }, finished: { type: 'final' } } };
      const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'errand', name: 'Errand', definition } });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      return { version: saved.body.version as number, definition };
    };
    const v1 = await save('doing');
    const created = await h.request('POST', '/issues', { token: manager.token, body: { type: 'errand', title: 'Fetch seeds' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const target = await save('busy');
    expect((await h.request('POST', `/issues/${created.body.id}/events`, { token: manager.token, body: { type: 'start' } })).body.state).toBe('doing');

    // What a batch selected while the errand was still `todo` sends it.
    const refused = await h.services.deps.temporal.workflow
      .getHandle(issueWorkflowId(created.body.id))
      .executeUpdate(migrateUpdate, {
        args: [{ migrationId: randomUUID(), fromVersion: v1.version, toVersion: target.version, definition: target.definition, stateMapping: { todo: 'todo' }, actor: { id: admin.id, role: 'admin' } }],
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (refused as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'Issue.MigrationUnmapped', message: 'no mapping for doing' });
    const issue = (await h.request('GET', `/issues/${created.body.id}`, { token: manager.token })).body;
    expect(issue).toMatchObject({ version: v1.version, state: 'doing', step: created.body.step + 1 });
    expect((await h.request('POST', `/issues/${created.body.id}/events`, { token: manager.token, body: { type: 'finish' } })).body.state).toBe('finished');
  });
});
