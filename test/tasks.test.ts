import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerEntries } from '../db/schema/billing.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let manager: TestUser;
let worker: TestUser;
beforeAll(async () => {
  h = await startHarness();
  manager = await h.user('manager');
  worker = await h.user('worker');
});
afterAll(() => h?.stop());

describe('task lifecycle over HTTP', () => {
  it('assigns a new task to a worker, charges the fee, and pays the reward on completion by the assignee', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Feed the parrots', jiraId: 'POPUG-1' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const task = created.body;
    expect(task).toMatchObject({ type: 'task', state: 'open', status: 'active', assigneeId: worker.id });
    expect(task.context.assignFeeCents % 100).toBe(0);
    expect(task.context.assignFeeCents).toBeGreaterThanOrEqual(1000);
    expect(task.context.assignFeeCents).toBeLessThanOrEqual(2000);
    expect(task.context.rewardCents).toBeGreaterThanOrEqual(2000);
    expect(task.context.rewardCents).toBeLessThanOrEqual(4000);

    const fees = await h.database.db.select().from(ledgerEntries).where(and(eq(ledgerEntries.issueId, task.id), eq(ledgerEntries.kind, 'assign_fee')));
    expect(fees.map((f) => [f.userId, Number(f.amountCents)])).toEqual([[worker.id, -task.context.assignFeeCents]]);

    const byOther = await h.request('POST', `/tasks/${task.id}/complete`, { token: manager.token });
    expect(byOther.status).toBe(403);

    const done = await h.request('POST', `/tasks/${task.id}/complete`, { token: worker.token });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ state: 'done', status: 'done' });
    const rewards = await h.database.db.select().from(ledgerEntries).where(and(eq(ledgerEntries.issueId, task.id), eq(ledgerEntries.kind, 'reward')));
    expect(rewards.map((r) => [r.userId, Number(r.amountCents)])).toEqual([[worker.id, task.context.rewardCents]]);

    const again = await h.request('POST', `/tasks/${task.id}/complete`, { token: worker.token });
    expect(again.status).toBe(409);

    const history = await h.request('GET', `/issues/${task.id}/history`, { token: manager.token });
    expect(history.body.items.map((t: any) => [t.from, t.event, t.to])).toEqual([
      [null, 'issue.created', 'assigning'],
      ['assigning', 'assignee.assigned', 'open'],
      ['open', 'complete', 'done'],
    ]);
  });
});
