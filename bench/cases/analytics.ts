// Case 4: latency of GET /analytics/summary and GET /analytics/top-task over many ledger entries and tasks,
// against the minimal raw SQL that answers the same question on the same database.
import type postgres from 'postgres';
import { figure, percentile, since, timed, type BenchCase } from '../measure.js';
import { startProductStack } from '../stack.js';

const workerCount = 1000;
const days = 30;

/**
 * Set-based, in one transaction: `tasks` tasks of `workerCount` workers over the `days` days up to `today`,
 * 80 % of them done with their reward entry, and assignment fees (every assignment and reassignment) up
 * to `entries` ledger entries in all. The days before today are closed with their totals stored, as their
 * closes would have left them; today is open. Balances are the sums of the entries.
 */
async function seed(sql: postgres.Sql, options: { today: string; entries: number; tasks: number }): Promise<void> {
  const { today, entries, tasks } = options;
  const done = Math.floor(tasks * 0.8);
  await sql.begin(async (tx) => {
    await tx`create temporary table seed_workers on commit drop as select n, gen_random_uuid() as user_id from generate_series(1, ${workerCount}::int) as n`;
    await tx`
      insert into users (id, name, email, role, password_hash)
      select user_id, 'Seeded worker ' || n, 'analytics-' || n || '@bench.local', 'worker', 'seeded: cannot log in' from seed_workers`;
    await tx`insert into accounts (user_id) select user_id from seed_workers`;
    await tx`insert into billing_days (date) select ${today}::date - k from generate_series(0, ${days - 1}::int) as k on conflict do nothing`;
    await tx`
      create temporary table seed_tasks on commit drop as
      select t.n, gen_random_uuid() as id, w.user_id as assignee, t.n <= ${done}::int as done,
        ${today}::date - (t.n % ${days}::int) as day,
        100 * (10 + floor(random() * 11))::int as fee, 100 * (20 + floor(random() * 21))::int as reward
      from generate_series(1, ${tasks}::int) as t(n) join seed_workers w on w.n = 1 + (t.n * 7919) % ${workerCount}::int`;
    await tx`
      insert into issues (id, type_key, type_version, title, state, status, context, assignee_id, creator_id, step)
      select id, 'task', 1, 'Seeded task ' || n, case when done then 'done' else 'open' end, case when done then 'done' else 'active' end,
        jsonb_build_object('title', 'Seeded task ' || n, 'assigneeId', assignee, 'assignFeeCents', fee, 'rewardCents', reward, 'assignments', 1),
        assignee, assignee, case when done then 3 else 2 end
      from seed_tasks`;
    await tx`
      insert into ledger_entries (key, user_id, kind, amount_cents, issue_id, description, billing_date, created_at)
      select 'seed:reward:' || n, assignee, 'reward'::ledger_entry_kind, reward, id, 'Seeded reward', day,
        (day + make_interval(secs => n % 86400)) at time zone 'UTC'
      from seed_tasks where done
      union all
      select 'seed:fee:' || f, t.assignee, 'assign_fee'::ledger_entry_kind, -t.fee, t.id, 'Seeded fee', ${today}::date - (f % ${days}::int),
        (${today}::date - (f % ${days}::int) + make_interval(secs => f % 86400)) at time zone 'UTC'
      from generate_series(1, ${entries - done}::int) as f join seed_tasks t on t.n = 1 + f % ${tasks}::int`;
    await tx`
      update accounts a set balance_cents = s.balance
      from (select user_id, sum(amount_cents) as balance from ledger_entries group by user_id) s where s.user_id = a.user_id`;
    await tx`
      update billing_days d set status = 'closed', cutoff_at = (d.date + 1)::timestamp at time zone 'UTC', closed_at = (d.date + 1)::timestamp at time zone 'UTC',
        fees_cents = t.fees, rewards_cents = t.rewards, earnings_cents = t.fees - t.rewards, payouts_cents = 0,
        service_charges_cents = 0, service_credits_cents = 0, entries = t.entries, workers_in_negative = 0
      from (
        select billing_date,
          coalesce(-sum(amount_cents) filter (where kind = 'assign_fee'), 0) as fees,
          coalesce(sum(amount_cents) filter (where kind = 'reward'), 0) as rewards,
          count(*) as entries
        from ledger_entries group by billing_date
      ) t
      where t.billing_date = d.date and d.date < ${today}::date`;
  });
  await sql`vacuum analyze`;
}

const shift = (date: string, byDays: number) => new Date(Date.parse(`${date}T00:00:00Z`) + byDays * 86_400_000).toISOString().slice(0, 10);

