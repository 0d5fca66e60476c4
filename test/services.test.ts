// Service provisioning over HTTP: the catalog, applications, a request offered to qualified
// workers, performed, billed in the background and reviewed; and what the API refuses on the way.
import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerEntries } from '../db/schema/billing.js';
import { domainEvents } from '../db/schema/platform.js';
import { issueWorkflowId } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let admin: TestUser;
let client: TestUser;
beforeAll(async () => {
  h = await startHarness();
  admin = await h.user('admin');
  client = await h.user('client');
});
afterAll(() => h?.stop());

async function createService(name: string, priceCents: number) {
  const created = await h.request('POST', '/services', { token: admin.token, body: { name, description: `${name}, done well`, priceCents } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; name: string; priceCents: number; active: boolean };
}

/** A worker who applied for the services and was approved. */
async function qualifiedWorker(serviceIds: string[]) {
  const worker = await h.user('worker');
  const applied = await h.request('POST', '/worker-applications', { token: worker.token, body: { serviceIds, note: 'I have done this for years' } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(201);
  expect(applied.body).toMatchObject({ workerId: worker.id, status: 'pending', serviceIds });
  const approved = await h.request('POST', `/worker-applications/${applied.body.id}/approve`, { token: admin.token });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  expect(approved.body).toMatchObject({ status: 'approved', decidedBy: admin.id });
  return worker;
}

async function request(serviceId: string, by: TestUser = client) {
  const created = await h.request('POST', '/service-requests', { token: by.token, body: { serviceId, note: 'Second floor, ring twice' } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

async function ledgerOf(issueId: string) {
  const rows = await h.database.db.select().from(ledgerEntries).where(eq(ledgerEntries.issueId, issueId)).orderBy(asc(ledgerEntries.id));
  return rows.map((row) => ({ userId: row.userId, kind: row.kind, amountCents: row.amountCents }));
}

/** Billing runs beside the request: poll the ledger until it holds `count` entries of the request. */
async function ledgerEntriesOf(issueId: string, count: number, withinMs = 30_000) {
  const started = Date.now();
  for (;;) {
    const entries = await ledgerOf(issueId);
    if (entries.length >= count || Date.now() - started > withinMs) return entries;
    await sleep(200);
  }
}

describe('a service request from catalog to review', () => {
  it('is offered, declined, accepted by the next worker, done, billed minus commission and reviewed', async () => {
    // 20% of 2999 is 599.8: the platform keeps 599 (rounded down), the worker gets 2400.
    const service = await createService('Beak polishing', 2999);
    const catalog = await h.request('GET', '/services', { token: client.token });
    expect(catalog.body.items).toEqual([expect.objectContaining({ id: service.id, name: 'Beak polishing', priceCents: 2999, active: true })]);

    const [first, second] = [await qualifiedWorker([service.id]), await qualifiedWorker([service.id])];
    const workers = new Map([
      [first.id, first],
      [second.id, second],
    ]);

    const created = await request(service.id);
    expect(created).toMatchObject({ type: 'service_request', title: 'Beak polishing', state: 'offering.offered', status: 'active', creatorId: client.id });
    expect(created.context).toMatchObject({
      serviceId: service.id,
      clientId: client.id,
      priceCents: 2999,
      commissionPercent: 20,
      commissionCents: 599,
      workerCreditCents: 2400,
      offerSla: '30m',
      reviewWindow: '7d',
      note: 'Second floor, ring twice',
    });
    const offeredFirst = workers.get(created.assigneeId)!;
    expect(offeredFirst, 'offered to one of the qualified workers').toBeDefined();
    expect(created.context.offeredWorkerIds).toEqual([offeredFirst.id]);
    const offeredSecond = offeredFirst === first ? second : first;

    const mine = await h.request('GET', '/service-requests', { token: offeredFirst.token });
    expect(mine.body.items.map((r: any) => r.id)).toEqual([created.id]);
    const asOffered = await h.request('GET', `/issues/${created.id}`, { token: offeredFirst.token });
    expect(asOffered.body.allowedEvents.sort()).toEqual(['accept', 'decline']);

    const declined = await h.request('POST', `/service-requests/${created.id}/decline`, { token: offeredFirst.token, body: { reason: 'Out of polish' } });
    expect(declined.status, JSON.stringify(declined.body)).toBe(200);
    expect(declined.body).toMatchObject({ state: 'offering.offered', assigneeId: offeredSecond.id });
    expect(declined.body.context.offeredWorkerIds).toEqual([offeredFirst.id, offeredSecond.id]);

    const accepted = await h.request('POST', `/service-requests/${created.id}/accept`, { token: offeredSecond.token });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toMatchObject({ state: 'in_progress', assigneeId: offeredSecond.id });

    const done = await h.request('POST', `/service-requests/${created.id}/done`, { token: offeredSecond.token });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ state: 'reviewing', status: 'active' });
    // Both run in the background, side by side: in either order.
    const billed = await ledgerEntriesOf(created.id, 2);
    expect(billed.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { userId: client.id, kind: 'service_charge', amountCents: -2999 },
      { userId: offeredSecond.id, kind: 'service_credit', amountCents: 2400 },
    ]);
    const workerBilling = await h.request('GET', '/billing/me', { token: offeredSecond.token });
    expect(workerBilling.status, JSON.stringify(workerBilling.body)).toBe(200);
    expect(workerBilling.body.balanceCents).toBe(2400);

    const before = await h.request('GET', `/services/workers/${offeredSecond.id}`, { token: client.token });
    expect(before.body).toMatchObject({ workerId: offeredSecond.id, services: [{ id: service.id, name: 'Beak polishing', active: true }], rating: { average: null, reviews: 0 } });

    const reviewed = await h.request('POST', `/service-requests/${created.id}/review`, { token: client.token, body: { rating: 4, comment: 'Shiny' } });
    expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(200);
    expect(reviewed.body).toMatchObject({ state: 'closed', status: 'done' });
    expect(reviewed.body.context).toMatchObject({ rating: 4, reviewComment: 'Shiny', outcome: 'done' });

    const after = await h.request('GET', `/services/workers/${offeredSecond.id}`, { token: client.token });
    expect(after.body.rating).toEqual({ average: 4, reviews: 1 });
    const decliner = await h.request('GET', `/services/workers/${offeredFirst.id}`, { token: client.token });
    expect(decliner.body.rating).toEqual({ average: null, reviews: 0 });

    // The workflow finishes only once its background billing ran: nothing is written twice.
    await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(created.id)).result();
    expect(await ledgerOf(created.id)).toHaveLength(2);

    const events = await h.database.db
      .select({ name: domainEvents.name, data: domainEvents.data })
      .from(domainEvents)
      .where(and(sql`${domainEvents.name} like 'service.%'`, sql`${domainEvents.data}->>'requestId' = ${created.id}`))
      .orderBy(asc(domainEvents.seq));
    expect(events.map((e) => e.name)).toEqual([
      'service.requested',
      'service.offered',
      'service.declined',
      'service.offered',
      'service.accepted',
      'service.done',
      'service.reviewed',
      'service.closed',
    ]);
    expect(events.find((e) => e.name === 'service.declined')!.data).toMatchObject({ workerId: offeredFirst.id, reason: 'Out of polish' });
    expect(events.at(-1)!.data).toMatchObject({ outcome: 'done', rating: 4 });
  }, 120_000);
});

describe('a request no worker can take', () => {
  it('waits and tells the managers, then goes to a worker qualified later; the client may cancel it', async () => {
    const manager = await h.user('manager');
    const service = await createService('Night singing', 4000);
    const created = await request(service.id);
    expect(created).toMatchObject({ state: 'offering.waiting', assigneeId: null });
    expect(created.context.offeredWorkerIds).toEqual([]);

    let told: any[] = [];
    for (const started = Date.now(); told.length === 0 && Date.now() - started < 30_000; await sleep(200)) {
      told = (await h.request('GET', '/notifications', { token: manager.token })).body.items.filter((n: any) => n.issueId === created.id);
    }
    expect(told).toEqual([expect.objectContaining({ kind: 'service.unavailable', title: 'No worker for Night singing' })]);

    // The approval publishes to the service's topic; the waiting request hears it and makes the offer.
    const latecomer = await qualifiedWorker([service.id]);
    let state: any;
    for (const started = Date.now(); state?.state !== 'offering.offered' && Date.now() - started < 30_000; await sleep(200)) {
      state = (await h.request('GET', `/issues/${created.id}`, { token: client.token })).body;
    }
    expect(state).toMatchObject({ state: 'offering.offered', assigneeId: latecomer.id });

    const byWorker = await h.request('POST', `/service-requests/${created.id}/cancel`, { token: latecomer.token });
    expect(byWorker.status).toBe(403);
    const cancelled = await h.request('POST', `/service-requests/${created.id}/cancel`, { token: client.token, body: { reason: 'Found a nightingale' } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', status: 'done', assigneeId: null, context: { cancelReason: 'Found a nightingale' } });
  }, 90_000);
});

describe('what the services API refuses', () => {
  let service: { id: string };
  let worker: TestUser;
  beforeAll(async () => {
    service = await createService('Feather fluffing', 1000);
    worker = await qualifiedWorker([service.id]);
  }, 60_000);

  it('refuses a request for an inactive service with 422, and requests by non-clients with 403', async () => {
    const retired = await createService('Cage cleaning', 500);
    const patched = await h.request('PATCH', `/services/${retired.id}`, { token: admin.token, body: { active: false } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.active).toBe(false);
    expect((await h.request('POST', '/services', { token: admin.token, body: { name: 'Cage cleaning', priceCents: 700 } })).status).toBe(409);
    expect((await h.request('PATCH', `/services/${retired.id}`, { token: admin.token, body: { name: 'Feather fluffing' } })).status).toBe(409);

    const refused = await h.request('POST', '/service-requests', { token: client.token, body: { serviceId: retired.id } });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ field: 'body.serviceId', message: 'the service "Cage cleaning" is not offered any more' }]);

    const byWorker = await h.request('POST', '/service-requests', { token: worker.token, body: { serviceId: service.id } });
    expect(byWorker.status).toBe(403);
    const viaIssues = await h.request('POST', '/issues', { token: worker.token, body: { type: 'service_request', title: 'x', context: { serviceId: service.id } } });
    expect(viaIssues.status).toBe(403);
    // Through the generic API a client may not set the price.
    const priced = await h.request('POST', '/issues', {
      token: client.token,
      body: { type: 'service_request', title: 'Cheap fluff', context: { serviceId: service.id, priceCents: 1 } },
    });
    expect(priced.status).toBe(422);
    expect(priced.body.errors[0].field).toBe('body.context.priceCents');

    const applyForRetired = await h.request('POST', '/worker-applications', { token: worker.token, body: { serviceIds: [service.id, retired.id] } });
    expect(applyForRetired.status).toBe(422);
    expect(applyForRetired.body.errors[0].field).toBe('body.serviceIds.1');
  });

  it('lets only the offered worker accept (404 to strangers), the client review once (409 after), with a rating of 1..5 (422)', async () => {
    const created = await request(service.id);
    expect(created.assigneeId).toBe(worker.id);

    const stranger = await h.user('worker');
    const byStranger = await h.request('POST', `/service-requests/${created.id}/accept`, { token: stranger.token });
    // A worker the request does not concern cannot tell it exists: the same 404 as GET /issues/:id.
    expect(byStranger.status, JSON.stringify(byStranger.body)).toBe(404);
    expect((await h.request('GET', `/issues/${created.id}`, { token: stranger.token })).status).toBe(404);

    expect((await h.request('POST', `/service-requests/${created.id}/accept`, { token: worker.token })).status).toBe(200);
    const done = await h.request('POST', `/service-requests/${created.id}/done`, { token: worker.token });
    expect(done.status).toBe(200);

    const six = await h.request('POST', `/service-requests/${created.id}/review`, { token: client.token, body: { rating: 6 } });
    expect(six.status).toBe(422);
    expect(six.body.errors[0].field).toBe('body.rating');
    // The generic event API checks the same rules.
    const sixViaEvents = await h.request('POST', `/issues/${created.id}/events`, { token: client.token, body: { type: 'review', data: { rating: 6 } } });
    expect(sixViaEvents.status).toBe(422);
    expect(sixViaEvents.body.errors[0].field).toBe('body.data.rating');

    const otherClient = await h.user('client');
    const byOtherClient = await h.request('POST', `/service-requests/${created.id}/review`, { token: otherClient.token, body: { rating: 1 } });
    expect(byOtherClient.status).toBe(404);
    const byWorker = await h.request('POST', `/service-requests/${created.id}/review`, { token: worker.token, body: { rating: 5 } });
    expect(byWorker.status).toBe(403);

    const first = await h.request('POST', `/service-requests/${created.id}/review`, { token: client.token, body: { rating: 5 } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const second = await h.request('POST', `/service-requests/${created.id}/review`, { token: client.token, body: { rating: 1 } });
    expect(second.status).toBe(409);
    expect((await h.request('GET', `/services/workers/${worker.id}`, { token: client.token })).body.rating).toEqual({ average: 5, reviews: 1 });
  }, 60_000);

  it('charges nothing for a request not done, and refuses deciding an application twice', async () => {
    const created = await request(service.id);
    expect((await h.request('POST', `/service-requests/${created.id}/accept`, { token: worker.token })).status).toBe(200);
    const noReason = await h.request('POST', `/service-requests/${created.id}/not-done`, { token: worker.token, body: {} });
    expect(noReason.status).toBe(422);
    const notDone = await h.request('POST', `/service-requests/${created.id}/not-done`, { token: worker.token, body: { reason: 'Nobody home' } });
    expect(notDone.status, JSON.stringify(notDone.body)).toBe(200);
    expect(notDone.body).toMatchObject({ state: 'reviewing', context: { outcome: 'not_done', notDoneReason: 'Nobody home' } });
    const reviewed = await h.request('POST', `/service-requests/${created.id}/review`, { token: client.token, body: { rating: 2, comment: 'I was home' } });
    expect(reviewed.status).toBe(200);
    await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(created.id)).result();
    expect(await ledgerOf(created.id)).toEqual([]);

    const applicant = await h.user('worker');
    const applied = await h.request('POST', '/worker-applications', { token: applicant.token, body: { serviceIds: [service.id] } });
    const rejected = await h.request('POST', `/worker-applications/${applied.body.id}/reject`, { token: admin.token, body: { reason: 'No references' } });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected', rejectionReason: 'No references' });
    expect((await h.request('POST', `/worker-applications/${applied.body.id}/approve`, { token: admin.token })).status).toBe(409);
    expect((await h.request('GET', `/services/workers/${applicant.id}`, { token: client.token })).body.services).toEqual([]);
    const own = await h.request('GET', '/worker-applications', { token: applicant.token });
    expect(own.body.items.map((a: any) => a.id)).toEqual([applied.body.id]);
  }, 60_000);
});
