// The billing read side and analytics against a brute-force model: for many seeds, a random world of users,
// tasks and ledger entries over several billing days is written straight into the database, then every
// answer of the API is recomputed in plain TypeScript from what was written.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Transaction } from '../db/client.js';
import { appendLedgerEntry, type LedgerEntryJson } from '../lib/billing/ledger.js';
import { users, type Role, type UserStatus } from '../db/schema/auth.js';
import { billingDays, type BillingDayStatus, type LedgerEntryKind } from '../db/schema/billing.js';
import { issues } from '../db/schema/issues.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { prng } from '../lib/prng.js';

type Random = ReturnType<typeof prng>;

// Date helpers written independently of the API's: day by day, never by arithmetic on weeks or months.
const dayMs = 86_400_000;
const addDays = (date: string, n: number) => new Date(Date.parse(`${date}T00:00:00Z`) + n * dayMs).toISOString().slice(0, 10);
const weekday = (date: string) => new Date(`${date}T00:00:00Z`).getUTCDay();
const mondayOf = (date: string) => {
  let day = date;
  while (weekday(day) !== 1) day = addDays(day, -1);
  return day;
};
const lastOfMonth = (date: string) => {
  let day = date;
  while (addDays(day, 1).slice(0, 7) === date.slice(0, 7)) day = addDays(day, 1);
  return day;
};
const periodOf = (period: 'day' | 'week' | 'month', date: string) =>
  period === 'day'
    ? { from: date, to: date }
    : period === 'week'
      ? { from: mondayOf(date), to: addDays(mondayOf(date), 6) }
      : { from: `${date.slice(0, 7)}-01`, to: lastOfMonth(date) };

interface WorldUser {
  id: string;
  name: string;
  role: Role;
  status: UserStatus;
}
interface WorldIssue {
  id: string;
  typeKey: string;
  title: string;
  done: boolean;
  assignFeeCents: number;
}
interface WorldEntry extends LedgerEntryJson {
  /** created_at in microseconds: ties within a millisecond are real. */
  createdAtUs: number;
}
interface WorldDay {
  date: string;
  status: BillingDayStatus;
  cutoffAt: string | null;
  closedAt: string | null;
  workersInNegativeAtClose: number | null;
}
interface World {
  users: WorldUser[];
  issues: WorldIssue[];
  entries: WorldEntry[];
  days: WorldDay[];
}

const kindsWithSign: Record<LedgerEntryKind, 1 | -1> = {
  assign_fee: -1,
  reward: 1,
  service_charge: -1,
  service_credit: 1,
  adjustment: 1,
  payout: -1,
};