/** The days of a period as GET /analytics/top-task defines them: the day, its Monday-to-Sunday week, its calendar month. */
function periodDays(period: 'day' | 'week' | 'month', date: string): { from: string; to: string } {
  if (period === 'day') return { from: date, to: date };
  if (period === 'week') {
    const monday = shift(date, -((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7));
    return { from: monday, to: shift(monday, 6) };
  }
  const first = `${date.slice(0, 8)}01`;
  return { from: first, to: shift(`${shift(first, 32).slice(0, 8)}01`, -1) };
}

export const analyticsCase: BenchCase = {
  name: 'analytics',
  async run({ env, quick, log }, result) {
    const entries = quick ? 20_000 : 1_000_000;
    const tasks = quick ? 2_000 : 100_000;
    const requests = quick ? 20 : 200;
    const warmUp = 5;
    Object.assign(result.sizes, { ledgerEntries: entries, tasks, workers: workerCount, days, requestsPerQuery: requests });

    const stack = await startProductStack(env, { workers: false });
    try {
      const { sql } = stack.database;
      const [clock] = await sql<{ today: string }[]>`select (now() at time zone 'UTC')::date::text as today`;
      const today = clock!.today;
      log.info(`analytics: seeding ${entries} ledger entries and ${tasks} tasks over ${days} days up to ${today}`);
      const seedStart = performance.now();
      await seed(sql, { today, entries, tasks });
      result.notes.push(`seeded in ${(since(seedStart) / 1000).toFixed(1)} s; the days before today are closed (totals stored), today is open`);
      const admin = await stack.user('admin');

      const queries: { name: string; path: string; raw: () => Promise<unknown>; same: (api: any, raw: any) => boolean }[] = [
        {
          name: 'GET /analytics/summary',
          path: '/analytics/summary',
          raw: async () => {
            const [row] = await sql`
              select
                (select coalesce(-sum(amount_cents) filter (where kind = 'assign_fee'), 0) from ledger_entries where billing_date = ${today}::date)::bigint as fees,
                (select coalesce(sum(amount_cents) filter (where kind = 'reward'), 0) from ledger_entries where billing_date = ${today}::date)::bigint as rewards,
                (select count(*) from accounts where balance_cents < 0)::int as negative`;
            return row;
          },
          same: (api, raw) => api.feesCents === Number(raw.fees) && api.rewardsCents === Number(raw.rewards) && api.workersInNegative === raw.negative,
        },
        ...(['day', 'week', 'month'] as const).map((period) => {
          const { from, to } = periodDays(period, today);
          return {
            name: `GET /analytics/top-task?period=${period}`,
            path: `/analytics/top-task?period=${period}`,
            raw: async () => {
              const [row] = await sql`
                select i.id, i.title, e.amount_cents from ledger_entries e join issues i on i.id = e.issue_id
                where e.kind = 'reward' and e.billing_date between ${from}::date and ${to}::date and i.type_key = 'task' and i.status = 'done'
                order by e.amount_cents desc, e.created_at, e.id limit 1`;
              return row;
            },
            same: (api: any, raw: any) => api.task?.id === raw?.id,
          };
        }),
      ];

      for (const query of queries) {
        log.info(`analytics: ${warmUp} + ${requests} × ${query.name}, then the raw SQL`);
        const api: number[] = [];
        const raw: number[] = [];
        let answer: unknown;
        let rawAnswer: unknown;
        for (let n = 0; n < warmUp + requests; n++) {
          answer = await timed(n < warmUp ? [] : api, () => stack.call('GET', query.path, 200, { token: admin.token }));
        }
        for (let n = 0; n < warmUp + requests; n++) rawAnswer = await timed(n < warmUp ? [] : raw, query.raw);
        if (!query.same(answer, rawAnswer)) throw new Error(`${query.name} answered ${JSON.stringify(answer)}; the raw SQL says ${JSON.stringify(rawAnswer)}`);
        for (const p of [50, 99]) result.figures.push(figure(`${query.name} p${p}`, 'ms', percentile(api, p), percentile(raw, p), 'raw SQL', { difference: true }));
      }
      result.notes.push(
        'requests one at a time as the admin, after 5 warm-up calls; baseline: the minimal SQL for the same figures from the bench process ' +
          '(summary: today\'s fees and rewards and the accounts in the negative; top task: the highest reward of a done task in the period, ' +
          'one ORDER BY … LIMIT 1 over the period), its answer checked against the API\'s',
      );
    } finally {
      await stack.stop();
    }
  },
};
