// A step commits whole or not at all: the worker process is SIGKILLed while a task's `complete` step is inside
// its transaction (held there by the billing day's lock, which the step's reward waits for). Nothing of the step
// may be visible before or after the kill; once a worker is back, the step commits exactly once. The same for a
// shuffle batch, whose one transaction commits the steps of many tasks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueQuery, issueWorkflowId } from '../workflows/messages.js';
import { startHarness, type ApiResponse, type Harness, type TestUser } from './support/harness.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let workers: WorkerProcess | undefined;
let manager: TestUser;
let popug: TestUser;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  manager = await h.user('manager');
  popug = await h.user('worker');
  workers = await spawnWorkerProcess(h);
});
afterAll(async () => {
  await workers?.stop();
  await h?.stop();
});

/** Waits until `check` holds, polling; fails with `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/**
 * Holds today's billing day exclusively, as a closing day does, while `inside` runs: a ledger write waits for it
 * inside its transaction. The hold is as short as the test can make it: an open transaction holds back every
 * other test's event feed.
 */
async function holdingBillingDay(inside: () => Promise<void>) {
  const holder = await h.database.sql.reserve();
  try {
    await holder`begin`;
    await holder`select pg_advisory_xact_lock(hashtext('ates.billing_day'), ((now() at time zone 'UTC')::date - date '2000-01-01'))`;
    await inside();
  } finally {
    await holder`rollback`;
    holder.release();
  }
}

/** Until a transaction of the product waits for the billing day's lock. */
const untilWaitingForBillingDay = (what: string) =>
  until(what, async () => {
    const [row] = await h.database.sql`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory' and state = 'active'`;
    return row!.n > 0;
  });

/** Until the killed worker's transaction has rolled back: its backend finds the client gone. */
const untilKilledTransactionEnded = (what: string) =>
  until(what, async () => {
    const [row] = await h.database.sql`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and application_name = 'ates' and (state like 'idle in transaction%' or wait_event = 'advisory')`;
    return row!.n === 0;
  });

