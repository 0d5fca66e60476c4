// `npm run docs:dashboard`: pictures of the dashboard for the README. Starts a stack of its own (embedded PostgreSQL
// and a Temporal dev server on free ports, data in a temporary directory, the API in this process), writes a
// believable month of billing (scripts/billing-month.ts), signs in through the login form as each role in a
// headless Chromium cut off from everything but loopback, and saves docs/dashboard-admin.png,
// docs/dashboard-accountant.png, docs/dashboard-worker.png and docs/dashboard-worker-phone.png (a phone's width).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import puppeteer from 'puppeteer-core';
import { billingToday } from '../db/billing-stats.js';
import { openDatabase } from '../db/client.js';
import { users, type Role } from '../db/schema/auth.js';
import { createUser } from '../lib/auth/users.js';
import { chromiumCandidates, findChromium, puppeteerLaunchOptions } from '../lib/chromium.js';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { ensureDatabase, ensureTemporal, prepareDatabase, type Resource } from '../lib/runtime.js';
import { startProcess } from '../lib/process.js';
import { freePort } from '../lib/ports.js';
import { scratchFolder } from '../lib/stack.js';
import { seedBillingMonth } from './billing-month.js';

const root = resolve(import.meta.dirname, '..');
const chromium = findChromium();
if (!chromium) {
  console.error(`no Chromium found (tried ${chromiumCandidates.join(', ')}): apt-get install chromium`);
  process.exit(1);
}

const log = createLogger('warn', 'dashboard-screenshots');
const dataDir = scratchFolder('dashboard');
const password = `screenshots-${randomBytes(8).toString('hex')}`;
const config = loadConfig({
  DATA_DIR: dataDir,
  PORT: '0',
  LOG_LEVEL: 'warn',
  EMBEDDED_POSTGRES_PORT: String(await freePort()),
  TEMPORAL_PORT: String(await freePort()),
  TEMPORAL_UI_PORT: String(await freePort()),
  ADMIN_PASSWORD: password,
  JWT_SECRET: randomBytes(32).toString('hex'),
});
const started: Resource<unknown>[] = [];
try {
  const database = await ensureDatabase(config, log);
  started.push(database);
  const { adminEmail } = await prepareDatabase(config, database.value);
  const temporal = await ensureTemporal(config, log);
  started.push(temporal);
  const services = await startProcess({
    config,
    databaseUrl: database.value,
    temporalAddress: temporal.value.address,
    jwtSecret: config.jwt.secret!,
    log,
    api: true,
    workerContexts: [],
    billingSchedule: false,
  });
  started.push({ value: services, stop: () => services.stop() });
  const db = openDatabase(database.value, { max: 2 });
  started.push({ value: db, stop: () => db.close() });

  const person = (name: string, role: Role) =>
    createUser(db.db, { name, email: `${name.toLowerCase().replace(/\W+/g, '.')}@ates.local`, role, password });
  await db.db.update(users).set({ name: 'Ada Lovebird' });
  const accountant = await person('Acton Budgie', 'accountant');
  const workers = [];
  for (const name of ['Kesha Cockatiel', 'Gosha Lorikeet', 'Rio Macaw', 'Zhako Grey']) workers.push(await person(name, 'worker'));
  const today = await billingToday(db.db, config.billing.timeZone);
  const [admin] = await db.db.select().from(users).limit(1);
  await seedBillingMonth(db.db, { today, workerIds: workers.map((worker) => worker.id), creatorId: admin!.id, seed: 7 });

  const browser = await puppeteer.launch(puppeteerLaunchOptions(chromium));
  try {
    const shoot = async (email: string, path: string, file: string, viewport: { width: number; height: number }) => {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport({ ...viewport, deviceScaleFactor: viewport.width < 600 ? 2 : 1 });
      await page.goto(`${services.apiUrl}/dashboard/login`);
      await page.type('#email', email);
      await page.type('#password', password);
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
      await page.goto(`${services.apiUrl}${path}`);
      if (await page.$('[data-chart]')) await page.waitForSelector('[data-chart] canvas');
      const out = join(root, 'docs', file);
      // A phone shows its first screen; a laptop the whole page.
      await page.screenshot({ path: out, fullPage: viewport.width >= 600 });
      await context.close();
      console.log(out);
    };
    const laptop = { width: 1280, height: 900 };
    await shoot(adminEmail, '/dashboard/analytics', 'dashboard-admin.png', laptop);
    await shoot(accountant.email, '/dashboard/billing-days', 'dashboard-accountant.png', laptop);
    await shoot(workers[2]!.email, '/dashboard/account', 'dashboard-worker.png', laptop);
    await shoot(workers[2]!.email, '/dashboard/account', 'dashboard-worker-phone.png', { width: 390, height: 844 });
  } finally {
    await browser.close();
  }
} finally {
  for (const resource of started.reverse()) await resource.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
