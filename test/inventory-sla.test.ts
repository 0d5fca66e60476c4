// The inventory issue's escalations: an assigned inventory not started within INVENTORY_START_SLA tells the managers
// (a durable timer, set from config into the issue's context at creation), and an issue that finds no active reviewer
// tells them too and takes a manager's `retry` once there is one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../lib/config.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let manager: TestUser;
let client: TestUser;
let performer: TestUser;
beforeAll(async () => {
  h = await startHarness({ env: { INVENTORY_START_SLA: '2s' } });
  // No reviewer yet.
  [manager, client, performer] = await Promise.all([h.user('manager'), h.user('client'), h.user('worker')]);
});
afterAll(() => h?.stop());

async function until<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, withinMs = 30_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${withinMs} ms`);
    await sleep(200);
  }
}

const issueOf = async (id: string) => (await h.request('GET', `/issues/${id}`, { token: manager.token })).body;
const managerNotifications = async (issueId: string) =>
  ((await h.request('GET', '/notifications', { token: manager.token })).body.items as { kind: string; issueId: string; body: string }[]).filter(
    (n) => n.issueId === issueId,
  );
const eventNames = async (issueId: string) =>
  (await h.database.sql`select name from domain_events where name like 'inventory.%' and data->>'issueId' = ${issueId} order by seq`).map((e) => e.name);

describe('INVENTORY_START_SLA', () => {
  it('is a duration, 4h by default', () => {
    expect(loadConfig({}).inventory.startSla).toBe('4h');
    expect(loadConfig({ INVENTORY_START_SLA: '90m' }).inventory.startSla).toBe('90m');
    expect(() => loadConfig({ INVENTORY_START_SLA: 'soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ INVENTORY_START_SLA: 'soon' })).toThrow(/INVENTORY_START_SLA/);
  });
});

describe('inventory escalations', () => {
  it('tells the managers when an assigned inventory is not started in time, and still takes the late start', async () => {
    const created = await h.request('POST', '/issues', {
      token: client.token,
      body: { type: 'inventory', title: 'Count the cold store', context: { location: 'Cold store', items: [{ sku: 'ICE-1', name: 'Ice', expectedQuantity: 3 }] } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const issue = created.body;
    expect(issue).toMatchObject({ state: 'awaitingStart', assigneeId: performer.id, context: { startSla: '2s' } });

    await until('the start SLA fires', () => issueOf(issue.id), (view) => view.state === 'startOverdue');
    const told = await until('managers are told', () => managerNotifications(issue.id), (list) => list.length > 0);
    expect(told.map((n) => n.kind)).toEqual(['inventory.start_overdue']);
    expect(told[0]!.body).toContain('within 2s');

    const started = await h.request('POST', `/inventories/${issue.context.inventoryId}/start`, { token: performer.token });
    expect(started.status).toBe(200);
    await until('the late start is taken', () => issueOf(issue.id), (view) => view.state === 'counting');

    // Closing finds no reviewer: managers hear of it, and a manager retries once there is one.
    const closed = await h.request('POST', `/issues/${issue.id}/events`, { token: performer.token, body: { type: 'close' } });
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body.state).toBe('awaitingReviewer');
    await until('managers hear there is no reviewer', () => managerNotifications(issue.id), (list) => list.length > 1);
    const tooEarly = await h.request('POST', `/issues/${issue.id}/events`, { token: performer.token, body: { type: 'retry' } });
    expect(tooEarly.status).toBe(403);
    const reviewer = await h.user('reviewer');
    const retried = await h.request('POST', `/issues/${issue.id}/events`, { token: manager.token, body: { type: 'retry' } });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ state: 'inReview', assigneeId: reviewer.id });

    expect(await eventNames(issue.id)).toEqual([
      'inventory.created',
      'inventory.issue_created',
      'inventory.issue_assigned',
      'inventory.performer_notified',
      'inventory.start_overdue',
      'inventory.started',
      'inventory.close_requested',
      'inventory.closed',
      'inventory.reviewer_unavailable',
      'inventory.reviewer_notified',
    ]);
  }, 90_000);
});
