// The billing day's close on a real Temporal dev server and PostgreSQL: entries written during the close
// land in exactly one day, payouts happen exactly once through worker crashes and a retried close, each
// payout is mailed once (to a real in-process SMTP server), and the Schedule fires at local midnight.
import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBillingDay, recordLedgerEntry } from '../lib/billing/ledger.js';
import { users } from '../db/schema/auth.js';
import { accounts, billingDays, ledgerEntries } from '../db/schema/billing.js';
import { emailDeliveries } from '../db/schema/notifications.js';
import { domainEvents } from '../db/schema/platform.js';
import { billingScheduleOptions } from '../workers/billing-schedule.js';
import type { billingDayWorkflow } from '../workflows/billing-day.js';
import { localDate } from '../lib/billing/calendar.js';
import { billingDayWorkflowId, closeBillingDaySignal } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { MailServer } from './support/mail-server.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let mail: MailServer;
let workers: WorkerProcess;
let accountant: TestUser;
let admin: TestUser;
beforeAll(async () => {
  mail = new MailServer();
  await mail.start();
  h = await startHarness({ env: { SMTP_URL: `smtp://127.0.0.1:${mail.port}` }, workerContexts: [] });
  workers = await spawnWorkerProcess(h);
  accountant = await h.user('accountant');
  admin = await h.user('admin');
}, 60_000);
afterAll(async () => {
  await workers?.stop();
  await h?.stop();
  await mail?.stop();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, withinMs = 120_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > withinMs) throw new Error(`still waiting for ${what} after ${withinMs} ms`);
    await sleep(200);
  }
}

const dayRow = async (date: string) => (await h.database.db.select().from(billingDays).where(eq(billingDays.date, date)))[0];
const closed = (date: string) => until(`day ${date} to close`, async () => ((await dayRow(date))?.status === 'closed' ? dayRow(date) : undefined));

/** Per account: the sum of its entries up to `date` (payouts excluded), the payout of `date`, and the balance. */
async function accountsAt(date: string) {
  const rows = await h.database.db.execute<{ user_id: string; before: string; payout: string | null; payouts: number; balance: string; total: string }>(sql`
    select a.user_id, a.balance_cents::text as balance,
      coalesce(sum(e.amount_cents) filter (where e.billing_date <= ${date} and e.kind <> 'payout'), 0)
        + coalesce(sum(e.amount_cents) filter (where e.billing_date < ${date} and e.kind = 'payout'), 0) as before,
      sum(e.amount_cents) filter (where e.billing_date = ${date} and e.kind = 'payout') as payout,
      (count(*) filter (where e.billing_date = ${date} and e.kind = 'payout'))::int as payouts,
      coalesce(sum(e.amount_cents), 0)::text as total
    from ${accounts} a left join ${ledgerEntries} e on e.user_id = a.user_id group by a.user_id`);
  return rows.map((r) => ({ userId: r.user_id, before: Number(r.before), payout: r.payout === null ? null : Number(r.payout), payouts: r.payouts, balance: Number(r.balance), total: Number(r.total) }));
}

