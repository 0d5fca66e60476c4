import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingActivities, type RecordLedgerEntryInput } from '../activities/billing.js';
import { appendLedgerEntry, beginClosingDay, recordLedgerEntry, type LedgerEntryJson } from '../lib/billing/ledger.js';
import { startHarness, type Harness } from './support/harness.js';

const localDate = (at: Date, timeZone: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);

const entry = (overrides: Partial<RecordLedgerEntryInput> = {}): RecordLedgerEntryInput => ({
  key: `test:${randomUUID()}`,
  userId: randomUUID(),
  kind: 'reward',
  amountCents: 2500,
  description: 'a test entry',
  ...overrides,
});

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

const ledger = (h: Harness) => ({
  async balance(userId: string): Promise<number | undefined> {
    const [row] = await h.database.sql`select balance_cents from accounts where user_id = ${userId}`;
    return row ? Number(row.balance_cents) : undefined;
  },
  async entries(where: { key?: string; userId?: string }) {
    return h.database.sql`
      select id, key, user_id, amount_cents::int as amount, billing_date::text as day, created_at from ledger_entries
      where (${where.key ?? null}::text is null or key = ${where.key ?? null})
        and (${where.userId ?? null}::uuid is null or user_id = ${where.userId ?? null})`;
  },
  async events(key: string): Promise<number> {
    const [row] = await h.database.sql`
      select count(*)::int as n from domain_events where name = 'billing.entry.recorded' and data->>'key' = ${key}`;
    return row!.n;
  },
});

