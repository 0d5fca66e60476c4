import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayTotals, totalsOfDays, workersInNegative } from '../db/billing-stats.js';
import { appendLedgerEntry, type LedgerEntryInput } from '../lib/billing/ledger.js';
import { billingDays } from '../db/schema/billing.js';
import { startHarness, type Harness } from './support/harness.js';

describe('billing figures from the ledger', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workerContexts: [] });
  });
  afterAll(() => h?.stop());

  const write = (billingDate: string, input: Omit<LedgerEntryInput, 'key' | 'description'>) =>
    h.database.db.transaction(async (tx) => {
      await tx.insert(billingDays).values({ date: billingDate }).onConflictDoNothing();
      await appendLedgerEntry(tx, { key: `stats:${randomUUID()}`, description: input.kind, ...input }, billingDate);
    });

  it('totals a day by kind, with fees, rewards and payouts as positive amounts and earnings = fees − rewards', async () => {
    const [alice, bob, client] = await Promise.all([h.user('worker'), h.user('worker'), h.user('client')]);
    const day = '2031-03-10';
    await write(day, { userId: alice.id, kind: 'assign_fee', amountCents: -1500 });
    await write(day, { userId: bob.id, kind: 'assign_fee', amountCents: -2000 });
    await write(day, { userId: alice.id, kind: 'reward', amountCents: 3000 });
    await write(day, { userId: client.id, kind: 'service_charge', amountCents: -10_000 });
    await write(day, { userId: bob.id, kind: 'service_credit', amountCents: 8000 });
    await write(day, { userId: alice.id, kind: 'adjustment', amountCents: 5 });
    await write(day, { userId: bob.id, kind: 'payout', amountCents: -6000 });
    // Another day's entries stay out of this day.
    await write('2031-03-11', { userId: alice.id, kind: 'assign_fee', amountCents: -1100 });

    const expected = {
      feesCents: 3500,
      rewardsCents: 3000,
      earningsCents: 500,
      payoutsCents: 6000,
      serviceChargesCents: 10_000,
      serviceCreditsCents: 8000,
      entries: 7,
    };
    expect(await dayTotals(h.database.db, day)).toEqual(expected);
    // The close calls it inside its transaction.
    expect(await h.database.db.transaction((tx) => dayTotals(tx, day))).toEqual(expected);
    expect(await dayTotals(h.database.db, '2031-03-11')).toMatchObject({ feesCents: 1100, earningsCents: 1100, entries: 1 });

    const byDay = await totalsOfDays(h.database.db, ['2031-03-09', '2031-03-10', '2031-03-11']);
    expect([...byDay.keys()].sort()).toEqual(['2031-03-10', '2031-03-11']);
    expect(byDay.get(day)).toEqual(expected);
  });

  it('answers zeros for a day without entries, and negative earnings when rewards exceed fees', async () => {
    expect(await dayTotals(h.database.db, '2031-04-01')).toEqual({
      feesCents: 0,
      rewardsCents: 0,
      earningsCents: 0,
      payoutsCents: 0,
      serviceChargesCents: 0,
      serviceCreditsCents: 0,
      entries: 0,
    });
    const worker = await h.user('worker');
    await write('2031-04-02', { userId: worker.id, kind: 'assign_fee', amountCents: -1000 });
    await write('2031-04-02', { userId: worker.id, kind: 'reward', amountCents: 4000 });
    expect(await dayTotals(h.database.db, '2031-04-02')).toMatchObject({ feesCents: 1000, rewardsCents: 4000, earningsCents: -3000 });
  });

  it('counts the workers whose balance is below zero now, and nobody else', async () => {
    const before = await workersInNegative(h.database.db);
    const [owes, even, ahead, manager, deactivated] = await Promise.all([
      h.user('worker'),
      h.user('worker'),
      h.user('worker'),
      h.user('manager'),
      h.user('worker'),
    ]);
    const day = '2031-05-01';
    await write(day, { userId: owes.id, kind: 'assign_fee', amountCents: -1200 });
    await write(day, { userId: even.id, kind: 'assign_fee', amountCents: -1200 });
    await write(day, { userId: even.id, kind: 'reward', amountCents: 1200 });
    await write(day, { userId: ahead.id, kind: 'reward', amountCents: 2000 });
    await write(day, { userId: manager.id, kind: 'assign_fee', amountCents: -1000 });
    await write(day, { userId: deactivated.id, kind: 'assign_fee', amountCents: -1000 });
    // An account without a user (billing takes ids on trust) is no worker.
    await write(day, { userId: randomUUID(), kind: 'assign_fee', amountCents: -1000 });
    await h.database.sql`update users set status = 'deactivated' where id = ${deactivated.id}`;
    expect(await workersInNegative(h.database.db)).toBe(before + 2);

    await write(day, { userId: owes.id, kind: 'reward', amountCents: 1300 });
    expect(await workersInNegative(h.database.db)).toBe(before + 1);
  });
});
