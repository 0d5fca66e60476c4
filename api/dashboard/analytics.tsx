// Analytics for admins (the role GET /analytics/* answers): management earnings of the last 30 days, the workers in
// the negative and the top task of today's day, week and month, read with the queries those endpoints use.
import type { Hono } from 'hono';
import { billingToday, daysStatistics, topTask, workersInNegativeList, type TopTask } from '../../db/billing-stats.js';
import { periodDays, periods, type Period } from '../analytics.js';
import { shiftDate } from '../billing.js';
import type { ApiDeps } from '../deps.js';
import { formatInstant } from './format.js';
import { ChartData, Layout } from './layout.js';
import { Money } from './money.js';
import { requireRole } from '../security.js';
import { signedIn, type DashboardEnv } from './session.js';

const periodTitles: Record<Period, string> = { day: 'Today', week: 'This week', month: 'This month' };

function TopTaskCard(props: { period: Period; from: string; to: string; task: TopTask | undefined }) {
  const { period, from, to, task } = props;
  return (
    <div class="card" data-top-task={period} data-from={from} data-to={to} data-task-id={task?.id ?? ''}>
      <h2>
        Top task · {periodTitles[period]} <span class="muted">{from === to ? from : `${from} – ${to}`}</span>
      </h2>
      {task ? (
        <>
          <p>
            <strong>{task.title}</strong>
          </p>
          <p>
            Reward <Money cents={task.rewardCents} figure="rewardCents" />
            {task.assignFeeCents !== null && (
              <>
                {' '}
                · fee <Money cents={task.assignFeeCents} figure="assignFeeCents" />
              </>
            )}
          </p>
          <p class="muted">
            {task.assignee.name ?? task.assignee.id} · {formatInstant(task.completedAt)}
          </p>
        </>
      ) : (
        <p class="muted">No task completed.</p>
      )}
    </div>
  );
}

export function analyticsRoutes(app: Hono<DashboardEnv>, deps: ApiDeps) {
  const { db } = deps.database;

  app.get('/dashboard/analytics', signedIn(deps), requireRole<DashboardEnv>('admin'), async (c) => {
    const today = await billingToday(db, deps.config.billing.timeZone);
    // The range GET /billing/days answers by default: today and the 29 days before.
    const from = shiftDate(today, -29);
    const [days, negative, ...tops] = await Promise.all([
      daysStatistics(db, from, today),
      workersInNegativeList(db),
      ...periods.map(async (period) => {
        const range = periodDays(period, today);
        return { period, ...range, task: await topTask(db, range.from, range.to) };
      }),
    ]);
    const todays = days.find((day) => day.date === today);
    return c.html(
      <Layout title="Analytics" user={c.get('user')} csrfToken={c.get('csrfToken')} current="/dashboard/analytics">
        <div class="grid">
          <section class="card wide" data-section="earnings" data-from={from} data-to={today}>
            <h2>
              Management earnings per day <span class="muted">{`${from} – ${today}`}</span>
            </h2>
            <dl class="figures">
              <div>
                <dt>Today</dt>
                <dd>
                  <Money cents={todays?.earningsCents ?? 0} figure="todayEarningsCents" signed />
                </dd>
              </div>
              <div>
                <dt>Fees today</dt>
                <dd>
                  <Money cents={todays?.feesCents ?? 0} figure="todayFeesCents" />
                </dd>
              </div>
              <div>
                <dt>Rewards today</dt>
                <dd>
                  <Money cents={todays?.rewardsCents ?? 0} figure="todayRewardsCents" />
                </dd>
              </div>
            </dl>
            <ChartData id="earnings-data" data={{ label: 'Earnings', dates: days.map((day) => day.date), values: days.map((day) => day.earningsCents) }} />
            <div class="chart" data-chart="earnings-data" role="img" aria-label="Management earnings per day"></div>
            <details>
              <summary>Per day</summary>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Day</th>
                      <th class="num">Fees</th>
                      <th class="num">Rewards</th>
                      <th class="num">Earnings</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...days].reverse().map((day) => (
                      <tr data-day={day.date}>
                        <td>{day.date}</td>
                        <td class="num">
                          <Money cents={day.feesCents} figure="feesCents" />
                        </td>
                        <td class="num">
                          <Money cents={day.rewardsCents} figure="rewardsCents" />
                        </td>
                        <td class="num">
                          <Money cents={day.earningsCents} figure="earningsCents" signed />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          </section>
          <section class="card" data-section="workers-in-negative" data-count={String(negative.length)}>
            <h2>
              Workers in the negative <span class="muted">now: {negative.length}</span>
            </h2>
            {negative.length === 0 ? (
              <p class="muted">Nobody owes the platform.</p>
            ) : (
              <ul class="plain">
                {negative.map((worker) => (
                  <li data-user-id={worker.userId}>
                    <span>{worker.name}</span>
                    <Money cents={worker.balanceCents} figure="balanceCents" signed />
                  </li>
                ))}
              </ul>
            )}
          </section>
          {tops.map((top) => (
            <TopTaskCard {...top} />
          ))}
        </div>
      </Layout>,
    );
  });
}