describe('ledger entries', () => {
  let h: Harness;
  let billing: ReturnType<typeof createBillingActivities>;
  let db: ReturnType<typeof ledger>;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [] });
    billing = createBillingActivities(h.services.deps);
    db = ledger(h);
  });
  afterAll(() => h?.stop());

  it('writes an entry once per key: a retry answers the first entry and moves nothing', async () => {
    const input = entry({ kind: 'assign_fee', amountCents: -1500, issueId: randomUUID() });
    const first = await billing.recordLedgerEntry(input);
    const retry = await billing.recordLedgerEntry(input);
    expect(retry).toEqual(first);
    expect(first).toMatchObject({ key: input.key, userId: input.userId, kind: 'assign_fee', amountCents: -1500, issueId: input.issueId });
    expect(await db.entries({ key: input.key })).toHaveLength(1);
    expect(await db.balance(input.userId)).toBe(-1500);
    expect(await db.events(input.key)).toBe(1);
  });

  it('writes one entry, one balance move and one event for 20 concurrent calls with the same key', async () => {
    const input = entry({ amountCents: 3300 });
    const results = await Promise.all(Array.from({ length: 20 }, () => billing.recordLedgerEntry(input)));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await db.entries({ key: input.key })).toHaveLength(1);
    expect(await db.balance(input.userId)).toBe(3300);
    expect(await db.events(input.key)).toBe(1);
    const [event] = await h.database.sql`select data from domain_events where data->>'key' = ${input.key}`;
    expect(event!.data).toEqual({
      entryId: results[0]!.id,
      key: input.key,
      userId: input.userId,
      kind: 'reward',
      amountCents: 3300,
      billingDate: results[0]!.billingDate,
      issueId: null,
    });
  });

  it('charges fees as negative and credits rewards as positive amounts on one account', async () => {
    const userId = randomUUID();
    await billing.recordLedgerEntry(entry({ userId, kind: 'assign_fee', amountCents: -1500 }));
    await billing.recordLedgerEntry(entry({ userId, kind: 'reward', amountCents: 3000 }));
    await billing.recordLedgerEntry(entry({ userId, kind: 'assign_fee', amountCents: -2000 }));
    expect(await db.balance(userId)).toBe(-500);
    const rows = await db.entries({ userId });
    expect(rows.map((r) => r.amount).sort((a, b) => a - b)).toEqual([-2000, -1500, 3000]);
  });

  it('refuses invalid entries as non-retryable Billing.InvalidEntry and writes nothing', async () => {
    const userId = randomUUID();
    const bad: Partial<RecordLedgerEntryInput>[] = [
      { amountCents: 0 },
      { amountCents: 12.5 },
      { amountCents: Number.NaN },
      { amountCents: Number.MAX_SAFE_INTEGER + 1 },
      { amountCents: '100' as unknown as number },
      { kind: 'payout' as RecordLedgerEntryInput['kind'] },
      { kind: 'bonus' as RecordLedgerEntryInput['kind'] },
      { key: '' },
      { userId: 'not-a-uuid' },
    ];
    for (const overrides of bad) {
      const failure = await refusal(billing.recordLedgerEntry(entry({ userId, ...overrides })));
      expect(failure.type, JSON.stringify(overrides)).toBe('Billing.InvalidEntry');
      expect(failure.nonRetryable).toBe(true);
    }
    expect(await db.balance(userId)).toBeUndefined();
  });

  it('refuses a key written before with other money as Billing.KeyReused', async () => {
    const input = entry({ amountCents: 2000 });
    await billing.recordLedgerEntry(input);
    const failure = await refusal(billing.recordLedgerEntry({ ...input, amountCents: 4000 }));
    expect(failure.type).toBe('Billing.KeyReused');
    expect(failure.nonRetryable).toBe(true);
    expect(await db.balance(input.userId)).toBe(2000);
  });

  it('GET /billing/me shows the caller’s own balance, today’s earnings and ledger, newest first', async () => {
    const [alice, bob] = await Promise.all([h.user('worker'), h.user('worker')]);
    const fee = await billing.recordLedgerEntry(entry({ userId: alice.id, kind: 'assign_fee', amountCents: -1500 }));
    await billing.recordLedgerEntry(entry({ userId: alice.id, kind: 'reward', amountCents: 3000 }));
    await billing.recordLedgerEntry(entry({ userId: bob.id, kind: 'reward', amountCents: 4000 }));
    await billing.recordLedgerEntry(entry({ userId: alice.id, kind: 'assign_fee', amountCents: -1000 }));
    // A payout moves the balance but is not earnings.
    await h.database.db.transaction((tx) =>
      appendLedgerEntry(tx, { key: `payout:${randomUUID()}`, userId: alice.id, kind: 'payout', amountCents: -200, description: 'payout' }, fee.billingDate),
    );

    const first = await h.request('GET', '/billing/me?limit=3', { token: alice.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ balanceCents: 300, today: fee.billingDate, todayEarningsCents: 500 });
    expect(first.body.entries.items.map((e: LedgerEntryJson) => e.amountCents)).toEqual([-200, -1000, 3000]);
    expect(first.body.entries.nextCursor).toEqual(expect.any(String));
    const second = await h.request('GET', `/billing/me?limit=3&after=${first.body.entries.nextCursor}`, { token: alice.token });
    expect(second.body.entries).toEqual({ items: [fee], nextCursor: null });
    for (const item of [...first.body.entries.items, ...second.body.entries.items]) expect(item.userId).toBe(alice.id);

    const other = await h.request('GET', '/billing/me', { token: bob.token });
    expect(other.body).toMatchObject({ balanceCents: 4000, todayEarningsCents: 4000 });
    expect(other.body.entries.items).toHaveLength(1);
    expect(other.body.entries.items[0].userId).toBe(bob.id);

    const manager = await h.user('manager');
    const empty = await h.request('GET', '/billing/me', { token: manager.token });
    expect(empty.body).toMatchObject({ balanceCents: 0, todayEarningsCents: 0, entries: { items: [], nextCursor: null } });
  });

  it('GET /billing/me answers 401 without a token and 422 for a forged cursor', async () => {
    const anonymous = await h.request('GET', '/billing/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    const worker = await h.user('worker');
    const forged = await h.request('GET', '/billing/me?after=bm9wZQ', { token: worker.token });
    expect(forged.status).toBe(422);
    expect(forged.body.errors[0].field).toBe('query.after');
  });
});

describe('billing day of an entry', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [], env: { BILLING_TIMEZONE: 'Asia/Novosibirsk' } });
  });
  afterAll(() => h?.stop());

  it('is the local date in BILLING_TIMEZONE', async () => {
    const worker = await h.user('worker');
    const written = await createBillingActivities(h.services.deps).recordLedgerEntry(entry({ userId: worker.id }));
    expect(written.billingDate).toBe(localDate(new Date(written.createdAt), 'Asia/Novosibirsk'));
    const me = await h.request('GET', '/billing/me', { token: worker.token });
    expect(me.body.today).toBe(localDate(new Date(), 'Asia/Novosibirsk'));
    expect(me.body.todayEarningsCents).toBe(2500);
  });

  it('is not the UTC date when the zone’s date differs from it', async () => {
    // UTC+14 is a day ahead from 10:00 UTC, UTC-11 a day behind until 11:00 UTC: pick one with margin.
    const minutes = new Date().getUTCHours() * 60 + new Date().getUTCMinutes();
    const zone = minutes >= 630 ? 'Pacific/Kiritimati' : 'Pacific/Pago_Pago';
    const written = await recordLedgerEntry(h.database.db, zone, entry());
    expect(written.billingDate).toBe(localDate(new Date(written.createdAt), zone));
    expect(written.billingDate).not.toBe(written.createdAt.slice(0, 10));
  });
});

