import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { defaultPayloadConverter } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShuffleActivities, type ShuffleBatchResult } from '../activities/shuffle.js';
import { users } from '../db/schema/auth.js';
import { ledgerEntries } from '../db/schema/billing.js';
import { issues, issueTransitions } from '../db/schema/issues.js';
import { domainEvents } from '../db/schema/platform.js';
import { updateUser } from '../lib/auth/users.js';
import { issueQuery, issueWorkflowId, sendEventUpdate, stepsCommittedSignal, type CommittedSteps } from '../workflows/messages.js';
import type { Actor } from '../workflows/statechart/catalog.js';
import { inBatches } from './support/lanes.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let manager: TestUser;
let admin: TestUser;
beforeAll(async () => {
  h = await startHarness();
  [manager, admin] = [await h.user('manager'), await h.user('admin')];
});
afterAll(() => h?.stop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function deactivateActiveWorkers() {
  const active = await h.database.db.select({ id: users.id }).from(users).where(and(eq(users.role, 'worker'), eq(users.status, 'active')));
  for (const { id } of active) await updateUser(h.database.db, id, { status: 'deactivated' });
}

describe('POST /tasks/shuffle access', () => {
  it('is refused to workers and clients, and an unknown shuffle is 404', async () => {
    for (const role of ['worker', 'client'] as const) {
      const res = await h.request('POST', '/tasks/shuffle', { token: (await h.user(role)).token });
      expect(res.status, role).toBe(403);
    }
    const unknown = await h.request('GET', `/task-shuffles/${randomUUID()}`, { token: manager.token });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
  });

  it('starts one shuffle per Idempotency-Key, even when a retry finds no stored answer', async () => {
    const key = randomUUID();
    const post = () => h.request('POST', '/tasks/shuffle', { token: manager.token, headers: { 'Idempotency-Key': key } });
    const runOf = async (id: string) => (await h.services.deps.temporal.workflow.getHandle(`shuffle-${id}`).describe()).runId;
    const first = await post();
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const run = await runOf(first.body.id);
    // What a database restart between starting the shuffle and storing its answer leaves behind: no stored answer.
    const forget = () => h.database.sql`delete from idempotency_keys where key = ${key}`;
    await forget();
    const retried = await post();
    expect(retried.status).toBe(202);
    expect(retried.body.id).toBe(first.body.id);
    // Once that shuffle has finished, a retry still starts no second one.
    for (let polls = 0; (await h.request('GET', `/task-shuffles/${first.body.id}`, { token: manager.token })).body.status !== 'completed'; polls++) {
      if (polls > 100) throw new Error('the shuffle did not complete');
      await sleep(200);
    }
    // Its first address, left out of the OpenAPI document, still answers the same for clients written against it.
    const atOldAddress = await h.request('GET', `/tasks/shuffles/${first.body.id}`, { token: manager.token });
    expect(atOldAddress.status).toBe(200);
    expect(atOldAddress.body).toEqual((await h.request('GET', `/task-shuffles/${first.body.id}`, { token: manager.token })).body);
    expect((await h.request('GET', `/tasks/shuffles/${first.body.id}`, { token: (await h.user('worker')).token })).status).toBe(403);
    await forget();
    expect((await post()).body.id).toBe(first.body.id);
    expect(await runOf(first.body.id)).toBe(run);
  });
});

describe('a task created while no worker is active', () => {
  it('waits unassigned and is assigned as soon as an admin creates a worker', async () => {
    await deactivateActiveWorkers();
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Nobody to feed the parrots' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ state: 'unassigned', status: 'active', assigneeId: null });
    const taskId: string = created.body.id;

    const email = `late-worker-${randomUUID().slice(0, 8)}@test.local`;
    const hired = await h.request('POST', '/users', { token: admin.token, body: { name: 'Late worker', email, role: 'worker', password: 'popug-password' } });
    expect(hired.status, JSON.stringify(hired.body)).toBe(201);

    let task = created.body;
    for (const deadline = Date.now() + 10_000; task.state !== 'open' && Date.now() < deadline; await sleep(50)) {
      task = (await h.request('GET', `/issues/${taskId}`, { token: manager.token })).body;
    }
    expect(task).toMatchObject({ state: 'open', assigneeId: hired.body.id });
    const history = await h.request('GET', `/issues/${taskId}/history`, { token: manager.token });
    expect(history.body.items.map((t: any) => [t.from, t.event, t.to])).toEqual([
      [null, 'issue.created', 'assigning'],
      ['assigning', 'assignee.unavailable', 'unassigned'],
      ['unassigned', 'worker.available', 'assigning'],
      ['assigning', 'assignee.assigned', 'open'],
    ]);
    const fees = await h.database.db.select().from(ledgerEntries).where(and(eq(ledgerEntries.issueId, taskId), eq(ledgerEntries.kind, 'assign_fee')));
    expect(fees.map((fee) => fee.userId)).toEqual([hired.body.id]);

    // Leave no worker behind whose token the other tests do not hold.
    await updateUser(h.database.db, hired.body.id, { status: 'deactivated' });
  });
});

describe('a completion and a shuffle reaching a task together', () => {
  it('each lands or is refused, and the task finishes: no update waits forever', async () => {
    await deactivateActiveWorkers();
    const worker = await h.user('worker');
    const outcomes = await inBatches(Array.from({ length: 20 }, (_, n) => n), 10, async (n) => {
      const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Race #${n}` } });
      const handle = h.services.deps.temporal.workflow.getHandle(issueWorkflowId(created.body.id));
      const send = async (type: string, data: Record<string, unknown>, actor: Actor, delayMs: number) => {
        await sleep(delayMs);
        const answer = handle.executeUpdate(sendEventUpdate, { args: [{ type, data, actor }] });
        return Promise.race([answer.then(() => 'applied', () => 'refused'), sleep(10_000).then(() => 'no answer')]);
      };
      // A few milliseconds apart, so that both are often admitted in one workflow activation.
      const [completed, shuffled] = await Promise.all([
        send('complete', {}, { id: worker.id, role: 'worker' }, 0),
        send('shuffle', { shuffleId: `race-${n}` }, { id: manager.id, role: 'manager' }, n % 8),
      ]);
      // When the shuffle got there first the completion may have found the task in `assigning`: its worker tries again.
      const retried = completed === 'refused' ? await send('complete', {}, { id: worker.id, role: 'worker' }, 0) : undefined;
      const finished = await Promise.race([handle.result(), sleep(5_000).then(() => 'still running')]);
      return { completed, shuffled, retried, finished };
    });
    for (const outcome of outcomes) {
      expect(outcome.finished, JSON.stringify(outcome)).toMatchObject({ state: 'done' });
      expect(outcome.shuffled, JSON.stringify(outcome)).toMatch(/^(applied|refused)$/);
      if (outcome.completed === 'refused') expect(outcome, JSON.stringify(outcome)).toMatchObject({ shuffled: 'applied', retried: 'applied' });
      else expect(outcome.completed).toBe('applied');
    }
    console.info(`shuffle refused after the completion in ${outcomes.filter((o) => o.shuffled === 'refused').length} of 20 races`);
  });
});

describe('the steps of two shuffles reaching a task in the wrong order', () => {
  it('are applied in step order: the later message waits for the earlier one', async () => {
    const [first, second] = await Promise.all([h.user('worker'), h.user('worker')]);
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Shuffled twice' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const handle = h.services.deps.temporal.workflow.getHandle(issueWorkflowId(created.body.id));
    const actor = { id: manager.id, role: 'manager' as const };
    const shuffledTo = (userId: string, shuffleId: string, fromStep: number) => ({
      shuffleId,
      fromStep,
      events: [
        { type: 'shuffle', data: { shuffleId }, actor },
        { type: 'assignee.assigned', data: { userId, role: 'worker' }, actor: { id: 'system', role: 'system' as const } },
      ],
      mailKeys: [],
    });
    const from: number = created.body.step;
    // What two shuffles committed one after the other, told in the opposite order (their signals race).
    await handle.signal(stepsCommittedSignal, shuffledTo(second.id, 'later', from + 2));
    await sleep(300);
    expect((await handle.query(issueQuery, actor)).step, 'a message that does not follow waits').toBe(from);
    await handle.signal(stepsCommittedSignal, shuffledTo(first.id, 'earlier', from));
    // A repeat of the earlier one (its batch retried) changes nothing.
    await handle.signal(stepsCommittedSignal, shuffledTo(first.id, 'earlier', from));
    for (const deadline = Date.now() + 10_000; (await handle.query(issueQuery, actor)).step !== from + 4 && Date.now() < deadline; ) await sleep(50);
    expect(await handle.query(issueQuery, actor)).toMatchObject({ state: 'open', step: from + 4, assigneeId: second.id, context: { assignments: 3 } });
  });
});

describe('a shuffle of 500 open tasks while their assignees complete 100 of them', () => {
  it('ends with every open task on an active worker, one fee per assignment, one reward per done task, and no done task moved', async () => {
    await deactivateActiveWorkers();
    const workers = await Promise.all(Array.from({ length: 5 }, () => h.user('worker')));
    const tokenOf = new Map(workers.map((w) => [w.id, w.token]));

    const started = Date.now();
    const taskIds = await inBatches(Array.from({ length: 500 }, (_, n) => n), 25, async (n) => {
      const res = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Shuffle me #${n}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(tokenOf.has(res.body.assigneeId)).toBe(true);
      return res.body.id as string;
    });
    console.info(`created 500 tasks in ${Date.now() - started} ms`);

    // Open tasks left by other tests are shuffled too.
    const openBefore = (await h.database.db
      .select({ id: issues.id })
      .from(issues)
      .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active')))).map((row) => row.id);
    const shuffle = await h.request('POST', '/tasks/shuffle', { token: manager.token });
    expect(shuffle.status, JSON.stringify(shuffle.body)).toBe(202);
    expect(shuffle.body).toMatchObject({ status: 'running', startedBy: manager.id });
    const shuffleId: string = shuffle.body.id;

    // Progress, read throughout; the completions below run meanwhile.
    const polls: { status: string; seen: number; reassigned: number; skipped: number; at: number }[] = [];
    const watching = (async () => {
      for (const deadline = Date.now() + 120_000; polls.at(-1)?.status !== 'completed'; await sleep(100)) {
        if (Date.now() > deadline) throw new Error(`shuffle not completed: ${JSON.stringify(polls.at(-1))}`);
        const res = await h.request('GET', `/task-shuffles/${shuffleId}`, { token: manager.token });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        polls.push({ ...res.body, at: Date.now() });
      }
    })();

    const completedAt: number[] = [];
    let refusals = 0;
    /** Completes the task as whoever is its assignee now; the shuffle may move it between our reads. */
    const completeByAssignee = async (taskId: string) => {
      for (let attempt = 0; attempt < 100; attempt++) {
        const task = (await h.request('GET', `/issues/${taskId}`, { token: manager.token })).body;
        if (task.state === 'open') {
          const res = await h.request('POST', `/tasks/${taskId}/complete`, { token: tokenOf.get(task.assigneeId) });
          if (res.status === 200) {
            completedAt.push(Date.now());
            return res.body;
          }
          // 409: the shuffle took it into `assigning` first; 403 or 404: it now belongs to someone else (404 once
          // the read model says so: the former assignee may no longer see it).
          expect([403, 404, 409], JSON.stringify(res.body)).toContain(res.status);
          refusals++;
        }
        await sleep(20);
      }
      throw new Error(`task ${taskId} could not be completed`);
    };
    const toComplete = taskIds.filter((_, n) => n % 5 === 2);
    const completed = await inBatches(toComplete, 10, completeByAssignee);
    expect(completed.every((task) => task.state === 'done')).toBe(true);
    await watching;
    const final = polls.at(-1)!;
    console.info(`shuffle done ${Date.now() - started} ms after creation began: ${JSON.stringify(final)}, ${polls.length} progress reads, ${refusals} completions refused`);

    // The completions ran while the shuffle did; progress was readable meanwhile and only ever grew.
    expect(Math.min(...completedAt)).toBeLessThan(final.at);
    expect(polls[0]!.status).toBe('running');
    expect(polls.some((poll) => poll.status === 'running' && poll.reassigned > 0)).toBe(true);
    for (const [index, poll] of polls.entries()) {
      const before = polls[index - 1];
      if (!before) continue;
      expect(poll.seen).toBeGreaterThanOrEqual(before.seen);
      expect(poll.reassigned).toBeGreaterThanOrEqual(before.reassigned);
      expect(poll.skipped).toBeGreaterThanOrEqual(before.skipped);
    }
    expect(final.reassigned + final.skipped).toBe(final.seen);
    expect(final.seen).toBeGreaterThanOrEqual(400);
    expect(final.seen).toBeLessThanOrEqual(openBefore.length);

    const { db } = h.database;
    const rows = await db.select().from(issues).where(inArray(issues.id, taskIds));
    const done = rows.filter((row) => row.status === 'done');
    const open = rows.filter((row) => row.status === 'active');
    expect(done.map((row) => row.id).sort()).toEqual([...toComplete].sort());
    expect(open).toHaveLength(400);

    // Every still-open task sits on an active worker.
    const activeWorkers = new Set(
      (await db.select({ id: users.id }).from(users).where(and(eq(users.role, 'worker'), eq(users.status, 'active')))).map((u) => u.id),
    );
    for (const row of await db.select().from(issues).where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'active')))) {
      expect(row.state, row.id).toBe('open');
      expect(activeWorkers.has(row.assigneeId!), row.id).toBe(true);
    }

    // One fee entry per assignment, the latest charged to the current assignee; one reward per done task, to its assignee.
    const entries = await db.select().from(ledgerEntries).where(inArray(ledgerEntries.issueId, taskIds)).orderBy(ledgerEntries.id);
    const assignedEvents = await db
      .select({ taskId: sql<string>`${domainEvents.data}->>'taskId'`, count: sql<number>`count(*)::int` })
      .from(domainEvents)
      .where(eq(domainEvents.name, 'task.assigned'))
      .groupBy(sql`${domainEvents.data}->>'taskId'`);
    const assignedCount = new Map(assignedEvents.map((e) => [e.taskId, e.count]));
    const transitions = await db.select().from(issueTransitions).where(inArray(issueTransitions.issueId, taskIds)).orderBy(issueTransitions.step);
    for (const row of rows) {
      const context = row.context as { assignments: number; assignFeeCents: number; rewardCents: number };
      const fees = entries.filter((e) => e.issueId === row.id && e.kind === 'assign_fee');
      const rewards = entries.filter((e) => e.issueId === row.id && e.kind === 'reward');
      expect(fees, row.id).toHaveLength(context.assignments);
      expect(assignedCount.get(row.id), row.id).toBe(context.assignments);
      expect(fees.every((fee) => fee.amountCents === -context.assignFeeCents)).toBe(true);
      expect(fees.at(-1)!.userId, row.id).toBe(row.assigneeId);
      expect(rewards.map((r) => [r.userId, r.amountCents]), row.id).toEqual(row.status === 'done' ? [[row.assigneeId, context.rewardCents]] : []);

      const history = transitions.filter((t) => t.issueId === row.id);
      const shuffles = history.filter((t) => t.event === 'shuffle').length;
      expect(shuffles, row.id).toBeLessThanOrEqual(1);
      expect(context.assignments, row.id).toBe(1 + shuffles);
      if (row.status === 'done') {
        // Nothing happens to a task after it is done.
        expect(history.at(-1), row.id).toMatchObject({ event: 'complete', toState: 'done' });
        expect(history.filter((t) => t.toState === 'done'), row.id).toHaveLength(1);
      }
    }
    const [{ shuffled }] = (await db
      .select({ shuffled: sql<number>`count(*)::int` })
      .from(issueTransitions)
      .where(and(eq(issueTransitions.event, 'shuffle'), inArray(issueTransitions.issueId, openBefore)))) as [{ shuffled: number }];
    expect(shuffled).toBe(final.reassigned);

    // The batches committed the shuffles' steps (not the tasks' workflows), and every workflow learned them: its live
    // state, assignee and step are the read model's.
    const shuffleSteps = transitions.filter((t) => t.event === 'shuffle' || (t.outcome as { shuffleId?: string } | null)?.shuffleId);
    expect(shuffleSteps.length).toBeGreaterThan(0);
    expect(shuffleSteps.every((t) => (t.outcome as { shuffleId?: string } | null)?.shuffleId === shuffleId)).toBe(true);
    for (const row of open) {
      const live = await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(row.id)).query(issueQuery, { id: manager.id, role: 'manager' });
      const read = (await db.select().from(issues).where(eq(issues.id, row.id)))[0]!;
      expect({ state: live.state, assigneeId: live.assigneeId, step: live.step }, row.id).toEqual({ state: read.state, assigneeId: read.assigneeId, step: read.step });
    }
  }, 300_000);
});