/** Writes a random world into the (emptied) billing and issue tables and answers what it wrote. */
async function generateWorld(h: Harness, r: Random): Promise<World> {
  const { db } = h.database;
  const base = addDays('2030-01-01', r.int(0, 700));
  const dates = [...new Set(Array.from({ length: r.int(2, 8) }, () => addDays(base, r.int(0, 45))))].sort();

  const world: World = { users: [], issues: [], entries: [], days: [] };
  const workers = Array.from({ length: r.int(2, 6) }, (_, i) => ({
    id: randomUUID(),
    name: `Popug ${i}`,
    role: 'worker' as Role,
    status: (r.chance(0.15) ? 'deactivated' : 'active') as UserStatus,
  }));
  const others = [
    { id: randomUUID(), name: 'Client', role: 'client' as Role, status: 'active' as UserStatus },
    { id: randomUUID(), name: 'Manager', role: 'manager' as Role, status: 'active' as UserStatus },
  ];
  world.users.push(...workers, ...others);
  await db.insert(users).values(world.users.map((u) => ({ ...u, email: `${u.id}@world.local`, passwordHash: 'not-a-login' })));
  // Billing takes user ids on trust: an account may have no user behind it.
  const stranger = randomUUID();

  for (const date of dates) await db.insert(billingDays).values({ date });

  let keyNo = 0;
  const write = async (tx: Transaction, input: { userId: string; kind: LedgerEntryKind; amountCents: number; issueId?: string }, date: string) => {
    const { entry } = await appendLedgerEntry(tx, { key: `world:${keyNo++}`, description: input.kind, ...input }, date);
    world.entries.push({ ...entry, createdAtUs: 0 });
  };
  const writeOne = (input: Parameters<typeof write>[1], date: string) => db.transaction((tx) => write(tx, input, date));

  // Tasks: assigned once or more (a shuffle charges the new assignee), some completed for their reward.
  // Rewards come from a short list so that ties are common.
  for (let t = 0, n = r.int(3, 25); t < n; t++) {
    const issue: WorldIssue = {
      id: randomUUID(),
      typeKey: r.chance(0.9) ? 'task' : 'inventory',
      title: `Task ${t} of the world`,
      done: r.chance(0.7),
      assignFeeCents: r.int(10, 20) * 100,
    };
    const rewardCents = r.pick([2000, 2500, 3000, 4000]);
    let assignee = r.pick(workers).id;
    const assignments = r.int(1, 3);
    for (let a = 0; a < assignments; a++) {
      assignee = r.pick(workers).id;
      await writeOne({ userId: assignee, kind: 'assign_fee', amountCents: -issue.assignFeeCents, issueId: issue.id }, r.pick(dates));
    }
    // A done task has its reward; a stray reward of an unfinished task is there sometimes, and must not count.
    if (issue.done || r.chance(0.1)) {
      await writeOne({ userId: assignee, kind: 'reward', amountCents: rewardCents, issueId: issue.id }, r.pick(dates));
    }
    world.issues.push(issue);
    await db.insert(issues).values({
      id: issue.id,
      typeKey: issue.typeKey,
      typeVersion: 1,
      title: issue.title,
      state: issue.done ? 'done' : 'open',
      status: issue.done ? 'done' : 'active',
      context: { title: issue.title, assignFeeCents: issue.assignFeeCents, rewardCents, assigneeId: assignee },
      assigneeId: assignee,
      creatorId: others[1]!.id,
      step: 1,
    });
  }

  // Two done tasks with the same reward where the completion that started first commits last: its entry has
  // the earlier created_at but the higher id, so "earliest completion wins" is not "lowest id wins".
  if (r.chance(0.5)) {
    const date = r.pick(dates);
    const pair = [0, 1].map((i) => ({ id: randomUUID(), typeKey: 'task', title: `Raced task ${i}`, done: true, assignFeeCents: 1500 }));
    const rewardCents = r.pick([3000, 4000, 4500]);
    for (const issue of pair) {
      world.issues.push(issue);
      await db.insert(issues).values({
        id: issue.id,
        typeKey: 'task',
        typeVersion: 1,
        title: issue.title,
        state: 'done',
        status: 'done',
        context: { title: issue.title, assignFeeCents: 1500, rewardCents },
        assigneeId: workers[0]!.id,
        creatorId: others[1]!.id,
        step: 1,
      });
    }
    await db.transaction(async (first) => {
      await first.execute(sql`select 1`);
      await new Promise((resolve) => setTimeout(resolve, 2));
      await writeOne({ userId: workers[1]!.id, kind: 'reward', amountCents: rewardCents, issueId: pair[1]!.id }, date);
      await write(first, { userId: workers[0]!.id, kind: 'reward', amountCents: rewardCents, issueId: pair[0]!.id }, date);
    });
  }

  // Other money: service requests, adjustments, an account without a user; several entries in one transaction.
  for (let i = 0, n = r.int(0, 12); i < n; i++) {
    const kind = r.pick(['service_charge', 'service_credit', 'adjustment'] as const);
    const userId = kind === 'service_charge' ? others[0]!.id : r.chance(0.1) ? stranger : r.pick(workers).id;
    const amount = r.int(1, 9000) * (kind === 'adjustment' ? r.pick([1, -1]) : kindsWithSign[kind]);
    await db.transaction(async (tx) => {
      await write(tx, { userId, kind, amountCents: amount }, r.pick(dates));
      if (r.chance(0.3)) await write(tx, { userId: r.pick(workers).id, kind: 'assign_fee', amountCents: -r.int(10, 20) * 100 }, r.pick(dates));
    });
  }

  // Days: some closed (with payouts and the totals their close stored), one maybe closing, the rest open.
  const balances = () => {
    const sums = new Map<string, number>();
    for (const e of world.entries) sums.set(e.userId, (sums.get(e.userId) ?? 0) + e.amountCents);
    return sums;
  };
  for (const date of dates) {
    const status = r.pick(['open', 'closing', 'closed'] as const);
    const day: WorldDay = { date, status, cutoffAt: null, closedAt: null, workersInNegativeAtClose: null };
    if (status !== 'open') day.cutoffAt = `${addDays(date, 1)}T00:00:00.${String(r.int(0, 999)).padStart(3, '0')}Z`;
    if (status === 'closed') {
      for (const [userId, balance] of balances()) {
        if (balance > 0 && r.chance(0.6)) await writeOne({ userId, kind: 'payout', amountCents: -balance }, date);
      }
      day.closedAt = `${addDays(date, 1)}T00:05:00.000Z`;
      // A snapshot of that moment: later entries do not change it.
      day.workersInNegativeAtClose = r.int(0, workers.length);
      // The close stores every figure; a partial store (some left null) is answered from the ledger for those.
      const { feesCents, rewardsCents, earningsCents, payoutsCents, ...rest } = expectedTotals(world, date);
      await db
        .update(billingDays)
        .set({
          feesCents,
          rewardsCents,
          earningsCents,
          payoutsCents,
          ...(r.chance(0.7) && rest),
          workersInNegative: day.workersInNegativeAtClose,
        })
        .where(sql`${billingDays.date} = ${date}`);
    }
    await db
      .update(billingDays)
      .set({ status, cutoffAt: day.cutoffAt ? new Date(day.cutoffAt) : null, closedAt: day.closedAt ? new Date(day.closedAt) : null })
      .where(sql`${billingDays.date} = ${date}`);
    world.days.push(day);
  }

  const stamps = await h.database.sql<{ id: string; us: string }[]>`
    select id::text, (extract(epoch from created_at) * 1000000)::bigint::text as us from ledger_entries`;
  const us = new Map(stamps.map((s) => [Number(s.id), Number(s.us)]));
  for (const e of world.entries) e.createdAtUs = us.get(e.id)!;
  return world;
}