describe('closing a day while entries are written', () => {
  it('puts every entry in exactly one day: the closed day’s stored totals never change, later entries go to the next day', async () => {
    const creator = await h.user('manager');
    const performers = await Promise.all(Array.from({ length: 4 }, () => h.user('worker')));
    const tokens = new Map(performers.map((w) => [w.id, w.token]));
    const day = await currentBillingDay(h.database.db, h.config.billing.timeZone);

    let running = true;
    let lifecycles = 0;
    const lifecycle = async () => {
      while (running) {
        const created = await h.request('POST', '/tasks', { token: creator.token, body: { title: `task ${lifecycles}` } });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const done = await h.request('POST', `/tasks/${created.body.id}/complete`, { token: tokens.get(created.body.assigneeId) });
        expect(done.status, JSON.stringify(done.body)).toBe(200);
        lifecycles++;
      }
    };
    const loops = Array.from({ length: 6 }, lifecycle);
    await until('some lifecycles', async () => (lifecycles >= 12 ? true : undefined));

    const close = await h.request('POST', `/billing/days/${day}/close`, { token: accountant.token });
    expect(close.status, JSON.stringify(close.body)).toBe(202);
    expect(close.headers.get('location')).toBe(`/billing/days/${day}`);
    const atClose = lifecycles;
    const row = await closed(day);
    await until('lifecycles after the close', async () => (lifecycles >= atClose + 12 ? true : undefined));
    running = false;
    await Promise.all(loops);

    // The close stored the day's totals; recomputed from the ledger now, after more entries were written, they are the same.
    const [now] = await h.database.db.execute<{ fees: string; rewards: string; payouts: string; late: number }>(sql`
      select coalesce(-sum(amount_cents) filter (where kind = 'assign_fee'), 0)::text as fees,
             coalesce(sum(amount_cents) filter (where kind = 'reward'), 0)::text as rewards,
             coalesce(-sum(amount_cents) filter (where kind = 'payout'), 0)::text as payouts,
             (count(*) filter (where created_at > ${row!.cutoffAt!.toISOString()} and kind <> 'payout'))::int as late
      from ${ledgerEntries} where billing_date = ${day}`);
    expect({ fees: Number(now!.fees), rewards: Number(now!.rewards), payouts: Number(now!.payouts) }).toEqual({
      fees: row!.feesCents,
      rewards: row!.rewardsCents,
      payouts: row!.payoutsCents,
    });
    expect(row!.feesCents).toBeGreaterThan(0);
    // No entry of the closed day was begun after its cut-off (its payouts are the close's own).
    expect(now!.late).toBe(0);

    // Entries after the cut-off went on: they are in the next open day, which is still open.
    const next = await currentBillingDay(h.database.db, h.config.billing.timeZone);
    expect(next > day).toBe(true);
    const byDay = await h.database.db.execute<{ date: string; n: number; cents: string }>(sql`
      select billing_date::text as date, count(*)::int as n, sum(amount_cents)::text as cents from ${ledgerEntries} group by billing_date order by 1`);
    expect(byDay.map((d) => d.date)).toEqual([day, next]);
    expect(byDay[1]!.n).toBeGreaterThan(0);

    // Every fee and reward is where the API's per-day statistics count it, and the days add up to the ledger.
    const stats = await h.request('GET', `/billing/days?from=${day}&to=${next}`, { token: accountant.token });
    expect(stats.status, JSON.stringify(stats.body)).toBe(200);
    const [total] = await h.database.db.execute<{ n: number; cents: string }>(sql`select count(*)::int as n, sum(amount_cents)::text as cents from ${ledgerEntries}`);
    expect(stats.body.items.reduce((sum: number, d: any) => sum + d.entries, 0)).toBe(total!.n);
    expect(byDay.reduce((sum, d) => sum + Number(d.cents), 0)).toBe(Number(total!.cents));

    // Each account was paid its balance at the cut-off when positive, and balances are the sums of their entries.
    for (const account of await accountsAt(day)) {
      expect(account.balance).toBe(account.total);
      expect(account.payouts).toBe(account.before > 0 ? 1 : 0);
      if (account.before > 0) expect(account.payout).toBe(-account.before);
    }
  }, 240_000);
});

