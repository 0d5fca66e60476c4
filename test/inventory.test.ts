// The inventory scenario over HTTP: an inventory issue creates its inventory, is assigned and pushed to a performer,
// hears of the start on topic inventory/<id>, closes the inventory when the performer closes the issue, and goes
// to a reviewer who approves it or returns it. The domain event log tells the scenario in order.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let admin: TestUser;
let manager: TestUser;
let client: TestUser;
let otherClient: TestUser;
let performer: TestUser;
let reviewer: TestUser;
beforeAll(async () => {
  h = await startHarness();
  // One worker and one reviewer: every inventory goes to them.
  [admin, manager, client, otherClient, performer, reviewer] = await Promise.all([
    h.user('admin'),
    h.user('manager'),
    h.user('client'),
    h.user('client'),
    h.user('worker'),
    h.user('reviewer'),
  ]);
});
afterAll(() => h?.stop());

const items = [
  { sku: 'BOLT-M8', name: 'Bolt M8', expectedQuantity: 120 },
  { sku: 'NUT-M8', name: 'Nut M8', expectedQuantity: 80 },
];

async function createInventoryIssue(title = 'Count shelf A') {
  const created = await h.request('POST', '/issues', {
    token: client.token,
    body: { type: 'inventory', title, context: { location: 'Warehouse 1, shelf A', items } },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; state: string; assigneeId: string; context: Record<string, any> };
}

const sendEvent = (user: TestUser, issueId: string, type: string, data: Record<string, unknown> = {}) =>
  h.request('POST', `/issues/${issueId}/events`, { token: user.token, body: { type, data } });

/** Polls until `probe` answers something `accept` takes, for at most `withinMs`. */
async function until<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, withinMs = 20_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${withinMs} ms`);
    await sleep(200);
  }
}

const issueState = async (issueId: string) => (await h.request('GET', `/issues/${issueId}`, { token: manager.token })).body.state as string;

/** The issue's `inventory.*` domain events in log order, read as an outside consumer would: GET /events as admin. */
async function inventoryEvents(issueId: string): Promise<{ name: string; producer: string; data: Record<string, any> }[]> {
  const all = [];
  for (let after = 0; ; ) {
    const page = await h.request('GET', `/events?after=${after}&limit=1000`, { token: admin.token });
    expect(page.status).toBe(200);
    all.push(...page.body.items);
    if (page.body.items.length < 1000) break;
    after = page.body.nextCursor;
  }
  return all.filter((e: any) => e.name.startsWith('inventory.') && e.data.issueId === issueId);
}

async function notificationsOf(user: TestUser, issueId: string) {
  const answer = await h.request('GET', '/notifications?limit=200', { token: user.token });
  expect(answer.status).toBe(200);
  return (answer.body.items as { kind: string; issueId: string; body: string }[]).filter((n) => n.issueId === issueId);
}

async function startAndCount(issueId: string, inventoryId: string) {
  const started = await h.request('POST', `/inventories/${inventoryId}/start`, { token: performer.token });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  expect(started.body.status).toBe('started');
  await until('the issue hears of the start', () => issueState(issueId), (state) => state === 'counting');
  const counted = await h.request('PATCH', `/inventories/${inventoryId}`, {
    token: performer.token,
    headers: { 'If-Match': started.headers.get('etag')! },
    body: {
      note: 'Shelf A counted; two bolts missing, washers found',
      lines: [
        { sku: 'BOLT-M8', countedQuantity: 118 },
        { sku: 'NUT-M8', countedQuantity: 80 },
        { sku: 'WASHER-M8', name: 'Washer M8', countedQuantity: 15 },
      ],
    },
  });
  expect(counted.status, JSON.stringify(counted.body)).toBe(200);
  return counted;
}

describe('inventory scenario 1 over HTTP', () => {
  it('walks create → assign → notify → start → count → close → review → approve, logging each step in order', async () => {
    const issue = await createInventoryIssue();
    // Creation answers once the issue has settled: the inventory exists and the performer has it.
    expect(issue).toMatchObject({ type: 'inventory', state: 'awaitingStart', status: 'active', assigneeId: performer.id });
    expect(issue.context).toMatchObject({ performerId: performer.id, startSla: '4h', location: 'Warehouse 1, shelf A' });
    const inventoryId: string = issue.context.inventoryId;
    expect(inventoryId).toMatch(/^[0-9a-f-]{36}$/);

    const fresh = await h.request('GET', `/inventories/${inventoryId}`, { token: performer.token });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).toBe('"1"');
    expect(fresh.body).toMatchObject({
      id: inventoryId,
      issueId: issue.id,
      location: 'Warehouse 1, shelf A',
      status: 'created',
      version: 1,
      lines: items.map((item) => ({ ...item, countedQuantity: null })),
      startedAt: null,
      closedAt: null,
    });
    const pushed = await until('the performer is notified', () => notificationsOf(performer, issue.id), (list) => list.length > 0);
    expect(pushed.map((n) => n.kind)).toEqual(['inventory.assigned']);
    expect(pushed[0]!.body).toContain(`/inventories/${inventoryId}/start`);

    const counted = await startAndCount(issue.id, inventoryId);
    expect(counted.headers.get('etag')).toBe('"3"');
    expect(counted.body).toMatchObject({
      status: 'started',
      version: 3,
      note: 'Shelf A counted; two bolts missing, washers found',
      lines: [
        { sku: 'BOLT-M8', name: 'Bolt M8', expectedQuantity: 120, countedQuantity: 118 },
        { sku: 'NUT-M8', name: 'Nut M8', expectedQuantity: 80, countedQuantity: 80 },
        { sku: 'WASHER-M8', name: 'Washer M8', expectedQuantity: 0, countedQuantity: 15 },
      ],
    });

    const closed = await sendEvent(performer, issue.id, 'close');
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body).toMatchObject({ state: 'inReview', assigneeId: reviewer.id, context: { performerId: performer.id, reviewerId: reviewer.id } });
    const inventory = await h.request('GET', `/inventories/${inventoryId}`, { token: reviewer.token });
    expect(inventory.body).toMatchObject({ status: 'closed', version: 4 });
    expect(inventory.body.closedAt).not.toBeNull();
    const review = await until('the reviewer is notified', () => notificationsOf(reviewer, issue.id), (list) => list.length > 0);
    expect(review.map((n) => n.kind)).toEqual(['inventory.review']);

    const approved = await sendEvent(reviewer, issue.id, 'approve');
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body).toMatchObject({ state: 'closed', status: 'done' });

    const events = await inventoryEvents(issue.id);
    expect(events.map((e) => `${e.producer}:${e.name}`)).toEqual([
      'inventory:inventory.created',
      'issues:inventory.issue_created',
      'issues:inventory.issue_assigned',
      'issues:inventory.performer_notified',
      'inventory:inventory.started',
      'inventory:inventory.updated',
      'issues:inventory.close_requested',
      'inventory:inventory.closed',
      'issues:inventory.reviewer_notified',
      'issues:inventory.issue_closed',
    ]);
    expect(events.every((e) => e.data.inventoryId === inventoryId)).toBe(true);
    expect(events.find((e) => e.name === 'inventory.closed')!.data).toMatchObject({ lines: 3, uncounted: 0, discrepancies: 2 });
    expect(events.find((e) => e.name === 'inventory.issue_closed')!.data).toMatchObject({ performerId: performer.id, reviewerId: reviewer.id });

    const history = await h.request('GET', `/issues/${issue.id}/history`, { token: manager.token });
    expect(history.body.items.map((t: any) => [t.from, t.event, t.to])).toEqual([
      [null, 'issue.created', 'creatingInventory'],
      ['creatingInventory', 'inventory.created', 'assigning'],
      ['assigning', 'assignee.assigned', 'awaitingStart'],
      ['awaitingStart', 'inventory.started', 'counting'],
      ['counting', 'close', 'closingInventory'],
      ['closingInventory', 'inventory.closed', 'assigningReviewer'],
      ['assigningReviewer', 'assignee.assigned', 'inReview'],
      ['inReview', 'approve', 'closed'],
    ]);
    // Closed issues stop listening on the inventory's topic.
    const { sql } = h.database;
    expect(await sql`select topic from topic_subscriptions where issue_id = ${issue.id}`).toEqual([]);
  });

  it('takes the return path: the reviewer returns it with a comment, the performer corrects and closes again, then it is approved', async () => {
    const issue = await createInventoryIssue('Count shelf B');
    const inventoryId: string = issue.context.inventoryId;
    // Closing right after the start is taken, though the issue may not have applied the start yet when `close` arrives.
    expect((await h.request('POST', `/inventories/${inventoryId}/start`, { token: performer.token })).status).toBe(200);
    const closedAtOnce = await sendEvent(performer, issue.id, 'close');
    expect(closedAtOnce.status, JSON.stringify(closedAtOnce.body)).toBe(200);
    expect(closedAtOnce.body.state).toBe('inReview');

    const noComment = await sendEvent(reviewer, issue.id, 'return');
    expect(noComment.status).toBe(422);
    expect(noComment.body.errors).toEqual([expect.objectContaining({ field: 'body.data.comment' })]);
    const byPerformer = await sendEvent(performer, issue.id, 'return', { comment: 'looks fine to me' });
    expect(byPerformer.status).toBe(403);

    const returned = await sendEvent(reviewer, issue.id, 'return', { comment: 'Recount the bolts, please' });
    expect(returned.status, JSON.stringify(returned.body)).toBe(200);
    // Back with the performer, and the inventory open to their edits again.
    expect(returned.body).toMatchObject({ state: 'counting', assigneeId: performer.id, context: { returnComment: 'Recount the bolts, please' } });
    const reopened = await h.request('GET', `/inventories/${inventoryId}`, { token: performer.token });
    expect(reopened.body).toMatchObject({ status: 'started', version: 4, closedAt: null });
    const told = await until('the performer hears of the return', () => notificationsOf(performer, issue.id), (list) => list.length > 1);
    expect(told.map((n) => n.kind)).toEqual(['inventory.returned', 'inventory.assigned']);
    expect(told[0]!.body).toContain('Recount the bolts, please');

    const recounted = await h.request('PATCH', `/inventories/${inventoryId}`, {
      token: performer.token,
      headers: { 'If-Match': reopened.headers.get('etag')! },
      body: { lines: [{ sku: 'BOLT-M8', countedQuantity: 120 }] },
    });
    expect(recounted.status, JSON.stringify(recounted.body)).toBe(200);
    expect((await sendEvent(performer, issue.id, 'close')).body).toMatchObject({ state: 'inReview', assigneeId: reviewer.id });
    const approved = await sendEvent(reviewer, issue.id, 'approve');
    expect(approved.body).toMatchObject({ state: 'closed', status: 'done' });

    const events = await inventoryEvents(issue.id);
    expect(events.map((e) => e.name)).toEqual([
      'inventory.created',
      'inventory.issue_created',
      'inventory.issue_assigned',
      'inventory.performer_notified',
      'inventory.started',
      'inventory.close_requested',
      'inventory.closed',
      'inventory.reviewer_notified',
      'inventory.issue_returned',
      'inventory.reopened',
      'inventory.performer_notified',
      'inventory.updated',
      'inventory.close_requested',
      'inventory.closed',
      'inventory.reviewer_notified',
      'inventory.issue_closed',
    ]);
    expect(events.find((e) => e.name === 'inventory.issue_returned')!.data.comment).toBe('Recount the bolts, please');
    expect(events.filter((e) => e.name === 'inventory.closed').map((e) => [e.data.uncounted, e.data.discrepancies])).toEqual([
      [2, 0],
      [1, 0],
    ]);
  });
});

describe('inventory refusals', () => {
  it('refuses creation with bad items, naming the field', async () => {
    const create = (context: Record<string, unknown>) => h.request('POST', '/issues', { token: client.token, body: { type: 'inventory', title: 'Bad', context } });
    const cases: [Record<string, unknown>, string][] = [
      [{ location: 'A', items: [{ sku: 'X-1', name: 'X', expectedQuantity: -1 }] }, 'body.context.items.0.expectedQuantity'],
      [{ location: 'A', items: [{ sku: 'X-1', name: 'X', expectedQuantity: 1 }, { sku: 'X-1', name: 'Y', expectedQuantity: 2 }] }, 'body.context.items.1.sku'],
      [{ location: 'A', items: [{ sku: 'X-1', expectedQuantity: 1 }] }, 'body.context.items.0.name'],
      [{ location: 'A', items: [] }, 'body.context.items'],
      [{ items: [{ sku: 'X-1', name: 'X', expectedQuantity: 1 }] }, 'body.context.location'],
      [{ location: 'A', items: [{ sku: 'X-1', name: 'X', expectedQuantity: 1 }], startSla: '1s' }, 'body.context.startSla'],
    ];
    for (const [context, field] of cases) {
      const refused = await create(context);
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
      expect(refused.body.errors.map((e: any) => e.field)).toContain(field);
    }
  });

  it('refuses what the inventory and its issue do not allow: 403, 409, 422, 428, 412', async () => {
    const issue = await createInventoryIssue('Count shelf C');
    const inventoryId: string = issue.context.inventoryId;
    const start = (user: TestUser) => h.request('POST', `/inventories/${inventoryId}/start`, { token: user.token });
    const patch = (user: TestUser, body: unknown, ifMatch?: string) =>
      h.request('PATCH', `/inventories/${inventoryId}`, { token: user.token, body, headers: ifMatch ? { 'If-Match': ifMatch } : {} });

    // Reading: involved users, managers and admins; not an unrelated client. Unknown ids are 404.
    expect((await h.request('GET', `/inventories/${inventoryId}`, { token: manager.token })).status).toBe(200);
    expect((await h.request('GET', `/inventories/${inventoryId}`, { token: client.token })).status).toBe(200);
    expect((await h.request('GET', `/inventories/${inventoryId}`, { token: otherClient.token })).status).toBe(403);
    expect((await h.request('GET', `/inventories/${randomUUID()}`, { token: manager.token })).status).toBe(404);
    expect((await h.request('POST', `/inventories/${randomUUID()}/start`, { token: performer.token })).status).toBe(404);

    // The issue cannot be closed before the inventory has started: `close` is not taken in that state.
    const early = await sendEvent(performer, issue.id, 'close');
    expect(early.status, JSON.stringify(early.body)).toBe(409);
    expect(early.body.type).toBe('https://ates.dev/problems/event-not-allowed');

    // Only the assignee starts it.
    for (const someone of [manager, reviewer, client]) {
      const refused = await start(someone);
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    }
    expect((await patch(manager, { note: 'mine' }, '"1"')).status).toBe(403);
    const started = await start(performer);
    expect(started.status).toBe(200);
    const twice = await start(performer);
    expect(twice.status).toBe(409);
    expect(twice.body.type).toBe('https://ates.dev/problems/already-started');
    await until('the issue hears of the start', () => issueState(issue.id), (state) => state === 'counting');

    // The status is never edited; unknown fields and empty changes are refused too.
    const withStatus = await patch(performer, { status: 'closed', note: 'done' }, '"2"');
    expect(withStatus.status).toBe(422);
    expect(withStatus.body.errors).toEqual([{ field: 'body.status', message: expect.stringContaining('status is not edited') }]);
    expect((await patch(performer, { lines: [{ sku: 'BOLT-M8', expectedQuantity: 1 }] }, '"2"')).status).toBe(422);
    expect((await patch(performer, {}, '"2"')).status).toBe(422);
    const unnamed = await patch(performer, { lines: [{ sku: 'NEW-1', countedQuantity: 3 }] }, '"2"');
    expect(unnamed.status).toBe(422);
    expect(unnamed.body.errors[0].field).toBe('body.lines.0.name');

    // A lost update is refused: the change must name the current version.
    const missing = await patch(performer, { note: 'no precondition' });
    expect(missing.status).toBe(428);
    const first = await patch(performer, { note: 'first' }, started.headers.get('etag')!);
    expect(first.status).toBe(200);
    expect(first.headers.get('etag')).toBe('"3"');
    const stale = await patch(performer, { note: 'based on the old version' }, started.headers.get('etag')!);
    expect(stale.status).toBe(412);
    expect((await patch(performer, { note: 'weak tags never match' }, 'W/"3"')).status).toBe(412);
    expect((await h.request('GET', `/inventories/${inventoryId}`, { token: performer.token })).body).toMatchObject({ note: 'first', version: 3 });

    // After the performer closes the issue the inventory is closed: no more edits, no start.
    expect((await sendEvent(performer, issue.id, 'close')).status).toBe(200);
    const late = await patch(performer, { note: 'too late' }, '"4"');
    expect(late.status).toBe(409);
    expect(late.body.type).toBe('https://ates.dev/problems/inventory-closed');
    expect((await start(reviewer)).status).toBe(409);
  });

  it('re-announces a start whose publish was lost: a second start answers 409 and the issue moves on', async () => {
    const issue = await createInventoryIssue('Count shelf D');
    const inventoryId: string = issue.context.inventoryId;
    // What a start that committed but failed to publish leaves behind: a started inventory, an issue still waiting.
    const { sql } = h.database;
    await sql`update inventories set status = 'started', started_at = now(), version = version + 1 where id = ${inventoryId}`;
    await sleep(500);
    expect(await issueState(issue.id)).toBe('awaitingStart');

    const retry = await h.request('POST', `/inventories/${inventoryId}/start`, { token: performer.token });
    expect(retry.status).toBe(409);
    await until('the issue hears of the start', () => issueState(issue.id), (state) => state === 'counting');
    // Announcing again is harmless once the issue has moved on.
    expect((await h.request('POST', `/inventories/${inventoryId}/start`, { token: performer.token })).status).toBe(409);
    await sleep(500);
    const history = await h.request('GET', `/issues/${issue.id}/history`, { token: manager.token });
    expect(history.body.items.filter((t: any) => t.event === 'inventory.started')).toHaveLength(1);
    expect(await issueState(issue.id)).toBe('counting');
  });
});
