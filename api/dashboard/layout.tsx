// The frame of every dashboard page: head (viewport, the stylesheets and the one script, all from /dashboard/assets),
// the navigation the user's role allows, and the logout form.
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { Role } from '../../db/schema/auth.js';
import type { PublicUser } from '../../lib/auth/users.js';
import { assetUrl } from './assets.js';
import { csrfFieldName } from './session.js';

/** The sections of the dashboard, each for the roles whose API answers its numbers. */
export const sections: { path: string; title: string; roles: readonly Role[] }[] = [
  { path: '/dashboard/analytics', title: 'Analytics', roles: ['admin'] },
  { path: '/dashboard/billing-days', title: 'Billing days', roles: ['accountant', 'admin'] },
  { path: '/dashboard/account', title: 'My account', roles: ['admin', 'manager', 'accountant', 'worker', 'reviewer', 'client'] },
];

export const CsrfField = ({ token }: { token: string }) => <input type="hidden" name={csrfFieldName} value={token} />;

export function Layout(props: { title: string; user?: PublicUser; csrfToken: string; current?: string; children: Child }) {
  const { title, user, csrfToken, current, children } = props;
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · aTES`}</title>
        {/* No icon: the browser would ask this API for /favicon.ico. */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assetUrl('uPlot.min.css')} />
        <link rel="stylesheet" href={assetUrl('dashboard.css')} />
        <script src={assetUrl('uPlot.iife.min.js')} defer></script>
        <script src={assetUrl('dashboard.js')} defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/dashboard">
            aTES
          </a>
          {user && (
            <nav>
              {sections
                .filter((section) => section.roles.includes(user.role))
                .map((section) => (
                  <a href={section.path} aria-current={section.path === current ? 'page' : undefined}>
                    {section.title}
                  </a>
                ))}
            </nav>
          )}
          {user && (
            <form method="post" action="/dashboard/logout" class="logout">
              <span class="who" data-user-role={user.role}>
                {user.name} · {user.role}
              </span>
              <CsrfField token={csrfToken} />
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
      </html>
    </>
  );
}

/** A readable page for a refusal or an error, with the status the request earned. */
export function ErrorPage(props: { status: number; message: string; user?: PublicUser; csrfToken: string }) {
  const titles: Record<number, string> = { 400: 'Bad request', 403: 'Not for you', 404: 'Not found', 409: 'Conflict', 429: 'Too many attempts' };
  return (
    <Layout title={titles[props.status] ?? (props.status >= 500 ? 'Something went wrong' : 'Refused')} user={props.user} csrfToken={props.csrfToken}>
      <p class="error" data-status={props.status}>
        {props.message}
      </p>
      <p>
        <a href="/dashboard">Back to the dashboard</a>
      </p>
    </Layout>
  );
}

/**
 * Chart data for assets/dashboard.js: a JSON script element, which the browser never runs (the policy allows no
 * inline script anyway). `<` is escaped so no value can close the element.
 */
export function ChartData(props: { id: string; data: unknown }) {
  const json = JSON.stringify(props.data).replace(/</g, '\\u003c');
  return <script type="application/json" id={props.id} dangerouslySetInnerHTML={{ __html: json }}></script>;
}