describe('closing a billing day while entries are written', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [] });
  });
  afterAll(() => h?.stop());

  it('puts every entry in exactly one day and none in the closed day after its cut-off', async () => {
    const billing = createBillingActivities(h.services.deps);
    const users = Array.from({ length: 8 }, () => randomUUID());
    const [{ today }] = await h.database.sql<[{ today: string }]>`select (now() at time zone 'UTC')::date::text as today`;
    const daySum = async (date: string) => {
      const [row] = await h.database.sql`
        select count(*)::int as n, coalesce(sum(amount_cents), 0)::bigint::text as sum from ledger_entries where billing_date = ${date}`;
      return { n: row!.n as number, sum: Number(row!.sum) };
    };

    let closed = false;
    let stop = false;
    const written: { entry: LedgerEntryJson; startedAfterClose: boolean }[] = [];
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const startedAfterClose = closed;
        const reward = i % 2 === 1;
        const input = entry({
          key: `race:${w}:${i}`,
          userId: users[(w + i) % users.length]!,
          kind: reward ? 'reward' : 'assign_fee',
          amountCents: reward ? 2000 + w : -(1000 + i),
        });
        written.push({ entry: await billing.recordLedgerEntry(input), startedAfterClose });
      }
    };
    const writers = Promise.all(Array.from({ length: 32 }, (_, w) => writer(w)));
    // Waits for the writers to get that far; a writer's failure fails the test at once.
    const until = async (condition: () => boolean) => {
      const reached = (async () => {
        while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
      })();
      await Promise.race([reached, writers]);
    };

    await until(() => written.length >= 150);
    const day = await h.database.db.transaction((tx) => beginClosingDay(tx, today));
    closed = true;
    const atClose = await daySum(today);
    const writtenAtClose = written.length;
    await until(() => written.length >= writtenAtClose + 150);
    stop = true;
    await writers;

    expect(day).toMatchObject({ date: today, status: 'closing' });
    expect(day.cutoffAt).toBeInstanceOf(Date);
    // Nothing joined the closed day after its close committed.
    expect(await daySum(today)).toEqual(atClose);
    expect(atClose.n).toBeGreaterThan(0);
    const nextDay = localDate(new Date(Date.parse(`${today}T12:00:00Z`) + 86_400_000), 'UTC');
    const later = written.filter((w) => w.startedAfterClose);
    expect(later.length).toBeGreaterThan(0);
    for (const { entry } of later) expect(entry.billingDate).toBe(nextDay);

    // Each entry sits in exactly one day, and the days' sums add up to the whole ledger.
    const rows = await h.database.sql`select key, billing_date::text as day from ledger_entries`;
    expect(rows).toHaveLength(written.length);
    expect(new Set(rows.map((r) => r.key)).size).toBe(written.length);
    const byKey = new Map(written.map((w) => [w.entry.key, w.entry]));
    for (const row of rows) expect(row.day).toBe(byKey.get(row.key)!.billingDate);
    const total = written.reduce((sum, w) => sum + w.entry.amountCents, 0);
    const tomorrow = await daySum(nextDay);
    expect(atClose.n + tomorrow.n).toBe(written.length);
    expect(atClose.sum + tomorrow.sum).toBe(total);
    const [late] = await h.database.sql`
      select count(*)::int as n from ledger_entries e join billing_days d on d.date = e.billing_date
      where d.date = ${today} and e.created_at > d.cutoff_at`;
    expect(late!.n).toBe(0);

    // Balances moved exactly with the entries.
    for (const userId of users) {
      const expected = written.filter((w) => w.entry.userId === userId).reduce((sum, w) => sum + w.entry.amountCents, 0);
      const [account] = await h.database.sql`select balance_cents::int as balance from accounts where user_id = ${userId}`;
      expect(account!.balance).toBe(expected);
    }

    // Closing again is a no-op that answers the day as it is.
    const again = await h.database.db.transaction((tx) => beginClosingDay(tx, today));
    expect(again.cutoffAt).toEqual(day.cutoffAt);
  });
});
