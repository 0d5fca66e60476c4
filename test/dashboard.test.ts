// The dashboard over HTTP on the real stack: the login form and its cookie, the pages each role may see, CSRF,
// logout, a deactivated user's cookie, and every number on the pages against the API's answer for the same query.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingToday } from '../db/billing-stats.js';
import { seedBillingMonth } from '../scripts/billing-month.js';
import { DashboardClient, elementsBy, figures } from './support/dashboard-browser.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

describe('the dashboard', () => {
  let h: Harness;
  let admin: TestUser;
  let accountant: TestUser;
  let worker: TestUser;
  let workers: TestUser[];
  let today: string;
  const signedIn = async (user: TestUser) => {
    const client = new DashboardClient(h.apiUrl);
    const answer = await client.logIn(user.email, user.password);
    expect(answer.status).toBe(303);
    return client;
  };

  beforeAll(async () => {
    h = await startHarness({ workerContexts: ['billing'] });
    [admin, accountant, ...workers] = await Promise.all([
      h.user('admin', 'Ada Admin'),
      h.user('accountant', 'Acton Accountant'),
      h.user('worker', 'Kesha'),
      h.user('worker', 'Gosha'),
      h.user('worker', 'Rio'),
    ]);
    worker = workers[0]!;
    today = await billingToday(h.database.db, h.config.billing.timeZone);
    await seedBillingMonth(h.database.db, { today, workerIds: workers.map((w) => w.id), creatorId: admin.id });
  });
  afterAll(() => h?.stop());

  it('signs in through the form: the session cookie is HttpOnly and SameSite=Lax, and /dashboard leads to the role’s page', async () => {
    const client = new DashboardClient(h.apiUrl);
    const form = await client.get('/dashboard/login');
    expect(form.status).toBe(200);
    expect(form.html).toContain('name="password"');
    // The provider's link shows only once an OpenID client is configured.
    expect(form.html).not.toContain('/auth/oidc/login');
    const csrfCookie = client.lastSetCookies.get('ates_csrf')!;
    expect(csrfCookie).toMatch(/HttpOnly/);
    expect(csrfCookie).toMatch(/SameSite=Strict/);

    const login = await client.post('/dashboard/login', { csrf: DashboardClient.csrfToken(form.html), email: worker.email, password: worker.password });
    expect(login.status).toBe(303);
    expect(login.location).toBe('/dashboard');
    const session = client.lastSetCookies.get('ates_session')!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).toMatch(/Path=\//);
    // The cookie holds a token the API itself accepts.
    expect((await h.request('GET', '/me', { token: client.cookies.get('ates_session') })).body.id).toBe(worker.id);

    expect((await client.get('/dashboard')).location).toBe('/dashboard/account');
    expect((await (await signedIn(admin)).get('/dashboard')).location).toBe('/dashboard/analytics');
    expect((await (await signedIn(accountant)).get('/dashboard')).location).toBe('/dashboard/billing-days');
  });

  it('a wrong password shows the form again with a 401, and the failures are throttled like POST /auth/login', async () => {
    const target = await h.user('worker');
    const client = new DashboardClient(h.apiUrl);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) statuses.push((await client.logIn(target.email, 'not the password')).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(client.cookies.has('ates_session')).toBe(false);
    // The API counts the same failures: the e-mail is blocked there too.
    expect((await h.request('POST', '/auth/login', { body: { email: target.email, password: target.password } })).status).toBe(429);
  });

  it('without a session every page leads to the login page; unknown pages and bad dates are readable 4xx pages', async () => {
    const client = new DashboardClient(h.apiUrl);
    for (const path of ['/dashboard', '/dashboard/analytics', '/dashboard/billing-days', '/dashboard/account']) {
      const answer = await client.get(path);
      expect([path, answer.status, answer.location]).toEqual([path, 303, '/dashboard/login']);
    }
    const forged = new DashboardClient(h.apiUrl);
    forged.cookies.set('ates_session', 'not.a.token');
    expect((await forged.get('/dashboard/account')).location).toBe('/dashboard/login');

    const accountantClient = await signedIn(accountant);
    const badDate = await accountantClient.get('/dashboard/billing-days/2026-02-30');
    expect(badDate.status).toBe(400);
    expect(badDate.headers.get('content-type')).toMatch(/text\/html/);
    expect((await accountantClient.get('/dashboard/no-such-page')).status).toBe(404);
    // As GET /billing/days/{date}: a day before the first billing day never existed.
    expect((await accountantClient.get('/dashboard/billing-days/2001-01-01')).status).toBe(404);
    expect((await accountantClient.get('/dashboard/account?after=garbage')).status).toBe(422);
  });

  it('shows each role its sections, and refuses a worker the admin’s and the accountant’s pages with a 403 page', async () => {
    const adminPage = await (await signedIn(admin)).get('/dashboard/analytics');
    expect(adminPage.status).toBe(200);
    for (const section of ['earnings', 'workers-in-negative']) expect(adminPage.html).toContain(`data-section="${section}"`);
    for (const period of ['day', 'week', 'month']) expect(adminPage.html).toContain(`data-top-task="${period}"`);

    const accountantClient = await signedIn(accountant);
    const days = await accountantClient.get('/dashboard/billing-days');
    expect(days.status).toBe(200);
    expect(days.html).toContain('data-section="billing-days"');
    expect(days.html).toContain(`data-close="${today}"`);
    expect((await accountantClient.get('/dashboard/analytics')).status).toBe(403);

    const workerClient = await signedIn(worker);
    const account = await workerClient.get('/dashboard/account');
    expect(account.html).toContain('data-section="balance"');
    expect(account.html).toContain('data-section="ledger"');
    expect(account.html).not.toContain('href="/dashboard/analytics"');
    for (const path of ['/dashboard/analytics', '/dashboard/billing-days', `/dashboard/billing-days/${today}`]) {
      const refused = await workerClient.get(path);
      expect([path, refused.status]).toEqual([path, 403]);
      expect(refused.html).toContain('you are worker');
    }
    const close = await workerClient.post(`/dashboard/billing-days/${today}/close`, { csrf: DashboardClient.csrfToken(account.html) });
    expect(close.status).toBe(403);
  });

  it('every page has the policy: this origin only, no inline script; the assets are cached for a year', async () => {
    const page = await (await signedIn(admin)).get('/dashboard/analytics');
    const policy = page.headers.get('content-security-policy')!;
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1"/>');
    // The only script elements: files of this origin, and chart data the browser never runs.
    const scripts = [...page.html.matchAll(/<script\b([^>]*)>/g)].map(([, attributes]) => attributes!.trim());
    expect(scripts.every((attributes) => /^src="\/dashboard\/assets\//.test(attributes) || attributes.startsWith('type="application/json"'))).toBe(true);
    for (const [, src] of page.html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)) {
      const asset = await fetch(`${h.apiUrl}${src!.replace(/&amp;/g, '&')}`);
      expect([src, asset.status, asset.headers.get('cache-control')]).toEqual([src, 200, 'public, max-age=31536000, immutable']);
    }
  });

  it('a POST without the CSRF token, or from another site, is refused with 403 and closes nothing', async () => {
    const client = await signedIn(accountant);
    const page = await client.get('/dashboard/billing-days');
    const token = DashboardClient.csrfToken(page.html);
    const closeToday = `/dashboard/billing-days/${today}/close`;
    const attempts = [
      await client.post(closeToday, {}),
      await client.post(closeToday, { csrf: '0'.repeat(64) }),
      await client.post(closeToday, { csrf: token }, { Origin: 'https://evil.example' }),
    ];
    for (const refused of attempts) {
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/text\/html/);
    }
    expect((await h.request('GET', `/billing/days/${today}`, { token: accountant.token })).body.status).toBe('open');
    // Logging out needs the token too.
    expect((await client.post('/dashboard/logout', {})).status).toBe(403);
    expect((await client.get('/dashboard/billing-days')).status).toBe(200);
  });

  it('logout clears the session cookie', async () => {
    const client = await signedIn(worker);
    const page = await client.get('/dashboard/account');
    const logout = await client.post('/dashboard/logout', { csrf: DashboardClient.csrfToken(page.html) });
    expect(logout.status).toBe(303);
    expect(logout.location).toBe('/dashboard/login');
    expect(client.lastSetCookies.get('ates_session')).toMatch(/^ates_session=;.*Max-Age=0/);
    expect(client.cookies.has('ates_session')).toBe(false);
    expect((await client.get('/dashboard/account')).location).toBe('/dashboard/login');
  });

  it('a deactivated user’s cookie is refused at the next page', async () => {
    const leaving = await h.user('worker');
    const client = await signedIn(leaving);
    expect((await client.get('/dashboard/account')).status).toBe(200);
    expect((await h.request('PATCH', `/users/${leaving.id}`, { token: admin.token, body: { status: 'deactivated' } })).status).toBe(200);
    const refused = await client.get('/dashboard/account');
    expect(refused.status).toBe(303);
    expect(refused.location).toBe('/dashboard/login');
    expect(client.cookies.has('ates_session')).toBe(false);
  });

  describe('every number equals the API’s answer for the seeded month', () => {
    it('the admin’s analytics', async () => {
      const html = (await (await signedIn(admin)).get('/dashboard/analytics')).html;
      const days = (await h.request('GET', '/billing/days', { token: admin.token })).body;
      const earnings = elementsBy(html, 'section', 'data-section').get('earnings')!;
      const rows = elementsBy(earnings, 'tr', 'data-day');
      expect([...rows.keys()].sort()).toEqual(days.items.map((day: any) => day.date));
      expect(rows.size).toBe(30);
      for (const day of days.items) {
        expect([day.date, figures(rows.get(day.date)!)]).toEqual([
          day.date,
          { feesCents: day.feesCents, rewardsCents: day.rewardsCents, earningsCents: day.earningsCents },
        ]);
      }
      const chart = JSON.parse(/<script type="application\/json" id="earnings-data">([^<]*)<\/script>/.exec(html)![1]!);
      expect(chart.dates).toEqual(days.items.map((day: any) => day.date));
      expect(chart.values).toEqual(days.items.map((day: any) => day.earningsCents));

      const summary = (await h.request('GET', '/analytics/summary', { token: admin.token })).body;
      const todays = figures(earnings.slice(0, earnings.indexOf('<table')));
      expect(todays).toEqual({ todayEarningsCents: summary.earningsCents, todayFeesCents: summary.feesCents, todayRewardsCents: summary.rewardsCents });

      const accounts: any[] = [];
      for (let after: string | null = ''; after !== null; ) {
        const page: any = (await h.request('GET', `/billing/accounts?limit=200${after ? `&after=${after}` : ''}`, { token: admin.token })).body;
        accounts.push(...page.items);
        after = page.nextCursor;
      }
      const inNegative = accounts.filter((account) => account.role === 'worker' && account.balanceCents < 0);
      expect(inNegative.length).toBeGreaterThan(0);
      expect(inNegative.length).toBe(summary.workersInNegative);
      const negativeSection = elementsBy(html, 'section', 'data-section').get('workers-in-negative')!;
      expect(html).toContain(`data-section="workers-in-negative" data-count="${summary.workersInNegative}"`);
      const listed = elementsBy(negativeSection, 'li', 'data-user-id');
      expect(new Map([...listed].map(([id, inner]) => [id, figures(inner).balanceCents]))).toEqual(
        new Map(inNegative.map((account) => [account.userId, account.balanceCents])),
      );

      const cards = elementsBy(html, 'div', 'data-top-task');
      for (const period of ['day', 'week', 'month']) {
        const top = (await h.request('GET', `/analytics/top-task?period=${period}`, { token: admin.token })).body;
        expect(top.task).not.toBeNull();
        expect(html).toContain(`data-top-task="${period}" data-from="${top.from}" data-to="${top.to}" data-task-id="${top.task.id}"`);
        expect(figures(cards.get(period)!)).toEqual({ rewardCents: top.task.rewardCents, assignFeeCents: top.task.assignFeeCents });
        expect(cards.get(period)).toContain(top.task.title);
      }
    });

    it('the accountant’s billing days', async () => {
      const client = await signedIn(accountant);
      const html = (await client.get('/dashboard/billing-days')).html;
      const days = (await h.request('GET', '/billing/days', { token: accountant.token })).body.items;
      const rows = elementsBy(html, 'tr', 'data-day');
      expect(rows.size).toBe(days.length);
      for (const day of days) {
        const row = rows.get(day.date)!;
        expect([day.date, figures(row)]).toEqual([
          day.date,
          {
            feesCents: day.feesCents,
            rewardsCents: day.rewardsCents,
            earningsCents: day.earningsCents,
            payoutsCents: day.payoutsCents,
            entries: day.entries,
            workersInNegative: day.workersInNegative ?? '–',
          },
        ]);
        expect(row).toContain(`data-status="${day.status}"`);
        // Only the open day that has begun has a close button.
        expect(row.includes('data-close=')).toBe(day.status === 'open');
      }
      const closedDay = days.find((day: any) => day.status === 'closed');
      const dayPage = (await client.get(`/dashboard/billing-days/${closedDay.date}`)).html;
      const api = (await h.request('GET', `/billing/days/${closedDay.date}`, { token: accountant.token })).body;
      expect(figures(dayPage)).toEqual({
        feesCents: api.feesCents,
        rewardsCents: api.rewardsCents,
        earningsCents: api.earningsCents,
        payoutsCents: api.payoutsCents,
        serviceChargesCents: api.serviceChargesCents,
        serviceCreditsCents: api.serviceCreditsCents,
        entries: api.entries,
        workersInNegative: api.workersInNegative,
      });
    });

    it('each worker’s balance, its course and the ledger page by page', async () => {
      for (const each of workers) {
        const client = await signedIn(each);
        const me = (await h.request('GET', '/billing/me', { token: each.token })).body;
        const page = (await client.get('/dashboard/account')).html;
        const balance = elementsBy(page, 'section', 'data-section').get('balance')!;
        expect(figures(balance)).toEqual({ balanceCents: me.balanceCents, todayEarningsCents: me.todayEarningsCents });

        // The ledger, all pages, against the API's pages.
        const apiEntries: any[] = [];
        const pageEntries: [string, unknown][] = [];
        let path: string | undefined = '/dashboard/account';
        for (let after: string | null = ''; after !== null; ) {
          // The dashboard's pages hold 20 entries.
          const apiPage: any = (await h.request('GET', `/billing/me?limit=20${after ? `&after=${encodeURIComponent(after)}` : ''}`, { token: each.token })).body;
          apiEntries.push(...apiPage.entries.items);
          after = apiPage.entries.nextCursor;
          const html: string = (await client.get(path!)).html;
          pageEntries.push(...[...elementsBy(html, 'tr', 'data-entry-id')].map(([id, inner]): [string, unknown] => [id, figures(inner).amountCents]));
          path = /<a href="([^"]+)" rel="next">/.exec(html)?.[1]?.replace(/&amp;/g, '&');
          expect(Boolean(path)).toBe(after !== null);
        }
        expect(apiEntries.length).toBeGreaterThan(40);
        expect(pageEntries).toEqual(apiEntries.map((entry) => [String(entry.id), entry.amountCents]));

        // The balance at the end of each day of the chart: the API's entries summed up to that day.
        const chart = JSON.parse(/<script type="application\/json" id="balance-data">([^<]*)<\/script>/.exec(page)![1]!);
        const expected = [...new Set(apiEntries.map((entry) => entry.billingDate))]
          .sort()
          .filter((date) => date >= chart.dates[0])
          .map((date) => apiEntries.filter((entry) => entry.billingDate <= date).reduce((sum, entry) => sum + entry.amountCents, 0));
        expect(chart.values).toEqual(expected);
        expect(chart.values.at(-1)).toBe(me.balanceCents);
      }
    });
  });
});