// --- the model ---------------------------------------------------------------------------------------------

function expectedTotals(world: World, date: string) {
  const of = (kind: LedgerEntryKind) =>
    world.entries.filter((e) => e.billingDate === date && e.kind === kind).reduce((sum, e) => sum + e.amountCents, 0);
  // 0 − x, not −x: an empty sum must be 0, not −0.
  const feesCents = 0 - of('assign_fee');
  const rewardsCents = of('reward');
  return {
    feesCents,
    rewardsCents,
    earningsCents: feesCents - rewardsCents,
    payoutsCents: 0 - of('payout'),
    serviceChargesCents: 0 - of('service_charge'),
    serviceCreditsCents: of('service_credit'),
    entries: world.entries.filter((e) => e.billingDate === date).length,
  };
}

function expectedBalances(world: World) {
  const sums = new Map<string, number>();
  for (const e of world.entries) sums.set(e.userId, (sums.get(e.userId) ?? 0) + e.amountCents);
  return sums;
}

function expectedWorkersInNegative(world: World) {
  const balances = expectedBalances(world);
  return world.users.filter((u) => u.role === 'worker' && (balances.get(u.id) ?? 0) < 0).length;
}

function expectedDay(world: World, day: WorldDay) {
  return {
    date: day.date,
    status: day.status,
    cutoffAt: day.cutoffAt,
    closedAt: day.closedAt,
    ...expectedTotals(world, day.date),
    workersInNegative: day.workersInNegativeAtClose,
  };
}

function expectedSummary(world: World, date: string) {
  const day = world.days.find((d) => d.date === date);
  const totals = expectedTotals(world, date);
  const closed = day?.status === 'closed';
  return {
    date,
    status: day?.status ?? 'open',
    earningsCents: totals.earningsCents,
    feesCents: totals.feesCents,
    rewardsCents: totals.rewardsCents,
    payoutsCents: totals.payoutsCents,
    workersInNegative: closed ? day.workersInNegativeAtClose : expectedWorkersInNegative(world),
    workersInNegativeAt: closed ? day.closedAt : expect.any(String),
  };
}