describe('a worker killed inside a step transaction', () => {
  it('leaves nothing of the step behind, and the step commits once when a worker is back', async () => {
    const { sql } = h.database;
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Killed mid-step' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.assigneeId).toBe(popug.id);
    const taskId: string = created.body.id;
    const stepOf = async () => (await sql`select state, step from issues where id = ${taskId}`)[0] as { state: string; step: number };
    const before = await stepOf();
    expect(before.state).toBe('open');

    let completing: Promise<ApiResponse> | undefined;
    await holdingBillingDay(async () => {
      completing = h.request('POST', `/tasks/${taskId}/complete`, { token: popug.token });
      // The step's transaction has written its transition and read-model row and waits for the day.
      await untilWaitingForBillingDay('the step waits for the billing day inside its transaction');
      expect(await stepOf(), 'an uncommitted step is invisible').toEqual(before);
      await workers!.kill();
      workers = undefined;
    });
    await untilKilledTransactionEnded('the killed step transaction has ended');
    expect(await stepOf(), 'nothing of the killed step committed').toEqual(before);
    const [rewardsBefore] = await sql`select count(*)::int as n from ledger_entries where issue_id = ${taskId} and kind = 'reward'`;
    expect(rewardsBefore!.n).toBe(0);

    workers = await spawnWorkerProcess(h);
    let done = await completing!;
    for (let attempt = 0; done.status === 503 && attempt < 5; attempt++) {
      await sleep(1000 * Number(done.headers.get('retry-after') ?? 1));
      done = await h.request('POST', `/tasks/${taskId}/complete`, { token: popug.token });
    }
    // The first attempt may have gone through while its caller was told to retry: then the retry finds it done.
    if (done.status === 409) expect(done.body.detail).toMatch(/done/);
    else expect(done.status, JSON.stringify(done.body)).toBe(200);

    const after = await stepOf();
    expect(after).toEqual({ state: 'done', step: before.step + 1 });
    const entries = await sql`select kind, amount_cents::int as amount from ledger_entries where issue_id = ${taskId} order by kind`;
    expect([...entries]).toEqual([
      { kind: 'assign_fee', amount: -created.body.context.assignFeeCents },
      { kind: 'reward', amount: created.body.context.rewardCents },
    ]);
    const transitions = await sql`select step, event from issue_transitions where issue_id = ${taskId} order by step`;
    expect(transitions.map((row) => row.event)).toEqual(['issue.created', 'assignee.assigned', 'complete']);
    const [completedEvents] = await sql`select count(*)::int as n from domain_events where name = 'task.completed' and data->>'taskId' = ${taskId}`;
    expect(completedEvents!.n).toBe(1);
    const [account] = await sql`select balance_cents::int as balance from accounts where user_id = ${popug.id}`;
    expect(account!.balance).toBe(created.body.context.rewardCents - created.body.context.assignFeeCents);
  }, 120_000);

  it('leaves nothing of a shuffle batch behind, and the batch commits once when a worker is back', async () => {
    const { sql } = h.database;
    const tasks = [];
    for (let n = 0; n < 3; n++) {
      const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Shuffled mid-batch ${n}` } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      tasks.push(created.body as { id: string; step: number; context: { assignFeeCents: number } });
    }
    const ids = tasks.map((task) => task.id);
    const snapshot = async () => [...(await sql`select id, state, step, assignee_id from issues where id in ${sql(ids)} order by id`)];
    const before = await snapshot();
    let shuffleId = '';
    await holdingBillingDay(async () => {
      const started = await h.request('POST', '/tasks/shuffle', { token: manager.token });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      shuffleId = started.body.id;
      // The batch has written its first task's steps and waits to charge the fee.
      await untilWaitingForBillingDay('the batch waits for the billing day inside its transaction');
      expect(await snapshot(), 'an uncommitted batch is invisible').toEqual(before);
      await workers!.kill();
      workers = undefined;
    });
    await untilKilledTransactionEnded('the killed batch transaction has ended');
    expect(await snapshot(), 'nothing of the killed batch committed').toEqual(before);
    const [shufflesBefore] = await sql`select count(*)::int as n from issue_transitions where event = 'shuffle' and issue_id in ${sql(ids)}`;
    expect(shufflesBefore!.n).toBe(0);

    // The batch is retried once its activity times out on the dead worker.
    workers = await spawnWorkerProcess(h);
    await until(
      'the shuffle has completed',
      async () => (await h.request('GET', `/task-shuffles/${shuffleId}`, { token: manager.token })).body.status === 'completed',
      90_000,
    );
    for (const task of tasks) {
      const transitions = await sql`select event from issue_transitions where issue_id = ${task.id} order by step`;
      expect(transitions.map((row) => row.event), task.id).toEqual(['issue.created', 'assignee.assigned', 'shuffle', 'assignee.assigned']);
      const fees = await sql`select amount_cents::int as amount from ledger_entries where issue_id = ${task.id} and kind = 'assign_fee'`;
      expect(fees.map((row) => row.amount), task.id).toEqual([-task.context.assignFeeCents, -task.context.assignFeeCents]);
      // The task's workflow learned the batch's steps: it shows what the read model shows, and takes the next event.
      const [read] = await sql`select state, step, assignee_id from issues where id = ${task.id}`;
      const live = await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(task.id)).query(issueQuery, { id: manager.id, role: 'manager' });
      expect({ state: live.state, step: live.step, assigneeId: live.assigneeId }).toEqual({ state: read!.state, step: read!.step, assigneeId: read!.assignee_id });
    }
    const done = await h.request('POST', `/tasks/${tasks[0]!.id}/complete`, { token: popug.token });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ state: 'done', step: tasks[0]!.step + 3 });
  }, 180_000);
});
