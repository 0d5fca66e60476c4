// Edges of the HTTP API that many routes share, each checked over HTTP against the real servers.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBillingDay, recordLedgerEntry } from '../lib/billing/ledger.js';
import { users } from '../db/schema/auth.js';
import { services, workerApplications } from '../db/schema/services.js';
import { startHarness, type ApiResponse, type Harness, type TestUser } from './support/harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const shiftDate = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

let h: Harness;
let admin: TestUser;
beforeAll(async () => {
  h = await startHarness();
  admin = await h.user('admin');
});
afterAll(() => h?.stop());

const servicesNamed = async (name: string) => h.database.db.select().from(services).where(eq(services.name, name));

describe('Idempotency-Key', () => {
  it('answers a retry of the same request with the first answer, however its body is laid out', async () => {
    const key = randomUUID();
    const headers = { 'Idempotency-Key': key };
    const first = await h.request('POST', '/services', { token: admin.token, headers, body: { name: 'Window washing', description: 'Both sides', priceCents: 1200 } });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const retried = await h.request('POST', '/services', {
      token: admin.token,
      headers,
      rawBody: '{ "priceCents": 1200, "description": "Both sides", "name": "Window washing" }',
    });
    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
    expect(retried.body).toEqual(first.body);
    expect(await servicesNamed('Window washing')).toHaveLength(1);
  });

  it('refuses a key used for a different request with 422 naming the header, and changes nothing', async () => {
    const headers = { 'Idempotency-Key': randomUUID() };
    const first = await h.request('POST', '/services', { token: admin.token, headers, body: { name: 'Gutter cleaning', description: 'Leaves out', priceCents: 900 } });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const other = await h.request('POST', '/services', { token: admin.token, headers, body: { name: 'Roof repair', description: 'Tiles back on', priceCents: 9000 } });
    expectProblem(other, 422);
    expect(other.body.errors).toEqual([{ field: 'header.idempotency-key', message: expect.stringMatching(/used for a different request/) }]);
    expect(await servicesNamed('Roof repair')).toHaveLength(0);
    // The key still answers its own request.
    const again = await h.request('POST', '/services', { token: admin.token, headers, body: { name: 'Gutter cleaning', description: 'Leaves out', priceCents: 900 } });
    expect(again.body).toEqual(first.body);

    // The same holds for a route whose creation is a workflow: a task.
    const taskKey = { 'Idempotency-Key': randomUUID() };
    const manager = await h.user('manager');
    await h.user('worker');
    const task = await h.request('POST', '/tasks', { token: manager.token, headers: taskKey, body: { title: 'Paint the fence' } });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const otherTask = await h.request('POST', '/tasks', { token: manager.token, headers: taskKey, body: { title: 'Mow the lawn' } });
    expectProblem(otherTask, 422);
    expect(otherTask.body.errors[0].field).toBe('header.idempotency-key');
    const [titles] = await h.database.db.execute<{ n: number }>(sql`select count(*)::int as n from issues where title = 'Mow the lawn'`);
    expect(titles!.n).toBe(0);
  });

  describe('a retry after the answer could not be stored', () => {
    // The answer write of a key starting with `fail-once:` fails the first time after `failNextAnswer()`. A
    // sequence counts the attempts because it is not rolled back with the transaction that failed.
    beforeAll(async () => {
      await h.database.sql.unsafe(`
        create sequence test_answer_writes;
        create function test_fail_answer_once() returns trigger language plpgsql as $$
        begin
          if new.key like 'fail-once:%' and nextval('test_answer_writes') = 1 then
            raise exception 'the answer write fails this once';
          end if;
          return new;
        end $$;
        create trigger test_fail_answer_once before insert on idempotency_keys for each row execute function test_fail_answer_once();`);
    });
    const failNextAnswer = () => h.database.sql`select setval('test_answer_writes', 1, false)`;

    /** Posts once (the answer write fails), then retries twice with the same key: one creation, one answer. */
    async function postTwice(path: string, token: string, body: unknown) {
      await failNextAnswer();
      const headers = { 'Idempotency-Key': `fail-once:${randomUUID()}` };
      const failed = await h.request('POST', path, { token, headers, body });
      expect(failed.status, JSON.stringify(failed.body)).toBe(500);
      const retried = await h.request('POST', path, { token, headers, body });
      expect(retried.status, JSON.stringify(retried.body)).toBe(201);
      const again = await h.request('POST', path, { token, headers, body });
      expect(again.body).toEqual(retried.body);
      return retried.body;
    }

    it('POST /services creates one service', async () => {
      const created = await postTwice('/services', admin.token, { name: 'Chimney sweeping', description: 'Soot gone', priceCents: 4000 });
      expect((await servicesNamed('Chimney sweeping')).map((s) => s.id)).toEqual([created.id]);
    });

    it('POST /worker-applications creates one application', async () => {
      const [service] = await servicesNamed('Chimney sweeping');
      const worker = await h.user('worker');
      const created = await postTwice('/worker-applications', worker.token, { serviceIds: [service!.id], note: 'I climb well' });
      const applications = await h.database.db.select().from(workerApplications).where(eq(workerApplications.workerId, worker.id));
      expect(applications.map((a) => a.id)).toEqual([created.id]);
    });

    it('POST /users creates one user', async () => {
      const email = `once-${randomUUID()}@example.test`;
      const created = await postTwice('/users', admin.token, { name: 'Once Only', email, role: 'manager', password: 'correct horse battery' });
      expect((await h.database.db.select().from(users).where(eq(users.email, email))).map((u) => u.id)).toEqual([created.id]);
    });
  });
});

