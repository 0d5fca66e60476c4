// The worker process is SIGKILLed every ~2 s while many task lifecycles run concurrently over
// HTTP. Afterwards every task is done exactly as without the crashes: one fee and one reward per task, no
// duplicate domain event, and every balance is the sum of its entries.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const TASKS = 200;
const POPUGS = 5;
const KILL_EVERY_MS = 2000;
// Each kill stalls the lifecycles for ~2 s (the sticky queue's timeout, workers/run.ts): a bound keeps a loaded CI
// run finite.
const MAX_KILLS = 15;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

let h: Harness;
let workers: WorkerProcess | undefined;
let manager: TestUser;
let popugs: TestUser[];
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  manager = await h.user('manager');
  popugs = await Promise.all(Array.from({ length: POPUGS }, () => h.user('worker')));
  workers = await spawnWorkerProcess(h);
});
afterAll(async () => {
  await workers?.stop();
  await h?.stop();
});

describe('task lifecycles while the worker process crashes', () => {
  it(`ends all ${TASKS} tasks done with one fee and one reward each and no duplicate event`, async () => {
    const started = Date.now();
    let load = true;
    const restarts: number[] = [];
    const killer = (async () => {
      while (load && restarts.length < MAX_KILLS) {
        await sleep(KILL_EVERY_MS);
        if (!load) break;
        await workers!.kill();
        workers = undefined;
        const at = Date.now();
        workers = await spawnWorkerProcess(h);
        restarts.push(Date.now() - at);
      }
    })();

    // A client that honours 503 + Retry-After, as the API answers when an issue's workflow could not recover in time.
    let retries = 0;
    const post = async (path: string, options: Parameters<Harness['request']>[2]) => {
      for (let attempt = 0; ; attempt++) {
        const answer = await h.request('POST', path, options);
        if (answer.status !== 503 || attempt === 5) return { ...answer, retried: attempt > 0 };
        retries++;
        await sleep(1000 * Number(answer.headers.get('retry-after') ?? 1));
      }
    };
    const byId = new Map(popugs.map((p) => [p.id, p]));
    const durations: number[] = [];
    const lifecycle = async (n: number) => {
      const began = Date.now();
      // The same Idempotency-Key on a retry: the same task, nothing created twice.
      const created = await post('/tasks', {
        token: manager.token,
        body: { title: `Crash-proof task ${n}`, jiraId: `CRASH-${n}` },
        headers: { 'Idempotency-Key': randomUUID() },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.state).toBe('open');
      const assignee = byId.get(created.body.assigneeId);
      expect(assignee, `task ${n} assigned to ${created.body.assigneeId}`).toBeDefined();
      const done = await post(`/tasks/${created.body.id}/complete`, { token: assignee!.token });
      if (done.retried && done.status === 409) {
        // The first attempt went through after all; the retry finds the task done.
        expect(done.body.detail).toMatch(/done/);
      } else {
        expect(done.status, JSON.stringify(done.body)).toBe(200);
        expect(done.body).toMatchObject({ state: 'done', status: 'done' });
      }
      durations.push(Date.now() - began);
      return created.body as { id: string; assigneeId: string; context: { assignFeeCents: number; rewardCents: number } };
    };
    let tasks;
    try {
      tasks = await Promise.all(Array.from({ length: TASKS }, (_, n) => lifecycle(n)));
    } finally {
      load = false;
      await killer;
    }
    const spawnMs = restarts.reduce((a, b) => a + b, 0) / Math.max(1, restarts.length);
    console.info(
      `${TASKS} lifecycles in ${Date.now() - started} ms through ${restarts.length} SIGKILLs ` +
        `(a restart took ${Math.round(spawnMs)} ms on average); one lifecycle took ${median(durations)} ms at the median, ` +
        `${Math.max(...durations)} ms at most; ${retries} requests retried after a 503`,
    );
    expect(restarts.length).toBeGreaterThanOrEqual(3);

    const { sql } = h.database;
    const ids = tasks.map((t) => t.id);
    const states = await sql`select state, status, count(*)::int as n from issues where type_key = 'task' group by state, status`;
    expect(states).toEqual([{ state: 'done', status: 'done', n: TASKS }]);

    // Exactly one fee and one reward per task, on the assignee's account, at the task's prices.
    const entries = await sql`select issue_id, kind, user_id, amount_cents::int as amount from ledger_entries order by issue_id, kind`;
    const expected = tasks
      .flatMap((t) => [
        { issue_id: t.id, kind: 'assign_fee', user_id: t.assigneeId, amount: -t.context.assignFeeCents },
        { issue_id: t.id, kind: 'reward', user_id: t.assigneeId, amount: t.context.rewardCents },
      ])
      .sort((a, b) => (a.issue_id === b.issue_id ? a.kind.localeCompare(b.kind) : a.issue_id < b.issue_id ? -1 : 1));
    expect(entries.length).toBe(2 * TASKS);
    expect([...entries]).toEqual(expected);

    // Each step of each task recorded once, and each domain event written once.
    const transitions = await sql`select event, count(*)::int as n from issue_transitions where issue_id = any(${ids}::uuid[]) group by event order by event`;
    expect([...transitions]).toEqual([
      { event: 'assignee.assigned', n: TASKS },
      { event: 'complete', n: TASKS },
      { event: 'issue.created', n: TASKS },
    ]);
    const events = await sql`
      select name, count(*)::int as n, count(distinct coalesce(data->>'taskId', data->>'key', data->>'issueId'))::int as distinct_subjects
      from domain_events where name in ('task.created', 'task.assigned', 'task.completed', 'billing.entry.recorded', 'issue.transitioned')
      group by name order by name`;
    expect([...events]).toEqual([
      { name: 'billing.entry.recorded', n: 2 * TASKS, distinct_subjects: 2 * TASKS },
      { name: 'issue.transitioned', n: 3 * TASKS, distinct_subjects: TASKS },
      { name: 'task.assigned', n: TASKS, distinct_subjects: TASKS },
      { name: 'task.completed', n: TASKS, distinct_subjects: TASKS },
      { name: 'task.created', n: TASKS, distinct_subjects: TASKS },
    ]);

    // Every balance is the sum of its entries, and what the tasks say it should be.
    const balances = await sql`
      select a.user_id, a.balance_cents::int as balance, coalesce(sum(e.amount_cents), 0)::int as entries
      from accounts a left join ledger_entries e on e.user_id = a.user_id group by a.user_id, a.balance_cents`;
    const owed = new Map<string, number>();
    for (const t of tasks) owed.set(t.assigneeId, (owed.get(t.assigneeId) ?? 0) + t.context.rewardCents - t.context.assignFeeCents);
    expect(balances.length).toBe(owed.size);
    for (const row of balances) {
      expect(row.balance).toBe(row.entries);
      expect(row.balance).toBe(owed.get(row.user_id));
    }
  }, 420_000);
});

describe('a task after its worker process was killed', () => {
  // After the crash test, whose counts take every task of the database.
  it('moves again within 3 s of a new worker process being up', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Recovers quickly' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const assignee = popugs.find((popug) => popug.id === created.body.assigneeId)!;
    await workers!.kill();
    workers = await spawnWorkerProcess(h);
    // The task's next workflow task goes to the killed worker's queue first, until the sticky timeout gives it to all.
    const started = Date.now();
    const completed = await h.request('POST', `/tasks/${created.body.id}/complete`, { token: assignee.token });
    const tookMs = Date.now() - started;
    expect(completed.status, JSON.stringify(completed.body)).toBe(200);
    console.info(`a task moved ${tookMs} ms after its worker process came back`);
    expect(tookMs, `the completion took ${tookMs} ms`).toBeLessThan(3000);
  });
});
