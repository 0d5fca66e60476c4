// Case 3: closing a billing day of many accounts (POST /billing/days/:date/close, then GET /billing/days/:date
// until closed), against the minimal raw SQL that makes the same payouts on a copy of the same database.
import type postgres from 'postgres';
import { openDatabase } from '../../db/client.js';
import { figure, proportionalPolling, since, waitFor, type BenchCase } from '../measure.js';
import { startProductStack } from '../stack.js';

interface Expected {
  payouts: number;
  paidOutCents: number;
}

/**
 * Accounts of `size` workers, each with an assignment fee and, for about 60 %, a reward on `date`: balances
 * are mixed (positive, negative, a few zero) and each is the sum of its entries. Set-based, in one transaction.
 */
async function seedAccounts(sql: postgres.Sql, size: number, date: string): Promise<Expected> {
  await sql.begin(async (tx) => {
    await tx`
      create temporary table seed on commit drop as
      select n, gen_random_uuid() as user_id,
        100 * (10 + floor(random() * 11))::int as fee,
        case when random() < 0.6 then 100 * (20 + floor(random() * 21))::int else 0 end as reward
      from generate_series(1, ${size}::int) as n`;
    await tx`
      insert into users (id, name, email, role, password_hash)
      select user_id, 'Seeded worker ' || n, 'seed-' || n || '@bench.local', 'worker', 'seeded: cannot log in' from seed`;
    await tx`insert into billing_days (date) values (${date}::date) on conflict do nothing`;
    await tx`insert into accounts (user_id, balance_cents) select user_id, reward - fee from seed`;
    await tx`
      insert into ledger_entries (key, user_id, kind, amount_cents, description, billing_date)
      select 'seed:fee:' || n, user_id, 'assign_fee'::ledger_entry_kind, -fee, 'Seeded fee', ${date}::date from seed
      union all
      select 'seed:reward:' || n, user_id, 'reward'::ledger_entry_kind, reward, 'Seeded reward', ${date}::date from seed where reward > 0`;
  });
  await sql`vacuum analyze`;
  const [check] = await sql<{ mismatched: number }[]>`
    select count(*)::int as mismatched from accounts a
    where a.balance_cents <> (select coalesce(sum(e.amount_cents), 0) from ledger_entries e where e.user_id = a.user_id)`;
  if (check!.mismatched !== 0) throw new Error(`${check!.mismatched} seeded balances differ from the sum of their entries`);
  const [due] = await sql<{ payouts: number; cents: string | null }[]>`
    select count(*)::int as payouts, sum(balance_cents)::text as cents from accounts where balance_cents > 0`;
  return { payouts: due!.payouts, paidOutCents: Number(due!.cents ?? 0) };
}

/** The minimal close: mark the day, one payout entry per positive balance, balances to zero, done. */
async function rawClose(sql: postgres.Sql, date: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`update billing_days set status = 'closing', cutoff_at = clock_timestamp() where date = ${date}::date`;
    await tx`
      with paid as (
        insert into ledger_entries (key, user_id, kind, amount_cents, description, billing_date)
        select 'payout:' || ${date}::text || ':' || user_id, user_id, 'payout', -balance_cents, 'Payout for ' || ${date}::text, ${date}::date
        from accounts where balance_cents > 0
        returning user_id, amount_cents
      )
      update accounts a set balance_cents = a.balance_cents + paid.amount_cents, updated_at = now()
      from paid where a.user_id = paid.user_id`;
    await tx`update billing_days set status = 'closed', closed_at = clock_timestamp() where date = ${date}::date`;
  });
}

/** Throws unless the day holds exactly the expected payouts and no balance is left positive. */
async function checkPayouts(sql: postgres.Sql, date: string, expected: Expected, who: string): Promise<void> {
  const [made] = await sql<{ payouts: number; cents: string | null; positive: number }[]>`
    select count(*)::int as payouts, (-sum(amount_cents))::text as cents,
      (select count(*)::int from accounts where balance_cents > 0) as positive
    from ledger_entries where kind = 'payout' and billing_date = ${date}::date`;
  const actual = { payouts: made!.payouts, paidOutCents: Number(made!.cents ?? 0) };
  if (actual.payouts !== expected.payouts || actual.paidOutCents !== expected.paidOutCents || made!.positive !== 0) {
    throw new Error(`${who} paid ${JSON.stringify(actual)} leaving ${made!.positive} positive balances; expected ${JSON.stringify(expected)}`);
  }
}

/** A close whose progress has not moved for this long is stuck (a batch takes seconds). */
const stallMs = 120_000;

