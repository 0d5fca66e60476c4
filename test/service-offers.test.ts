// The service request's timers on the time-skipping test server: an offer nobody answers expires after
// SERVICE_OFFER_SLA and goes to another qualified worker, never to one asked before; with nobody left, managers
// are told. A performed request nobody reviews closes after SERVICE_REVIEW_WINDOW.
import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerEntries } from '../db/schema/billing.js';
import { domainEvents } from '../db/schema/platform.js';
import { issueWorkflowId } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { startIssue } from './support/time-skipping.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const offerSlaMs = 45 * 60_000;

let h: Harness;
let admin: TestUser;
let manager: TestUser;
let client: TestUser;
beforeAll(async () => {
  h = await startHarness({ timeSkipping: true, env: { SERVICE_OFFER_SLA: '45m', SERVICE_REVIEW_WINDOW: '3d' } });
  [admin, manager, client] = [await h.user('admin'), await h.user('manager'), await h.user('client')];
}, 180_000);
afterAll(() => h?.stop());

/** Polls (in real time) until the request's live view passes `done`. */
async function until(requestId: string, done: (issue: any) => boolean, withinMs = 30_000) {
  const started = Date.now();
  for (;;) {
    const issue = (await h.request('GET', `/issues/${requestId}`, { token: manager.token })).body;
    if (done(issue)) return issue;
    if (Date.now() - started > withinMs) throw new Error(`request ${requestId} is still ${JSON.stringify(issue)} after ${withinMs} ms`);
    await sleep(100);
  }
}

describe('offer SLA', () => {
  it('offers three silent workers in turn, none twice, then waits and notifies the managers', async () => {
    const service = await h.request('POST', '/services', { token: admin.token, body: { name: 'Wing massage', priceCents: 3000 } });
    expect(service.status, JSON.stringify(service.body)).toBe(201);
    const workers: TestUser[] = [];
    for (let i = 0; i < 3; i++) {
      const worker = await h.user('worker');
      const applied = await h.request('POST', '/worker-applications', { token: worker.token, body: { serviceIds: [service.body.id] } });
      expect((await h.request('POST', `/worker-applications/${applied.body.id}/approve`, { token: admin.token })).status).toBe(200);
      workers.push(worker);
    }

    const startedAt = await h.time!.now();
    let request = await startIssue(h, client, { type: 'service_request', title: 'Wing massage', context: { serviceId: service.body.id } });
    expect(request).toMatchObject({ state: 'offering.offered', context: { offerSla: '45m' } });
    const offeredTo = [request.assigneeId];

    for (let round = 1; round <= 3; round++) {
      await h.time!.skip(offerSlaMs + 1000);
      const expected = round + 1;
      request = await until(request.id, (issue) => issue.context.offeredWorkerIds.length === expected || issue.state === 'offering.waiting');
      if (round < 3) {
        expect(request.state).toBe('offering.offered');
        offeredTo.push(request.assigneeId);
      }
    }
    expect(request).toMatchObject({ state: 'offering.waiting', assigneeId: null });
    expect(new Set(offeredTo).size).toBe(3);
    expect([...offeredTo].sort()).toEqual(workers.map((w) => w.id).sort());
    expect(request.context.offeredWorkerIds).toEqual(offeredTo);
    expect((await h.time!.now()) - startedAt).toBeGreaterThanOrEqual(3 * offerSlaMs);

    let told: any[] = [];
    for (const started = Date.now(); told.length === 0 && Date.now() - started < 30_000; await sleep(200)) {
      told = (await h.request('GET', '/notifications', { token: manager.token })).body.items.filter((n: any) => n.issueId === request.id);
    }
    expect(told).toEqual([expect.objectContaining({ kind: 'service.unavailable' })]);
    // Each worker was told of their offer once.
    for (const worker of workers) {
      const theirs = (await h.request('GET', '/notifications', { token: worker.token })).body.items.filter((n: any) => n.issueId === request.id);
      expect(theirs.map((n: any) => n.kind)).toEqual(['service.offered']);
    }

    const events = await h.database.db
      .select({ name: domainEvents.name, data: domainEvents.data })
      .from(domainEvents)
      .where(and(sql`${domainEvents.name} like 'service.%'`, sql`${domainEvents.data}->>'requestId' = ${request.id}`))
      .orderBy(asc(domainEvents.seq));
    expect(events.map((e) => [e.name, (e.data as { workerId?: string }).workerId ?? null])).toEqual([
      ['service.requested', null],
      ['service.offered', offeredTo[0]],
      ['service.offer_expired', offeredTo[0]],
      ['service.offered', offeredTo[1]],
      ['service.offer_expired', offeredTo[1]],
      ['service.offered', offeredTo[2]],
      ['service.offer_expired', offeredTo[2]],
      ['service.unavailable', null],
    ]);
  }, 180_000);
});

describe('review window', () => {
  it('closes a performed request without review once the window has passed, billed all the same', async () => {
    const service = await h.request('POST', '/services', { token: admin.token, body: { name: 'Claw trimming', priceCents: 1500 } });
    const worker = await h.user('worker');
    const applied = await h.request('POST', '/worker-applications', { token: worker.token, body: { serviceIds: [service.body.id] } });
    expect((await h.request('POST', `/worker-applications/${applied.body.id}/approve`, { token: admin.token })).status).toBe(200);
    const request = await startIssue(h, client, { type: 'service_request', title: 'Claw trimming', context: { serviceId: service.body.id } });
    expect(request).toMatchObject({ assigneeId: worker.id, context: { reviewWindow: '3d' } });
    expect((await h.request('POST', `/service-requests/${request.id}/accept`, { token: worker.token })).status).toBe(200);
    const done = await h.request('POST', `/service-requests/${request.id}/done`, { token: worker.token });
    expect(done.body.state).toBe('reviewing');

    await h.time!.skip(3 * 86_400_000 - 60_000);
    const early = await h.request('POST', `/service-requests/${request.id}/review`, { token: client.token, body: { rating: 3 } });
    expect(early.status, 'still in the window a minute before it ends').toBe(200);

    const late = await startIssue(h, client, { type: 'service_request', title: 'Claw trimming', context: { serviceId: service.body.id } });
    expect((await h.request('POST', `/service-requests/${late.id}/accept`, { token: worker.token })).status).toBe(200);
    expect((await h.request('POST', `/service-requests/${late.id}/done`, { token: worker.token })).status).toBe(200);
    await h.time!.skip(3 * 86_400_000 + 1000);
    await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(late.id)).result();
    const closed = (await h.request('GET', `/issues/${late.id}`, { token: client.token })).body;
    expect(closed).toMatchObject({ state: 'closed', status: 'done', context: { outcome: 'done', rating: null } });
    expect((await h.request('POST', `/service-requests/${late.id}/review`, { token: client.token, body: { rating: 5 } })).status).toBe(409);
    const billed = await h.database.db.select({ kind: ledgerEntries.kind, amountCents: ledgerEntries.amountCents }).from(ledgerEntries).where(eq(ledgerEntries.issueId, late.id));
    expect(billed.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'service_charge', amountCents: -1500 },
      { kind: 'service_credit', amountCents: 1200 },
    ]);
  }, 180_000);
});