describe('telling a committed batch, retried after the worker died', () => {
  it('starts after the last task its heartbeat says was told: those before get no second signal', async () => {
    await h.user('worker');
    await inBatches(Array.from({ length: 150 }, (_, n) => n), 25, async (n) => {
      const res = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Told once #${n}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });
    const { shuffleTaskBatch, tellShuffledTasks } = createShuffleActivities(h.services.deps);
    const shuffleId = randomUUID();
    const actor: Actor = { id: manager.id, role: 'manager' };
    const batch: ShuffleBatchResult = await new MockActivityEnvironment().run(shuffleTaskBatch, { shuffleId, actor, limit: 10_000 });
    expect(batch.reassigned).toBeGreaterThanOrEqual(150);

    const beats: { toldThrough: string; told: number }[] = [];
    const first = new MockActivityEnvironment();
    first.on('heartbeat', (details) => beats.push(details));
    expect(await first.run(tellShuffledTasks, { shuffleId, last: batch.last! })).toEqual({ told: batch.reassigned });
    expect(beats.length).toBeGreaterThanOrEqual(1);

    // Every task the batch moved, in the order the telling goes.
    const shuffled = (
      await h.database.db
        .select({ issueId: issueTransitions.issueId })
        .from(issueTransitions)
        .where(and(sql`${issueTransitions.outcome}->>'shuffleId' = ${shuffleId}`, sql`${issueTransitions.outcome}->'steps' is not null`))
        .orderBy(issueTransitions.issueId)
    ).map((row) => row.issueId);
    expect(shuffled).toHaveLength(batch.reassigned);

    // The worker died after the first heartbeat: the retry sees its details.
    const resumedFrom = beats[0]!;
    const toldBefore = shuffled.indexOf(resumedFrom.toldThrough) + 1;
    expect(toldBefore, 'a heartbeat names a task of the batch').toBeGreaterThan(0);
    const retried = new MockActivityEnvironment({ heartbeatDetails: resumedFrom });
    expect(await retried.run(tellShuffledTasks, { shuffleId, last: batch.last! })).toEqual({ told: resumedFrom.told + shuffled.length - toldBefore });

    const signals = await inBatches(shuffled, 16, async (issueId) => {
      const history = await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(issueId)).fetchHistory();
      // Other tests' shuffles told some of these tasks too: count this shuffle's messages only.
      return (history.events ?? []).filter((event) => {
        const signaled = event.workflowExecutionSignaledEventAttributes;
        if (signaled?.signalName !== stepsCommittedSignal.name) return false;
        return defaultPayloadConverter.fromPayload<CommittedSteps>(signaled.input!.payloads![0]!).shuffleId === shuffleId;
      }).length;
    });
    expect(signals.slice(0, toldBefore).every((count) => count === 1), 'told before the heartbeat: once').toBe(true);
    expect(signals.slice(toldBefore).every((count) => count === 2), 'told after it: again').toBe(true);
  }, 120_000);
});
