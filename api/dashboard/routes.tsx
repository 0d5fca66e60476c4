// The dashboard (GET /dashboard): server-rendered pages over the same queries as the API, signed in with the same
// accounts. Plain Hono routes, not part of the OpenAPI document.
import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';
import { ProblemError, toProblem } from '../problem.js';
import { accountRoutes } from './account.js';
import { analyticsRoutes } from './analytics.js';
import { serveAsset } from './assets.js';
import { billingDayRoutes } from './billing-days.js';
import { ErrorPage, sections } from './layout.js';
import { loginRoutes } from './login.js';
import { csrfToken, signedIn, type DashboardEnv } from './session.js';

/**
 * Pages load only this origin's script, styles and data (chart data is a JSON element, never run), post forms only
 * here, and are never framed.
 */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function dashboardRoutes(deps: ApiDeps) {
  const app = new Hono<DashboardEnv>();

  app.get('/dashboard/assets/:name', serveAsset);

  app.use('/dashboard/*', async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', contentSecurityPolicy);
    // Pages show one user's money: no cache keeps them.
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });
  app.use('/dashboard/*', csrfToken);

  loginRoutes(app, deps);

  // Each role starts on the first section it may see; every role has its own account.
  app.get('/dashboard', signedIn(deps), (c) => {
    const { role } = c.get('user');
    return c.redirect(sections.find((section) => section.roles.includes(role))!.path, 303);
  });
  analyticsRoutes(app, deps);
  billingDayRoutes(app, deps);
  accountRoutes(app, deps);

  app.get('/dashboard/*', () => {
    throw new ProblemError(404, 'not-found', 'there is no such dashboard page');
  });

  app.onError((error, c) => {
    const problem = toProblem(error);
    if (!problem) deps.log.error(`${c.req.method} ${c.req.path} failed`, error);
    const status = problem?.status ?? 500;
    const message = problem?.message ?? 'an unexpected error occurred; it has been logged';
    return c.html(<ErrorPage status={status} message={message} user={c.get('user')} csrfToken={c.get('csrfToken') ?? ''} />, status);
  });
  return app;
}