export const dayCloseCase: BenchCase = {
  name: 'day close',
  async run({ env, quick, log }, result) {
    const sizes = quick ? [1000, 2000, 4000] : [10_000, 100_000, 1_000_000];
    result.sizes.accounts = sizes.map((size) => size.toLocaleString('en-US')).join(' / ');
    const times: { size: number; productMs: number; rawMs: number }[] = [];

    for (const size of sizes) {
      const databaseUrl = await env.createDatabase();
      try {
        const seeding = openDatabase(databaseUrl, { max: 1 });
        let date: string;
        let expected: Expected;
        try {
          // The day entries go to now: the one the close may close (BILLING_TIMEZONE is UTC by default).
          const [today] = await seeding.sql<{ date: string }[]>`select (now() at time zone 'UTC')::date::text as date`;
          date = today!.date;
          log.info(`day close: seeding ${size} accounts on ${date}`);
          const seedStart = performance.now();
          expected = await seedAccounts(seeding.sql, size, date);
          result.notes.push(
            `${size.toLocaleString('en-US')} accounts: ${expected.payouts.toLocaleString('en-US')} positive balances to pay out, ` +
              `seeded in ${(since(seedStart) / 1000).toFixed(1)} s`,
          );
        } finally {
          await seeding.close();
        }

        const copyUrl = await env.cloneDatabase(databaseUrl);
        const raw = openDatabase(copyUrl, { max: 1 });
        let rawMs: number;
        try {
          log.info('day close: raw SQL on a copy');
          const rawStart = performance.now();
          await rawClose(raw.sql, date);
          rawMs = since(rawStart);
          await checkPayouts(raw.sql, date, expected, 'the raw SQL');
        } finally {
          await raw.close();
          await env.dropDatabase(copyUrl);
        }

        const stack = await startProductStack(env, { workers: true, databaseUrl });
        let productMs: number;
        try {
          const accountant = await stack.user('accountant');
          log.info(`day close: POST /billing/days/${date}/close`);
          const statuses = new Set<string>();
          let lastProgress = { at: performance.now(), reading: '' };
          const start = performance.now();
          await stack.call('POST', `/billing/days/${date}/close`, 202, { token: accountant.token });
          await waitFor(`billing day ${date} to close`, 30 * 60_000, async () => {
            const day = await stack.call('GET', `/billing/days/${date}`, 200, { token: accountant.token });
            statuses.add(day.status);
            if (day.status === 'closed') return day;
            // A close that stops moving fails the case (with the worker's warnings above) rather than the run's patience.
            const reading = JSON.stringify({ status: day.status, progress: day.progress });
            if (reading !== lastProgress.reading) lastProgress = { at: performance.now(), reading };
            else if (since(lastProgress.at) > stallMs) {
              const at = day.progress ? `${day.progress.accountsDone} of ${day.progress.accountsTotal} accounts done` : `status ${day.status}`;
              throw new Error(`the close of ${size} accounts made no progress for ${stallMs / 1000} s (${at}); see the worker's warnings above`);
            }
            return undefined;
          }, proportionalPolling);
          productMs = since(start);
          await checkPayouts(stack.database.sql, date, expected, 'the close');
          log.info(`day close: ${size} accounts in ${(productMs / 1000).toFixed(1)} s (statuses seen: ${[...statuses].join(' → ')})`);
        } finally {
          await stack.stop();
        }
        times.push({ size, productMs, rawMs });
        result.figures.push(figure(`close of ${size.toLocaleString('en-US')} accounts`, 's', productMs / 1000, rawMs / 1000, 'raw SQL', { difference: true }));
      } finally {
        await env.dropDatabase(databaseUrl);
      }
    }

    for (const [index, to] of times.entries()) {
      const from = times[index - 1];
      if (!from) continue;
      result.figures.push(
        figure(
          `growth ${from.size.toLocaleString('en-US')} → ${to.size.toLocaleString('en-US')} (${to.size / from.size}× accounts)`,
          '×',
          to.productMs / from.productMs,
          to.rawMs / from.rawMs,
          'raw SQL growth',
        ),
      );
    }
    result.notes.push(
      'aTES: from POST /billing/days/:date/close (202) until GET /billing/days/:date (polled every 2 % of the time so far, 0.1–5 s) says closed; ' +
        'the close also writes a billing.payout.made event and mails every payout (the logging mailer: no SMTP_URL), then the day\'s totals and report. ' +
        'Raw SQL: one transaction on a file copy of the same seeded database: the day closing, an INSERT … SELECT of the payouts, the balances to zero, the day closed. ' +
        'Both are checked: one payout per positive balance, the same sum, no positive balance left.',
    );
  },
};
