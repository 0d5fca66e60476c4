// Signing in and out. The form logs in through the same code as POST /auth/login (its throttling included) and keeps
// the API's token in the session cookie.
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { logIn } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ProblemError } from '../problem.js';
import { clearSessionCookie, setSessionCookie } from '../session.js';
import { CsrfField, Layout } from './layout.js';
import { checkCsrf, loginPath, type DashboardEnv } from './session.js';

const LoginForm = z.object({ email: z.string().trim().min(1).max(254), password: z.string().min(1).max(200) });

/**
 * The login page. `offerProvider` shows the link to sign in through the configured OpenID provider, whose flow ends
 * in the same session cookie and a redirect to /dashboard.
 */
function LoginPage(props: { csrfToken: string; email?: string; error?: string; offerProvider: boolean }) {
  return (
    <Layout title="Sign in" csrfToken={props.csrfToken}>
      <form method="post" action={loginPath} class="card login">
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <CsrfField token={props.csrfToken} />
        <label for="email">E-mail</label>
        <input id="email" name="email" type="email" autocomplete="username" required value={props.email ?? ''} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
        {props.offerProvider && (
          <p>
            <a href="/auth/oidc/login?returnTo=/dashboard">Sign in with your provider</a>
          </p>
        )}
      </form>
    </Layout>
  );
}

export function loginRoutes(app: Hono<DashboardEnv>, deps: ApiDeps) {
  // Sign-in through the identity provider needs its client (OIDC_CLIENT_ID); without one the link stays hidden.
  const offerProvider = Boolean(deps.config.oidc?.clientId);
  const page = (c: Context<DashboardEnv>, status: 200 | 400 | 401 | 429, props: { email?: string; error?: string } = {}) =>
    c.html(<LoginPage csrfToken={c.get('csrfToken')} offerProvider={offerProvider} {...props} />, status);

  app.get(loginPath, (c) => page(c, 200));

  app.post(loginPath, checkCsrf, async (c) => {
    const form = LoginForm.safeParse(await c.req.parseBody());
    if (!form.success) return page(c, 400, { error: 'Enter your e-mail and password.' });
    const { email, password } = form.data;
    try {
      const { token } = await logIn(deps, c, email, password);
      setSessionCookie(c, token, deps.config.jwt.ttlSeconds);
    } catch (error) {
      if (!(error instanceof ProblemError) || (error.status !== 401 && error.status !== 429)) throw error;
      const retry = error.headers?.['Retry-After'];
      if (retry) c.header('Retry-After', retry);
      return page(c, error.status, {
        email,
        error: error.status === 429 ? `Too many failed sign-ins: try again in ${retry} seconds.` : 'Wrong e-mail or password.',
      });
    }
    return c.redirect('/dashboard', 303);
  });

  app.post('/dashboard/logout', checkCsrf, (c) => {
    clearSessionCookie(c);
    return c.redirect(loginPath, 303);
  });
}
