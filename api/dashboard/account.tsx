// A user's own account (what GET /billing/me answers them): the balance, its course over the last 30 days and the
// ledger, newest first, a page at a time.
import type { Hono } from 'hono';
import { balanceByDay } from '../../db/billing-stats.js';
import { myAccount, shiftDate } from '../billing.js';
import { PageQuery } from '../common.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { formatInstant } from './format.js';
import { ChartData, Layout } from './layout.js';
import { Money } from './money.js';
import { signedIn, type DashboardEnv } from './session.js';

/** A page of the ledger is shorter than the API's default: it has to be read, on a phone too. */
const LedgerPageQuery = PageQuery.extend({ limit: PageQuery.shape.limit.removeDefault().default(20) });

export function accountRoutes(app: Hono<DashboardEnv>, deps: ApiDeps) {
  app.get('/dashboard/account', signedIn(deps), async (c) => {
    const query = LedgerPageQuery.safeParse(c.req.query());
    if (!query.success) throw problems.badRequest('the page asked for is not one this dashboard links to');
    const user = c.get('user');
    const account = await myAccount(deps, user.id, query.data);
    const from = shiftDate(account.today, -29);
    const balances = await balanceByDay(deps.database.db, user.id, from, account.today);
    const { items, nextCursor } = account.entries;
    return c.html(
      <Layout title="My account" user={user} csrfToken={c.get('csrfToken')} current="/dashboard/account">
        <div class="grid">
          <section class="card wide" data-section="balance" data-from={from} data-to={account.today}>
            <dl class="figures">
              <div>
                <dt>Balance now</dt>
                <dd>
                  <Money cents={account.balanceCents} figure="balanceCents" signed />
                </dd>
              </div>
              <div>
                <dt>Earned today ({account.today})</dt>
                <dd>
                  <Money cents={account.todayEarningsCents} figure="todayEarningsCents" signed />
                </dd>
              </div>
            </dl>
            <h2>Balance at the end of each day</h2>
            <ChartData
              id="balance-data"
              data={{ label: 'Balance', dates: balances.map((day) => day.date), values: balances.map((day) => day.balanceCents) }}
            />
            {balances.length > 0 ? (
              <div class="chart" data-chart="balance-data" role="img" aria-label="Balance at the end of each billing day"></div>
            ) : (
              <p class="muted">No entries in the last 30 days.</p>
            )}
          </section>
          <section class="card wide" data-section="ledger">
            <h2>Ledger</h2>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Day</th>
                    <th>What</th>
                    <th class="num">Amount</th>
                    <th class="hide-narrow">When</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((entry) => (
                    <tr data-entry-id={String(entry.id)}>
                      <td class="nowrap">{entry.billingDate}</td>
                      <td data-kind={entry.kind}>{entry.description}</td>
                      <td class="num">
                        <Money cents={entry.amountCents} figure="amountCents" signed />
                      </td>
                      <td class="hide-narrow muted">{formatInstant(entry.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {items.length === 0 && <p class="muted">No entries yet.</p>}
            <div class="pager">
              {query.data.after ? <a href="/dashboard/account">Newest</a> : <span></span>}
              {nextCursor && (
                <a href={`/dashboard/account?after=${encodeURIComponent(nextCursor)}`} rel="next">
                  Older entries
                </a>
              )}
            </div>
          </section>
        </div>
      </Layout>,
    );
  });
}