describe('payouts exactly once', () => {
  it('pays each positive account once, mails it once, and leaves negative ones alone, through worker crashes and a retried close', async () => {
    const db = h.database.db;
    // 160 workers with balances: 100 positive, 60 negative. Users are inserted directly: logging them in is not the point.
    const template = await h.user('worker');
    const [hash] = await db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, template.id));
    const people = await db
      .insert(users)
      .values(Array.from({ length: 160 }, (_, i) => ({ name: `payee ${i}`, email: `payee-${i}-${template.id.slice(0, 8)}@test.local`, role: 'worker' as const, passwordHash: hash!.hash })))
      .returning({ id: users.id, email: users.email });
    const balances = new Map(people.map((p, i) => [p.id, i < 100 ? 100 * (i + 1) : -50 * (i - 99)]));
    for (const [userId, amountCents] of balances) {
      await recordLedgerEntry(db, h.config.billing.timeZone, { key: `seed:${userId}`, userId, kind: 'adjustment', amountCents, description: 'opening balance' });
    }
    const day = await currentBillingDay(db, h.config.billing.timeZone);
    const paidSoFar = async () =>
      (await db.execute<{ n: number }>(sql`select count(*)::int as n from ${ledgerEntries} where billing_date = ${day} and kind = 'payout'`))[0]!.n;

    // Small batches make many activities, so the crashes land between and inside them.
    const temporal = h.services.deps.temporal;
    await temporal.workflow.signalWithStart<typeof billingDayWorkflow>('billingDayWorkflow', {
      workflowId: billingDayWorkflowId(day),
      taskQueue: taskQueues.billing,
      args: [{ date: day, timeZone: h.config.billing.timeZone, batch: { accountsPerTransaction: 2, accountsPerActivity: 6 } }],
      signal: closeBillingDaySignal,
    });
    for (const after of [15, 50]) {
      const seen = await until(`${after} payouts`, async () => ((await paidSoFar()) >= after ? paidSoFar() : undefined));
      expect(seen).toBeLessThan(100); // the crash is mid-way
      await workers.kill();
      workers = await spawnWorkerProcess(h);
    }
    // The close retried: its run terminated mid-way and the day closed again by hand (a new run, default batches).
    await until('80 payouts', async () => ((await paidSoFar()) >= 80 ? true : undefined));
    const handle = temporal.workflow.getHandle(billingDayWorkflowId(day));
    const terminated = await handle.terminate('test: the close is retried').then(
      () => true,
      () => false, // it finished first: the retry below is then a no-op, which is also what must hold
    );
    const retried = await h.request('POST', `/billing/days/${day}/close`, { token: accountant.token });
    expect(retried.status, JSON.stringify(retried.body)).toBe(terminated ? 202 : 200);
    const row = await closed(day);

    const byUser = new Map((await accountsAt(day)).map((a) => [a.userId, a]));
    for (const [userId, opening] of balances) {
      const account = byUser.get(userId)!;
      if (opening > 0) {
        expect(account).toMatchObject({ payouts: 1, payout: -opening, balance: 0 });
      } else {
        expect(account).toMatchObject({ payouts: 0, payout: null, balance: opening });
      }
    }
    // One mail per payout at the SMTP server, none for the negative accounts.
    await until('the payout mails', async () => (people.filter((p) => balances.get(p.id)! > 0).every((p) => mail.to(p.email).length > 0) ? true : undefined));
    // A mail resent after a crash between the SMTP server's acceptance and our record is the same mail
    // (same Message-ID): readers see one. Concurrent attempts never both send (see activities/notifications.ts).
    const messageIds = (email: string) => new Set(mail.to(email).map((m) => /^Message-ID: *(.+)$/im.exec(m.raw)?.[1]?.trim()));
    for (const person of people) expect(messageIds(person.email).size).toBe(balances.get(person.id)! > 0 ? 1 : 0);
    const resent = people.reduce((n, p) => n + Math.max(0, mail.to(p.email).length - 1), 0);
    console.log(`payout mails: ${people.filter((p) => balances.get(p.id)! > 0).length} payouts, ${resent} resent after a crash`);
    const deliveries = await db.select().from(emailDeliveries).where(inArray(emailDeliveries.key, people.map((p) => `payout:${day}:${p.id}`)));
    expect(deliveries).toHaveLength(100);
    expect(deliveries.every((d) => d.status === 'sent')).toBe(true);

    // Events: one billing.payout.made per payout, one billing.day.closed.
    const events = await db
      .select({ name: domainEvents.name, n: sql<number>`count(*)::int` })
      .from(domainEvents)
      .where(and(inArray(domainEvents.name, ['billing.payout.made', 'billing.day.closed']), sql`${domainEvents.data}->>'billingDate' = ${day} or ${domainEvents.data}->>'date' = ${day}`))
      .groupBy(domainEvents.name);
    expect(Object.fromEntries(events.map((e) => [e.name, e.n]))).toEqual({ 'billing.payout.made': await paidSoFar(), 'billing.day.closed': 1 });

    // The daily report went to admins and accountants once each, and its figures are stored on the day.
    // Each reader's mail is delivered on its own (and retried on its own after a crash): wait for both.
    const reportTo = (reader: { email: string }) => mail.to(reader.email).filter((m) => m.raw.includes(`daily report for ${day}`));
    await until('the daily report', async () => ([accountant, admin].every((reader) => reportTo(reader).length > 0) ? true : undefined));
    // One report each: a resend after a crash is the same mail (same Message-ID).
    for (const reader of [accountant, admin]) expect(new Set(reportTo(reader).map((m) => /^Message-ID: *(.+)$/im.exec(m.raw)?.[1]?.trim())).size).toBe(1);
    expect(row!.payoutsCents).toBe(-(await db.execute<{ s: string }>(sql`select sum(amount_cents)::text as s from ${ledgerEntries} where billing_date = ${day} and kind = 'payout'`))[0]!.s);
    expect(row!.workersInNegative).toBeGreaterThanOrEqual(60);

    // Closing it again changes nothing.
    const payouts = await paidSoFar();
    const again = await h.request('POST', `/billing/days/${day}/close`, { token: accountant.token });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ date: day, status: 'closed', payoutsCents: row!.payoutsCents, progress: null });
    expect(await paidSoFar()).toBe(payouts);
  }, 300_000);

  it('refuses a day that has not begun and a malformed date', async () => {
    const current = await currentBillingDay(h.database.db, h.config.billing.timeZone);
    const later = new Date(Date.parse(`${current}T00:00:00Z`) + 2 * 86_400_000).toISOString().slice(0, 10);
    const early = await h.request('POST', `/billing/days/${later}/close`, { token: accountant.token });
    expect(early.status).toBe(409);
    expect(early.body.type).toMatch(/day-not-begun/);
    expect(await dayRow(later)).toBeUndefined();
    const bad = await h.request('POST', '/billing/days/2025-02-30/close', { token: accountant.token });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].field).toMatch(/date/);
    const worker = await h.user('worker');
    expect((await h.request('POST', `/billing/days/${current}/close`, { token: worker.token })).status).toBe(403);
  });
});