function expectedTopTask(world: World, period: 'day' | 'week' | 'month', date: string) {
  const { from, to } = periodOf(period, date);
  const done = new Map(world.issues.filter((i) => i.typeKey === 'task' && i.done).map((i) => [i.id, i]));
  const candidates = world.entries
    .filter((e) => e.kind === 'reward' && e.billingDate >= from && e.billingDate <= to && e.issueId && done.has(e.issueId))
    .sort((a, b) => b.amountCents - a.amountCents || a.createdAtUs - b.createdAtUs || a.id - b.id);
  const best = candidates[0];
  if (!best) return { period, from, to, task: null };
  const issue = done.get(best.issueId!)!;
  return {
    period,
    from,
    to,
    task: {
      id: issue.id,
      title: issue.title,
      rewardCents: best.amountCents,
      assignFeeCents: issue.assignFeeCents,
      assignee: { id: best.userId, name: world.users.find((u) => u.id === best.userId)?.name ?? null },
      completedAt: best.createdAt,
    },
  };
}

function expectedAccounts(world: World) {
  return [...expectedBalances(world)]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([userId, balanceCents]) => {
      const user = world.users.find((u) => u.id === userId);
      return {
        userId,
        name: user?.name ?? null,
        role: user?.role ?? null,
        status: user?.status ?? null,
        balanceCents,
        updatedAt: expect.any(String),
      };
    });
}

// --- the tests -----------------------------------------------------------------------------------------------

describe('billing read side and analytics against a brute-force model', () => {
  let h: Harness;
  let admin: TestUser;
  let accountant: TestUser;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [] });
    [admin, accountant] = await Promise.all([h.user('admin'), h.user('accountant')]);
  });
  afterAll(() => h?.stop());

  const get = async (path: string, token = admin.token) => {
    const response = await h.request('GET', path, { token });
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  };

  const seeds = Array.from({ length: 40 }, (_, i) => 1000 + i * 7919);
  for (const seed of seeds) {
    it(`agrees with the model for seed ${seed}`, async () => {
      const fail = `seed ${seed} (rerun with this seed to reproduce)`;
      await h.database.sql`truncate ledger_entries, accounts, billing_days, issues`;
      await h.database.sql`delete from users where email like '%@world.local'`;
      const r = prng(seed);
      const world = await generateWorld(h, r);
      const dates = world.days.map((d) => d.date);

      // Accounts, paged in small random pages, by accountant and admin alike.
      const limit = r.int(1, 4);
      const pages: unknown[] = [];
      let after: string | null = null;
      do {
        const token: string = r.chance(0.5) ? admin.token : accountant.token;
        const body: { items: unknown[]; nextCursor: string | null } = await get(
          `/billing/accounts?limit=${limit}${after ? `&after=${after}` : ''}`,
          token,
        );
        expect(body.items.length, fail).toBeLessThanOrEqual(limit);
        pages.push(...body.items);
        after = body.nextCursor;
      } while (after);
      expect(pages, fail).toEqual(expectedAccounts(world));

      // Per-day statistics over the whole range and a random part of it.
      const first = dates[0]!;
      const last = dates.at(-1)!;
      const whole = await get(`/billing/days?from=${addDays(first, -1)}&to=${last}`, accountant.token);
      expect(whole, fail).toEqual({ from: addDays(first, -1), to: last, items: world.days.map((d) => expectedDay(world, d)) });
      const [a, b] = [r.pick(dates), r.pick(dates)].sort();
      const part = await get(`/billing/days?from=${a}&to=${b}`);
      expect(part.items, fail).toEqual(world.days.filter((d) => d.date >= a! && d.date <= b!).map((d) => expectedDay(world, d)));

      // Summary and top task for every billing day, and for a day near them without entries.
      const probes = [...dates, addDays(last, r.int(1, 20))];
      for (const date of probes) {
        expect(await get(`/analytics/summary?date=${date}`), `${fail}, summary of ${date}`).toEqual(expectedSummary(world, date));
        for (const period of ['day', 'week', 'month'] as const) {
          expect(await get(`/analytics/top-task?period=${period}&date=${date}`), `${fail}, top task of the ${period} of ${date}`).toEqual(
            expectedTopTask(world, period, date),
          );
        }
      }
    });
  }
});

