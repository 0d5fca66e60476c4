// Who is looking at a dashboard page, and the forms' CSRF token.
//
// Every page reads the session cookie (api/session.ts) and turns it into a user through `userFromToken`, as the
// API does with a bearer header: a deactivated user or an expired token is out at the next click.
//
// CSRF: the session cookie is SameSite=Lax, so another site's form post arrives without it; on top of that every
// POST must pass Hono's origin check (Origin or Sec-Fetch-Site of this site) and carry the double-submit token: a
// random value in its own cookie (HttpOnly, SameSite=Strict, path /dashboard) repeated in the form's hidden `csrf`
// field. Another site can neither read the cookie nor set the field to match it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { createMiddleware } from 'hono/factory';
import type { PublicUser } from '../../lib/auth/users.js';
import type { ApiDeps } from '../deps.js';
import { ProblemError } from '../problem.js';
import { userFromToken } from '../security.js';
import { clearSessionCookie, overHttps, readSessionCookie } from '../session.js';

export type DashboardEnv = { Variables: { user: PublicUser; csrfToken: string } };

export const loginPath = '/dashboard/login';
export const csrfCookieName = 'ates_csrf';
export const csrfFieldName = 'csrf';

/** The form token of this browser, set as a cookie on its first page. */
export const csrfToken: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  let token = getCookie(c, csrfCookieName);
  if (!token || !/^[0-9a-f]{64}$/.test(token)) {
    token = randomBytes(32).toString('hex');
    setCookie(c, csrfCookieName, token, { httpOnly: true, sameSite: 'Strict', secure: overHttps(c), path: '/dashboard' });
  }
  c.set('csrfToken', token);
  await next();
};

const refused = () => new ProblemError(403, 'forbidden', 'the form was not sent from this dashboard (its CSRF token is missing or wrong): reload the page and try again');

const sameOrigin = csrf();

/** A POST passes the origin check and carries the browser's form token; anything else is a 403 that changes nothing. */
export const checkCsrf: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  try {
    await sameOrigin(c, async () => {});
  } catch {
    throw new ProblemError(403, 'forbidden', 'the form was sent from another site');
  }
  const form = await c.req.parseBody();
  const sent = form[csrfFieldName];
  const expected = getCookie(c, csrfCookieName);
  if (typeof sent !== 'string' || !expected || sent.length !== expected.length || !timingSafeEqual(Buffer.from(sent), Buffer.from(expected))) {
    throw refused();
  }
  await next();
};

/** The signed-in user, from the session cookie; without a valid one, the login page. */
export function signedIn(deps: ApiDeps) {
  return createMiddleware<DashboardEnv>(async (c, next) => {
    const token = readSessionCookie(c);
    if (!token) return c.redirect(loginPath, 303);
    try {
      c.set('user', await userFromToken(deps, token));
    } catch (error) {
      if (!(error instanceof ProblemError) || error.status !== 401) throw error;
      clearSessionCookie(c);
      return c.redirect(loginPath, 303);
    }
    await next();
  });
}