describe('methods a path does not serve', () => {
  it('answer 405 with Allow listing the methods the path serves; unknown paths stay 404', async () => {
    const put = await h.request('PUT', '/tasks', { token: admin.token, body: {} });
    expectProblem(put, 405);
    expect(put.headers.get('allow')).toBe('POST');
    const remove = await h.request('DELETE', `/issues/${randomUUID()}`, { token: admin.token });
    expectProblem(remove, 405);
    expect(remove.headers.get('allow')).toBe('GET, HEAD');
    const patch = await h.request('PATCH', `/billing/days/2026-01-01`);
    expectProblem(patch, 405);
    expect(patch.headers.get('allow')).toBe('GET, HEAD');
    // DELETE /users/{id} is a route only to refuse: it is not offered.
    const putUser = await h.request('PUT', `/users/${admin.id}`, { token: admin.token, body: {} });
    expectProblem(putUser, 405);
    expect(putUser.headers.get('allow')).toBe('PATCH');
    expectProblem(await h.request('PUT', '/no-such-thing', { token: admin.token }), 404);
    expectProblem(await h.request('GET', `/issues/${randomUUID()}/nothing-here`, { token: admin.token }), 404);
  });
});

describe('billing days', () => {
  it('a day before the first billing day answers 404; the first day and a later one answer', async () => {
    const accountant = await h.user('accountant');
    const day = (date: string) => h.request('GET', `/billing/days/${date}`, { token: accountant.token });
    const today = await currentBillingDay(h.database.db, h.config.billing.timeZone);
    // No day opened yet: the first one will be today.
    expectProblem(await day(shiftDate(today, -1)), 404);
    const worker = await h.user('worker');
    await recordLedgerEntry(h.database.db, h.config.billing.timeZone, {
      key: `test:${randomUUID()}`,
      userId: worker.id,
      kind: 'reward',
      amountCents: 500,
      description: 'opens the first day',
    });
    const never = await day('2020-02-29');
    expectProblem(never, 404);
    expect(never.body.detail).toContain(today);
    expectProblem(await day(shiftDate(today, -1)), 404);
    expect((await day(today)).body).toMatchObject({ date: today, status: 'open', rewardsCents: 500 });
    expect((await day(shiftDate(today, 3))).body).toMatchObject({ status: 'open', entries: 0 });
  });

  it('GET /billing/me reports the open day after today was closed by hand, with its earnings', async () => {
    const accountant = await h.user('accountant');
    const worker = await h.user('worker');
    const record = (amountCents: number) =>
      recordLedgerEntry(h.database.db, h.config.billing.timeZone, { key: `test:${randomUUID()}`, userId: worker.id, kind: 'reward', amountCents, description: 'work' });
    const today = (await record(1000)).billingDate;

    const close = await h.request('POST', `/billing/days/${today}/close`, { token: accountant.token });
    expect(close.status, JSON.stringify(close.body)).toBe(202);
    for (let waited = 0; (await h.request('GET', `/billing/days/${today}`, { token: accountant.token })).body.status !== 'closed'; waited += 200) {
      expect(waited, 'the manual close to finish').toBeLessThan(60_000);
      await sleep(200);
    }

    const next = await record(700);
    expect(next.billingDate).toBe(shiftDate(today, 1));
    const mine = await h.request('GET', '/billing/me', { token: worker.token });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ today: next.billingDate, todayEarningsCents: 700, balanceCents: 700 });
  }, 90_000);
});