describe('who may read billing figures and analytics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [] });
  });
  afterAll(() => h?.stop());

  const write = (userId: string, kind: LedgerEntryKind, amountCents: number, date: string) =>
    h.database.db.transaction(async (tx) => {
      await tx.insert(billingDays).values({ date }).onConflictDoNothing();
      await appendLedgerEntry(tx, { key: `roles:${randomUUID()}`, userId, kind, amountCents, description: kind }, date);
    });

  it('lets accountants and admins see every account and day, and nobody else', async () => {
    const [admin, accountant, worker, other, manager, client, reviewer] = await Promise.all([
      h.user('admin'),
      h.user('accountant'),
      h.user('worker'),
      h.user('worker'),
      h.user('manager'),
      h.user('client'),
      h.user('reviewer'),
    ]);
    await write(worker.id, 'assign_fee', -1500, '2032-01-05');
    await write(other.id, 'reward', 3000, '2032-01-05');

    for (const path of ['/billing/accounts', '/billing/days?from=2032-01-01&to=2032-01-31']) {
      for (const caller of [worker, manager, client, reviewer]) {
        const refused = await h.request('GET', path, { token: caller.token });
        expect(refused.status, `${caller.role} ${path}`).toBe(403);
        expect(refused.headers.get('content-type')).toBe('application/problem+json');
      }
      expect((await h.request('GET', path)).status).toBe(401);
      for (const caller of [accountant, admin]) expect((await h.request('GET', path, { token: caller.token })).status).toBe(200);
    }
    const accounts = await h.request('GET', '/billing/accounts', { token: accountant.token });
    expect(accounts.body.items.map((a: { userId: string }) => a.userId).sort()).toEqual([worker.id, other.id].sort());
    expect(accounts.body.items.find((a: { userId: string }) => a.userId === worker.id)).toMatchObject({
      name: worker.name,
      role: 'worker',
      status: 'active',
      balanceCents: -1500,
    });

    // A worker sees their own account only.
    const mine = await h.request('GET', '/billing/me', { token: worker.token });
    expect(mine.body.balanceCents).toBe(-1500);
    expect(mine.body.entries.items.map((e: LedgerEntryJson) => e.userId)).toEqual([worker.id]);
  });

  it('keeps analytics for admins', async () => {
    const callers = await Promise.all((['admin', 'accountant', 'manager', 'worker', 'client', 'reviewer'] as const).map((role) => h.user(role)));
    for (const path of ['/analytics/summary', '/analytics/top-task?period=week']) {
      for (const caller of callers) {
        const answer = await h.request('GET', path, { token: caller.token });
        expect(answer.status, `${caller.role} ${path}`).toBe(caller.role === 'admin' ? 200 : 403);
      }
      expect((await h.request('GET', path)).status).toBe(401);
    }
  });

  it('answers a closed day with the totals its close stored, and an open one live', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const owing = await h.request('GET', '/analytics/summary?date=2032-02-11', { token: admin.token });
    await write(worker.id, 'assign_fee', -1200, '2032-02-10');
    await write(worker.id, 'assign_fee', -1200, '2032-02-11');
    // The close stored its own figures (here deliberately not the ledger's, to see which ones are answered).
    await h.database.sql`
      update billing_days set status = 'closed', cutoff_at = '2032-02-11T00:00:00Z', closed_at = '2032-02-11T00:01:00Z',
        fees_cents = 999, rewards_cents = 1, earnings_cents = 998, payouts_cents = 7, workers_in_negative = 42
      where date = '2032-02-10'`;
    const days = await h.request('GET', '/billing/days?from=2032-02-10&to=2032-02-11', { token: admin.token });
    expect(days.body.items).toEqual([
      expect.objectContaining({
        date: '2032-02-10',
        status: 'closed',
        feesCents: 999,
        rewardsCents: 1,
        earningsCents: 998,
        payoutsCents: 7,
        workersInNegative: 42,
        entries: 1,
      }),
      expect.objectContaining({ date: '2032-02-11', status: 'open', feesCents: 1200, earningsCents: 1200, workersInNegative: null, entries: 1 }),
    ]);
    const closed = await h.request('GET', '/analytics/summary?date=2032-02-10', { token: admin.token });
    expect(closed.body).toMatchObject({ earningsCents: 998, workersInNegative: 42, workersInNegativeAt: '2032-02-11T00:01:00.000Z' });
    const open = await h.request('GET', '/analytics/summary?date=2032-02-11', { token: admin.token });
    expect(open.body).toMatchObject({ status: 'open', earningsCents: 1200, workersInNegative: owing.body.workersInNegative + 1 });
  });

  it('defaults to today in the billing time zone and to the last 30 days', async () => {
    const admin = await h.user('admin');
    const today = () => new Date().toISOString().slice(0, 10);
    const before = today();
    const summary = await h.request('GET', '/analytics/summary', { token: admin.token });
    const days = await h.request('GET', '/billing/days', { token: admin.token });
    const top = await h.request('GET', '/analytics/top-task', { token: admin.token });
    const after = today();
    expect([before, after]).toContain(summary.body.date);
    expect([before, after]).toContain(days.body.to);
    expect(days.body.from).toBe(addDays(days.body.to, -29));
    expect(top.body).toMatchObject({ period: 'day', task: null });
    expect([before, after]).toContain(top.body.from);
  });

  it('refuses every bad query parameter with 422 naming the field', async () => {
    const admin = await h.user('admin');
    const cases: [string, string][] = [
      ['/billing/days?from=2024-13-01', 'query.from'],
      ['/billing/days?from=yesterday', 'query.from'],
      ['/billing/days?to=2024-02-30', 'query.to'],
      ['/billing/days?from=2023-02-29&to=2023-03-01', 'query.from'],
      ['/billing/days?from=0000-01-01&to=0000-01-02', 'query.from'],
      ['/billing/days?from=2024-05-02&to=2024-05-01', 'query.to'],
      ['/billing/days?from=2024-01-01&to=2025-01-01', 'query.to'],
      ['/billing/days?from=1999-01-01', 'query.from'],
      ['/billing/days?from=9999-01-01', 'query.from'],
      ['/billing/accounts?limit=0', 'query.limit'],
      ['/billing/accounts?limit=abc', 'query.limit'],
      ['/billing/accounts?after=bm9wZQ', 'query.after'],
      ['/analytics/summary?date=1969-12-31', 'query.date'],
      ['/analytics/summary?date=2024-1-1', 'query.date'],
      ['/analytics/summary?date=', 'query.date'],
      ['/analytics/top-task?period=year', 'query.period'],
      ['/analytics/top-task?period=week&date=2024-02-31', 'query.date'],
      ['/analytics/top-task?period=', 'query.period'],
      ['/analytics/summary?date=2024-01-01&date=2024-01-02', 'query.date'],
    ];
    for (const [path, field] of cases) {
      const refused = await h.request('GET', path, { token: admin.token });
      expect(refused.status, path).toBe(422);
      expect(refused.headers.get('content-type'), path).toBe('application/problem+json');
      expect(refused.body.errors.map((e: { field: string }) => e.field), path).toContain(field);
    }
    // The longest range is a leap year.
    const year = await h.request('GET', '/billing/days?from=2024-01-01&to=2024-12-31', { token: admin.token });
    expect(year.status).toBe(200);
    // The edges of the accepted dates work, weeks and months reaching past them included.
    for (const path of ['/analytics/top-task?period=week&date=1970-01-01', '/analytics/top-task?period=month&date=9998-12-31']) {
      expect((await h.request('GET', path, { token: admin.token })).status, path).toBe(200);
    }
  });

  it('documents the routes in the OpenAPI document', async () => {
    const document = await h.request('GET', '/openapi.json');
    expect(document.status).toBe(200);
    for (const path of ['/billing/accounts', '/billing/days', '/analytics/summary', '/analytics/top-task']) {
      expect(document.body.paths[path]?.get, path).toBeDefined();
    }
    const parameters = document.body.paths['/analytics/top-task'].get.parameters.map((p: { name: string }) => p.name);
    expect(parameters.sort()).toEqual(['date', 'period']);
  });
});
