// Billing days for accountants (and admins, as GET /billing/days allows): each day's totals and status, a close
// button on an open day that has begun, and a day's page that follows its close live until it reads closed.
import type { Hono } from 'hono';
import { billingToday, daysStatistics, type DayStatistics } from '../../db/billing-stats.js';
import { currentBillingDay } from '../../lib/billing/ledger.js';
import { BillingDate, shiftDate } from '../billing.js';
import { billingDay, closeBillingDay, ensureDayExists } from '../billing-days.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { formatCents, formatInstant } from './format.js';
import { CsrfField, Layout } from './layout.js';
import { Money } from './money.js';
import { requireRole } from '../security.js';
import { checkCsrf, signedIn, type DashboardEnv } from './session.js';

const dayPath = (date: string) => `/dashboard/billing-days/${date}`;

function dateParam(value: string | undefined): string {
  const date = BillingDate.safeParse(value);
  if (!date.success) throw problems.badRequest(`${JSON.stringify(value)} is not a billing day (YYYY-MM-DD)`);
  return date.data;
}

const Status = ({ status }: { status: string }) => (
  <span class="status" data-status={status}>
    {status}
  </span>
);

function CloseButton(props: { date: string; csrfToken: string }) {
  return (
    <form method="post" action={`${dayPath(props.date)}/close`} class="inline">
      <CsrfField token={props.csrfToken} />
      <button type="submit" data-close={props.date}>
        Close
      </button>
    </form>
  );
}

type DayJson = Awaited<ReturnType<typeof billingDay>>;

/** The figures of one day, every one with its field of GET /billing/days in `data-figure`. */
function DayFigures({ day }: { day: DayJson | DayStatistics }) {
  const figures: [string, keyof DayStatistics & `${string}Cents`][] = [
    ['Fees', 'feesCents'],
    ['Rewards', 'rewardsCents'],
    ['Earnings', 'earningsCents'],
    ['Payouts', 'payoutsCents'],
    ['Service charges', 'serviceChargesCents'],
    ['Service credits', 'serviceCreditsCents'],
  ];
  return (
    <dl class="figures">
      {figures.map(([title, name]) => (
        <div>
          <dt>{title}</dt>
          <dd>
            <Money cents={day[name]} figure={name} signed={name === 'earningsCents'} />
          </dd>
        </div>
      ))}
      <div>
        <dt>Entries</dt>
        <dd data-figure="entries">{day.entries}</dd>
      </div>
      <div>
        <dt>Workers in the negative</dt>
        <dd data-figure="workersInNegative">{day.workersInNegative ?? '–'}</dd>
      </div>
    </dl>
  );
}

export function billingDayRoutes(app: Hono<DashboardEnv>, deps: ApiDeps) {
  const { db } = deps.database;
  const guard = [signedIn(deps), requireRole<DashboardEnv>('accountant', 'admin')] as const;

  app.get('/dashboard/billing-days', ...guard, async (c) => {
    const today = await billingToday(db, deps.config.billing.timeZone);
    const from = shiftDate(today, -29);
    const [days, current] = await Promise.all([daysStatistics(db, from, today), currentBillingDay(db, deps.config.billing.timeZone)]);
    const csrfToken = c.get('csrfToken');
    return c.html(
      <Layout title="Billing days" user={c.get('user')} csrfToken={csrfToken} current="/dashboard/billing-days">
        <section class="card" data-section="billing-days" data-from={from} data-to={today}>
          <h2>
            The last 30 days <span class="muted">{`${from} – ${today}`}</span>
          </h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Day</th>
                  <th>Status</th>
                  <th class="num">Fees</th>
                  <th class="num">Rewards</th>
                  <th class="num">Earnings</th>
                  <th class="num">Payouts</th>
                  <th class="num hide-narrow">Entries</th>
                  <th class="num hide-narrow">In the negative</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {[...days].reverse().map((day) => (
                  <tr data-day={day.date}>
                    <td class="nowrap">
                      <a href={dayPath(day.date)}>{day.date}</a>
                    </td>
                    <td>
                      <Status status={day.status} />
                    </td>
                    <td class="num">
                      <Money cents={day.feesCents} figure="feesCents" />
                    </td>
                    <td class="num">
                      <Money cents={day.rewardsCents} figure="rewardsCents" />
                    </td>
                    <td class="num">
                      <Money cents={day.earningsCents} figure="earningsCents" signed />
                    </td>
                    <td class="num">
                      <Money cents={day.payoutsCents} figure="payoutsCents" />
                    </td>
                    <td class="num hide-narrow" data-figure="entries">
                      {day.entries}
                    </td>
                    <td class="num hide-narrow" data-figure="workersInNegative">
                      {day.workersInNegative ?? '–'}
                    </td>
                    <td>{day.status === 'open' && day.date <= current && <CloseButton date={day.date} csrfToken={csrfToken} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {days.length === 0 && <p class="muted">No billing day in this range yet.</p>}
        </section>
      </Layout>,
    );
  });

  app.get('/dashboard/billing-days/:date', ...guard, async (c) => {
    const date = dateParam(c.req.param('date'));
    await ensureDayExists(deps, date);
    const [day, current] = await Promise.all([billingDay(deps, date), currentBillingDay(db, deps.config.billing.timeZone)]);
    const csrfToken = c.get('csrfToken');
    // Right after the close button the day may read open for a moment: the close was asked for, it has not begun.
    const following = day.status === 'closing' || (day.status === 'open' && c.req.query('close') === 'requested');
    return c.html(
      <Layout title={`Billing day ${date}`} user={c.get('user')} csrfToken={csrfToken} current="/dashboard/billing-days">
        <section class="card" data-section="billing-day" data-day={date} {...(following ? { 'data-progress-url': `${dayPath(date)}/progress` } : {})}>
          <h2>
            Status <span data-live-status data-status={day.status} class="status">{day.status}</span>
          </h2>
          <p data-live-progress class="muted" aria-live="polite">
            {day.progress
              ? `${day.progress.accountsDone} of ${day.progress.accountsTotal} accounts, ${day.progress.payouts} payouts, ${formatCents(day.progress.paidOutCents)} paid out`
              : following
                ? 'The close is starting…'
                : day.closedAt
                  ? `Closed at ${formatInstant(day.closedAt)}.`
                  : ''}
          </p>
          <DayFigures day={day} />
          {day.status === 'open' && !following && date <= current && (
            <p>
              <CloseButton date={date} csrfToken={csrfToken} />
            </p>
          )}
          <p>
            <a href="/dashboard/billing-days">All billing days</a>
          </p>
        </section>
      </Layout>,
    );
  });

  /** What the day's page polls while the close runs: the day as GET /billing/days/{date} answers it. */
  app.get('/dashboard/billing-days/:date/progress', ...guard, async (c) => {
    const date = dateParam(c.req.param('date'));
    await ensureDayExists(deps, date);
    return c.json(await billingDay(deps, date));
  });

  app.post('/dashboard/billing-days/:date/close', ...guard, checkCsrf, async (c) => {
    const date = dateParam(c.req.param('date'));
    await closeBillingDay(deps, date);
    return c.redirect(`${dayPath(date)}?close=requested`, 303);
  });
}