describe('the daily Schedule', () => {
  it('fires at local midnight of the billing time zone, across a DST change and east of UTC', async () => {
    const schedules = h.services.deps.temporal.schedule;
    const cases = [
      // Europe/Berlin leaves CET for CEST on 2027-03-28 and comes back on 2027-10-31.
      { zone: 'Europe/Berlin', startAt: '2027-03-26T12:00:00Z', fires: ['2027-03-26T23:00:00Z', '2027-03-27T23:00:00Z', '2027-03-28T22:00:00Z', '2027-03-29T22:00:00Z'] },
      { zone: 'Europe/Berlin', startAt: '2027-10-29T12:00:00Z', fires: ['2027-10-29T22:00:00Z', '2027-10-30T22:00:00Z', '2027-10-31T23:00:00Z', '2027-11-01T23:00:00Z'] },
      // Asia/Novosibirsk is UTC+7 all year: its midnight is 17:00 UTC.
      { zone: 'Asia/Novosibirsk', startAt: '2027-01-10T00:00:00Z', fires: ['2027-01-10T17:00:00Z', '2027-01-11T17:00:00Z', '2027-01-12T17:00:00Z'] },
    ];
    for (const { zone, startAt, fires } of cases) {
      const options = billingScheduleOptions(zone, new Date(startAt));
      const handle = await schedules.create({ ...options, scheduleId: `probe-${zone.replace('/', '-')}-${startAt.slice(0, 10)}`, state: { paused: true } });
      const description = await handle.describe();
      expect(description.info.nextActionTimes.slice(0, fires.length).map((t) => t.toISOString().replace('.000', ''))).toEqual(fires);
      await handle.delete();
    }
  });

  it('opens today’s billing day when it fires', async () => {
    const temporal = h.services.deps.temporal;
    // The worker process made the real one, which waits for midnight: a twin we can fire now.
    const handle = await temporal.schedule.create({ ...billingScheduleOptions(h.config.billing.timeZone), scheduleId: 'billing-days-now' });
    await handle.trigger();
    const opened = await until('the schedule’s run', async () => {
      const runs = (await handle.describe()).info.recentActions;
      return runs.length > 0 ? runs[0]! : undefined;
    });
    const opener = temporal.workflow.getHandle(opened.action.workflow.workflowId, opened.action.workflow.firstExecutionRunId);
    const date = await opener.result();
    // The day that began at the firing's scheduled time (here: now).
    expect(date).toBe(localDate(Date.now(), h.config.billing.timeZone));
    const day = await temporal.workflow.getHandle(billingDayWorkflowId(date)).describe();
    expect(day.type).toBe('billingDayWorkflow');
    await handle.delete();
  });
});
