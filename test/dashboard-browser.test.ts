// The dashboard in a real browser: headless Chromium (puppeteer-core, the system's Chromium) with the network cut to
// loopback. An accountant signs in through the form, closes today's billing day with the page's button and watches
// the close's live progress until the page reads closed; the API agrees. A worker's page draws its chart under the
// page's Content-Security-Policy without a single refusal. Needs Chromium (`apt-get install chromium`).
import { randomUUID } from 'node:crypto';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingToday } from '../db/billing-stats.js';
import { appendLedgerEntry } from '../lib/billing/ledger.js';
import { billingDays } from '../db/schema/billing.js';
import { chromiumCandidates, findChromium, puppeteerLaunchOptions } from '../lib/chromium.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const chromium = findChromium();

describe('the dashboard in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let accountant: TestUser;
  let worker: TestUser;
  let today: string;

  beforeAll(async () => {
    if (!chromium) throw new Error(`no Chromium found (tried ${chromiumCandidates.join(', ')}): apt-get install chromium`);
    h = await startHarness();
    [accountant, worker] = await Promise.all([h.user('accountant', 'Acton Accountant'), h.user('worker', 'Kesha')]);
    today = await billingToday(h.database.db, h.config.billing.timeZone);
    // Today's money: a fee and a reward, so the close has a positive balance to pay out.
    for (const [kind, amountCents] of [['assign_fee', -1500], ['reward', 3500]] as const) {
      await h.database.db.transaction(async (tx) => {
        await tx.insert(billingDays).values({ date: today }).onConflictDoNothing();
        await appendLedgerEntry(tx, { key: `browser:${randomUUID()}`, userId: worker.id, kind, amountCents, description: kind }, today);
      });
    }
    browser = await puppeteer.launch(puppeteerLaunchOptions(chromium!));
  });
  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  /** A fresh browser context signed in through the form; every console error and failed request is kept. */
  async function signIn(user: TestUser): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    page.on('requestfailed', (request) => problems.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(`${h.apiUrl}/dashboard/login`);
    await page.type('#email', user.email);
    await page.type('#password', user.password);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    return { page, problems };
  }

  it('an accountant closes today from the page and sees it closed', async () => {
    const { page, problems } = await signIn(accountant);
    expect(new URL(page.url()).pathname).toBe('/dashboard/billing-days');
    const cookies = await page.browserContext().cookies();
    expect(cookies.find((cookie) => cookie.name === 'ates_session')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    await Promise.all([page.waitForNavigation(), page.click(`button[data-close="${today}"]`)]);
    expect(new URL(page.url()).pathname).toBe(`/dashboard/billing-days/${today}`);
    // The page follows the close (its script polls the day) until it reads closed.
    await page.waitForSelector('[data-live-status][data-status="closed"]', { timeout: 60_000 });
    expect(await page.$eval('[data-figure="payoutsCents"]', (element) => element.getAttribute('data-cents'))).toBe('2000');

    const day = (await h.request('GET', `/billing/days/${today}`, { token: accountant.token })).body;
    expect(day).toMatchObject({ status: 'closed', payoutsCents: 2000, feesCents: 1500, rewardsCents: 3500 });
    expect(problems).toEqual([]);
  });

  it('a worker’s page draws the balance chart from this origin alone', async () => {
    const { page, problems } = await signIn(worker);
    expect(new URL(page.url()).pathname).toBe('/dashboard/account');
    await page.waitForSelector('[data-chart="balance-data"] canvas');
    expect(await page.$$eval('[data-entry-id]', (rows) => rows.length)).toBe(3);
    expect(problems).toEqual([]);
  });
});
