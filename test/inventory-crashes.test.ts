// The worker process is SIGKILLed between every pair of steps of the inventory scenario
// (return path included) and the scenario still ends with the same domain events, none twice. A trigger in this
// test's own database announces each committed inventory event, so the worker dies within milliseconds of each
// step's commit, before or while the next step runs.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let manager: TestUser;
let client: TestUser;
let performer: TestUser;
let reviewer: TestUser;
let workers: WorkerProcess | undefined;
let restarting: Promise<void> | undefined;
let unlisten: (() => Promise<void>) | undefined;
/** The first inventory event of each committed transaction, in order: each one was followed by a SIGKILL. */
const killedAfter: string[] = [];
const restartMs: number[] = [];

beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  [manager, client, performer, reviewer] = await Promise.all([h.user('manager'), h.user('client'), h.user('worker'), h.user('reviewer')]);
  const { sql } = h.database;
  await sql`
    create function announce_inventory_event() returns trigger language plpgsql as $$
    begin
      perform pg_notify('inventory_event', json_build_object('name', new.name, 'tx', new.tx_id::text)::text);
      return new;
    end $$`;
  await sql`create trigger announce_inventory_event after insert on domain_events for each row when (new.name like 'inventory.%') execute function announce_inventory_event()`;
  workers = await spawnWorkerProcess(h);

  // One crash per committed transaction. Rows of one commit arrive together; an event committed while the worker
  // is being restarted gets its crash as soon as the new worker runs.
  const crashedTx = new Set<string>();
  let owed = 0;
  const crash = () => {
    restarting = (async () => {
      while (owed > 0) {
        owed--;
        const dying = workers!;
        workers = undefined;
        await dying.kill();
        const at = Date.now();
        workers = await spawnWorkerProcess(h);
        restartMs.push(Date.now() - at);
      }
      restarting = undefined;
    })();
  };
  ({ unlisten } = await sql.listen('inventory_event', (payload) => {
    const { name, tx } = JSON.parse(payload) as { name: string; tx: string };
    if (crashedTx.has(tx)) return;
    crashedTx.add(tx);
    killedAfter.push(name);
    owed++;
    // SIGKILL at once (the kill is sent synchronously); the restart follows.
    if (!restarting) crash();
  }));
}, 120_000);
afterAll(async () => {
  await unlisten?.();
  await restarting;
  await workers?.stop();
  await h?.stop();
});

/** Waits until no crash is pending: the next step starts with a live worker, so it gets its own crash. */
async function workersUp() {
  while (restarting) await restarting;
}

/** A client that honours 503 + Retry-After; `retried` tells a 409 that means "went through the first time". */
async function send(method: string, path: string, options: Parameters<Harness['request']>[2]) {
  await workersUp();
  for (let attempt = 0; ; attempt++) {
    const answer = await h.request(method, path, options);
    if (answer.status !== 503 || attempt === 5) return { ...answer, retried: attempt > 0 };
    await sleep(1000 * Number(answer.headers.get('retry-after') ?? 1));
  }
}

async function until<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, withinMs = 120_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${withinMs} ms`);
    await sleep(250);
  }
}

const issueOf = async (id: string) => (await h.request('GET', `/issues/${id}`, { token: manager.token })).body;

/** Sends an event the issue must take; a retry finding it taken already (409 after a 503) is fine if the issue is where it should be. */
async function sendEvent(user: TestUser, issueId: string, type: string, reaches: string, data: Record<string, unknown> = {}) {
  const answer = await send('POST', `/issues/${issueId}/events`, { token: user.token, body: { type, data } });
  if (!(answer.retried && answer.status === 409)) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  await until(`issue after ${type}`, () => issueOf(issueId), (view) => view.state === reaches);
}

async function startInventory(inventoryId: string) {
  const started = await send('POST', `/inventories/${inventoryId}/start`, { token: performer.token });
  if (!(started.retried && started.status === 409)) expect(started.status, JSON.stringify(started.body)).toBe(200);
}

async function count(inventoryId: string, lines: { sku: string; countedQuantity: number; name?: string }[]) {
  await workersUp();
  const current = await h.request('GET', `/inventories/${inventoryId}`, { token: performer.token });
  const edited = await send('PATCH', `/inventories/${inventoryId}`, { token: performer.token, headers: { 'If-Match': current.headers.get('etag')! }, body: { lines } });
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
}

describe('the inventory scenario while the worker process is killed after every step', () => {
  it('ends with the same event sequence and no duplicate event', async () => {
    const began = Date.now();
    const created = await send('POST', '/issues', {
      token: client.token,
      headers: { 'Idempotency-Key': randomUUID() },
      body: {
        type: 'inventory',
        title: 'Count the loading dock',
        context: {
          location: 'Loading dock',
          items: [
            { sku: 'PALLET-EU', name: 'Euro pallet', expectedQuantity: 40 },
            { sku: 'STRAP-5M', name: 'Strap 5 m', expectedQuantity: 12 },
          ],
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const issueId: string = created.body.id;
    const issue = await until('assigned', () => issueOf(issueId), (view) => view.state === 'awaitingStart' && !!view.context.inventoryId);
    const inventoryId: string = issue.context.inventoryId;
    expect(issue.assigneeId).toBe(performer.id);

    await startInventory(inventoryId);
    await until('counting', () => issueOf(issueId), (view) => view.state === 'counting');
    await count(inventoryId, [
      { sku: 'PALLET-EU', countedQuantity: 38 },
      { sku: 'STRAP-5M', countedQuantity: 12 },
    ]);
    await sendEvent(performer, issueId, 'close', 'inReview');
    await sendEvent(reviewer, issueId, 'return', 'counting', { comment: 'Two pallets are behind the truck' });
    await count(inventoryId, [{ sku: 'PALLET-EU', countedQuantity: 40 }]);
    await sendEvent(performer, issueId, 'close', 'inReview');
    await sendEvent(reviewer, issueId, 'approve', 'closed');
    await workersUp();
    console.info(
      `inventory scenario through ${restartMs.length} SIGKILLs in ${Date.now() - began} ms ` +
        `(a restart took ${Math.round(restartMs.reduce((a, b) => a + b, 0) / Math.max(1, restartMs.length))} ms on average)`,
    );

    const { sql } = h.database;
    const events = await sql`select id, name, data from domain_events where name like 'inventory.%' and data->>'issueId' = ${issueId} order by seq`;
    const expected = [
      'inventory.created',
      'inventory.issue_created',
      'inventory.issue_assigned',
      'inventory.performer_notified',
      'inventory.started',
      'inventory.updated',
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
    ];
    expect(events.map((e) => e.name)).toEqual(expected);
    expect(new Set(events.map((e) => e.id)).size).toBe(expected.length);
    // A crash after every committed step. A step commits with its database effects in one transaction, so its
    // first inventory event stands for all of them: issue_assigned with performer_notified, close_requested with
    // the inventory's close, issue_returned with its reopening.
    expect(killedAfter).toEqual([
      'inventory.created',
      'inventory.issue_created',
      'inventory.issue_assigned',
      'inventory.started',
      'inventory.updated',
      'inventory.close_requested',
      'inventory.reviewer_notified',
      'inventory.issue_returned',
      'inventory.performer_notified',
      'inventory.updated',
      'inventory.close_requested',
      'inventory.reviewer_notified',
      'inventory.issue_closed',
    ]);

    // Each step recorded once; one inventory for the issue, closed, with its lines once each.
    const history = await sql`select from_state, event, to_state from issue_transitions where issue_id = ${issueId} order by step`;
    expect(history.map((t) => `${t.from_state ?? ''} -${t.event}-> ${t.to_state}`)).toEqual([
      ' -issue.created-> creatingInventory',
      'creatingInventory -inventory.created-> assigning',
      'assigning -assignee.assigned-> awaitingStart',
      'awaitingStart -inventory.started-> counting',
      'counting -close-> closingInventory',
      'closingInventory -inventory.closed-> assigningReviewer',
      'assigningReviewer -assignee.assigned-> inReview',
      'inReview -return-> reopeningInventory',
      'reopeningInventory -inventory.reopened-> counting',
      'counting -close-> closingInventory',
      'closingInventory -inventory.closed-> assigningReviewer',
      'assigningReviewer -assignee.assigned-> inReview',
      'inReview -approve-> closed',
    ]);
    const stored = await sql`select id, status, version from inventories where issue_id = ${issueId}`;
    expect([...stored]).toEqual([{ id: inventoryId, status: 'closed', version: 7 }]);
    const lines = await sql`select sku, counted_quantity from inventory_lines where inventory_id = ${inventoryId} order by position`;
    expect([...lines]).toEqual([
      { sku: 'PALLET-EU', counted_quantity: 40 },
      { sku: 'STRAP-5M', counted_quantity: 12 },
    ]);
    // Notifications (sent beside the steps) arrive once each, however often their activity was retried.
    const notified = await until(
      'notifications delivered',
      async () => [...(await sql`select user_id, kind from notifications where issue_id = ${issueId} order by kind, user_id`)],
      (rows) => rows.length >= 4,
    );
    await sleep(1000);
    expect([...(await sql`select user_id, kind from notifications where issue_id = ${issueId} order by kind, user_id`)]).toEqual(notified);
    expect(notified).toEqual([
      { user_id: performer.id, kind: 'inventory.assigned' },
      { user_id: performer.id, kind: 'inventory.returned' },
      { user_id: reviewer.id, kind: 'inventory.review' },
      { user_id: reviewer.id, kind: 'inventory.review' },
    ]);
  }, 600_000);
});
