// Every route × every role against who may call it. The routes come from the app itself (Hono's registered routes
// and the OpenAPI document), so a route served without an entry in `matrix` fails here, named. Entries for routes not
// served are not exercised.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { roles, type Role } from '../db/schema/auth.js';
import { startHarness, type TestUser } from './support/harness.js';

/**
 * Who may call a route:
 * - `public`: anyone, with or without a token;
 * - `signedIn`: any active user;
 * - `roles`: exactly these roles (others get 403);
 * - `domain`: any active user reaches it and the domain decides (issue type, performer, statechart guard), so only
 *   the 401 for no or a dead token is asserted;
 * - `metricsToken`: only a scraper holding `METRICS_TOKEN`, which no user's token is: everyone here gets 401.
 */
type Access = { kind: 'public' } | { kind: 'signedIn' } | { kind: 'roles'; roles: Role[] } | { kind: 'domain' } | { kind: 'metricsToken' };

interface Identity {
  name: string;
  /** No token: anonymous. */
  token?: string;
  role?: Role;
  /** Credentials the caller holds (the anonymous caller holds a worker's, to log in with). */
  user?: TestUser;
  deactivated?: boolean;
}

interface Entry {
  access: Access;
  /** A valid-ish body where one is cheap to build; otherwise `{}` goes to POST and PATCH (a 422 is fine). */
  body?: (caller: Identity) => unknown;
  /** The exact status, where the route itself answers for the caller (logging in). */
  status?: (caller: Identity) => number;
}

const anyone: Access = { kind: 'public' };
const signedIn: Access = { kind: 'signedIn' };
const domain: Access = { kind: 'domain' };
const metricsScraper: Access = { kind: 'metricsToken' };
const only = (...allowed: Role[]): Access => ({ kind: 'roles', roles: allowed });

/** Who may call each route, one entry per method and path; path parameters are written `{name}`. */
const matrix: Record<string, Entry> = {
  'GET /health': { access: anyone },
  // Prometheus metrics: the scraper's METRICS_TOKEN, not a user's token (test/metrics.test.ts asserts the 200).
  'GET /metrics': { access: metricsScraper },
  'GET /openapi.json': { access: anyone },
  'GET /docs': { access: anyone },
  'GET /docs/scalar.js': { access: anyone },

  // Each caller logs in with the credentials they hold; a deactivated user cannot log in.
  'POST /auth/login': {
    access: anyone,
    body: ({ user }) => ({ email: user!.email, password: user!.password }),
    status: ({ deactivated }) => (deactivated ? 401 : 200),
  },
  // The dashboard's sign-in through the identity provider: a browser on its way there and back holds no token yet
  // (404 here, where no provider is configured; test/oidc.test.ts signs in through one).
  'GET /auth/oidc/login': { access: anyone },
  'GET /auth/oidc/callback': { access: anyone },
  'GET /me': { access: signedIn },
  'POST /users': {
    access: only('admin'),
    body: () => ({ name: 'Matrix Popug', email: `matrix-${randomUUID()}@test.local`, role: 'worker', password: 'long-enough-password' }),
  },
  'GET /users': { access: only('admin') },
  'PATCH /users/{id}': { access: only('admin'), body: () => ({ name: 'Renamed' }) },
  // Users are never deleted: 405 for everyone, token or not.
  'DELETE /users/{id}': { access: anyone },

  'GET /issue-types': { access: signedIn },
  'GET /issue-types/{key}': { access: signedIn },
  'GET /issue-types/{key}/versions/{version}/diagram': { access: signedIn },
  'POST /issue-types': { access: only('admin') },
  // Migrating running issues: the role that saves issue types.
  'POST /issue-types/{key}/migrations': { access: only('admin'), body: () => ({ fromVersion: 1, toVersion: 1, stateMapping: {} }) },
  'GET /issue-types/{key}/migrations': { access: only('admin') },
  'GET /issue-types/{key}/migrations/{id}': { access: only('admin') },
  // "per type": the type's statechart decides who may start one.
  'POST /issues': { access: domain, body: () => ({ type: 'task', title: 'Matrix issue' }) },
  'GET /issues': { access: signedIn },
  // "involved users, managers": everyone else gets the 404 of a missing issue.
  'GET /issues/{id}': { access: domain },
  'POST /issues/{id}/events': { access: domain, body: () => ({ type: 'complete' }) },
  'GET /issues/{id}/history': { access: domain },
  'GET /issues/{id}/diagram': { access: domain },

  // Anyone creates a task; only the assignee completes it.
  'POST /tasks': { access: signedIn, body: () => ({ title: 'Matrix task' }) },
  'GET /tasks/mine': { access: signedIn },
  'POST /tasks/{id}/complete': { access: domain },
  'POST /tasks/shuffle': { access: only('manager', 'admin') },
  'GET /task-shuffles/{id}': { access: only('manager', 'admin') },
  // Its first address, served alike but left out of the OpenAPI document.
  'GET /tasks/shuffles/{id}': { access: only('manager', 'admin') },

  // "performer (+ managers read)": the inventory's issue decides.
  'GET /inventories/{id}': { access: domain },
  'POST /inventories/{id}/start': { access: domain },
  'PATCH /inventories/{id}': { access: domain, body: () => ({ lines: [] }) },

  // Admins keep the catalog, workers apply, admins decide, clients request.
  'GET /services': { access: signedIn },
  'GET /services/{id}': { access: signedIn },
  'POST /services': { access: only('admin'), body: () => ({ name: `Matrix service ${randomUUID()}`, priceCents: 2500 }) },
  'PATCH /services/{id}': { access: only('admin'), body: () => ({ priceCents: 3000 }) },
  'GET /services/workers/{id}': { access: signedIn },
  'POST /worker-applications': { access: only('worker') },
  // Admins and managers see every application, a worker their own.
  'GET /worker-applications': { access: only('admin', 'manager', 'worker') },
  'POST /worker-applications/{id}/approve': { access: only('admin') },
  'POST /worker-applications/{id}/reject': { access: only('admin'), body: () => ({ reason: 'not qualified' }) },
  'POST /service-requests': { access: only('client') },
  // The caller's own requests (every one for overseers); the steps are the performer's or the client's, per guard.
  'GET /service-requests': { access: signedIn },
  'POST /service-requests/{id}/accept': { access: domain },
  'POST /service-requests/{id}/decline': { access: domain },
  'POST /service-requests/{id}/done': { access: domain },
  'POST /service-requests/{id}/not-done': { access: domain },
  'POST /service-requests/{id}/review': { access: domain, body: () => ({ rating: 5, comment: 'fine' }) },
  'POST /service-requests/{id}/cancel': { access: domain },

  // Every role has an account (clients are charged for service requests), and each caller sees only their own.
  'GET /billing/me': { access: signedIn },
  'GET /billing/accounts': { access: only('accountant', 'admin') },
  'GET /billing/days': { access: only('accountant', 'admin') },
  'GET /billing/days/{date}': { access: only('accountant', 'admin') },
  'POST /billing/days/{date}/close': { access: only('accountant', 'admin') },

  'GET /analytics/summary': { access: only('admin') },
  'GET /analytics/top-task': { access: only('admin') },

  'GET /notifications': { access: signedIn },
  'POST /notifications/{id}/read': { access: signedIn },
  'GET /notifications/stream': { access: signedIn },
  'GET /events': { access: only('admin') },

  // Webhook subscriptions are the admins' (they see every event of the log).
  'POST /webhooks': { access: only('admin'), body: () => ({ url: 'http://127.0.0.1:9/matrix', eventTypes: ['user.created'] }) },
  'GET /webhooks': { access: only('admin') },
  'GET /webhooks/{id}': { access: only('admin') },
  'DELETE /webhooks/{id}': { access: only('admin') },
  'GET /webhooks/{id}/deliveries': { access: only('admin') },

  // The dashboard signs in with its session cookie, never a bearer token: to every caller here its pages lead to the
  // login page, and a POST without the form's CSRF token is refused. test/dashboard.test.ts checks each role's pages.
  'GET /dashboard': { access: anyone, status: () => 303 },
  'GET /dashboard/login': { access: anyone, status: () => 200 },
  'POST /dashboard/login': { access: anyone, status: () => 403 },
  'POST /dashboard/logout': { access: anyone, status: () => 403 },
  'GET /dashboard/analytics': { access: anyone, status: () => 303 },
  'GET /dashboard/billing-days': { access: anyone, status: () => 303 },
  'GET /dashboard/billing-days/{date}': { access: anyone, status: () => 303 },
  'GET /dashboard/billing-days/{date}/progress': { access: anyone, status: () => 303 },
  'POST /dashboard/billing-days/{date}/close': { access: anyone, status: () => 303 },
  'GET /dashboard/account': { access: anyone, status: () => 303 },
  // A name that is not one of its files.
  'GET /dashboard/assets/{name}': { access: anyone, status: () => 404 },
  // Any other page: the catch-all answers a readable 404.
  'GET /dashboard/*': { access: anyone, status: () => 404 },
};

/** `GET /users/{id}` and `GET /users/{userId}` are the same route. */
const routeShape = (route: string) => route.replace(/\{[^}]+\}/g, '{}');
const entries = new Map(Object.entries(matrix).map(([route, entry]) => [routeShape(route), entry]));

/** Values for path parameters, by name; anything else gets a fresh uuid (an unknown id). */
const parameterValues: Record<string, string> = { key: 'task', version: '1', date: '2000-01-03', day: '2000-01-03' };

// With METRICS_TOKEN, so GET /metrics is on and refuses every caller below.
const h = await startHarness({ env: { METRICS_TOKEN: randomBytes(24).toString('hex') } });
afterAll(() => h.stop());

/** Every route the app serves, as `METHOD /path/{param}`; Hono's own middleware entries (method ALL) are not routes. */
const served = [
  ...new Set(
    createApp(h.services.deps)
      .routes.filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`),
  ),
].sort();

let identities: Identity[];

beforeAll(async () => {
  const users = await Promise.all(roles.map((role) => h.user(role)));
  const admin = users.find((user) => user.role === 'admin')!;
  // An admin whose token was good until an admin deactivated them: even admin routes answer 401.
  const deactivated = await h.user('admin', 'Deactivated admin');
  const patched = await h.request('PATCH', `/users/${deactivated.id}`, { token: admin.token, body: { status: 'deactivated' } });
  expect(patched.status).toBe(200);
  identities = [
    ...users.map((user) => ({ name: user.role, token: user.token, role: user.role, user })),
    { name: 'anonymous', user: users.find((user) => user.role === 'worker') },
    { name: 'deactivated admin', token: deactivated.token, user: deactivated, deactivated: true },
  ];
});

/** What the identity must (not) get. */
function expectation({ access, status }: Entry, who: Identity): { ok: (status: number) => boolean; want: string } {
  const exact = status?.(who);
  if (exact !== undefined) return { ok: (s) => s === exact, want: String(exact) };
  const notRefused = { ok: (s: number) => s !== 401 && s !== 403, want: 'neither 401 nor 403' };
  if (access.kind === 'public') return notRefused;
  if (access.kind === 'metricsToken') return { ok: (s) => s === 401, want: '401' };
  if (!who.role) return { ok: (s) => s === 401, want: '401' };
  if (access.kind === 'signedIn') return notRefused;
  if (access.kind === 'domain') return { ok: (s) => s !== 401, want: 'not 401' };
  return access.roles.includes(who.role) ? notRefused : { ok: (s) => s === 403, want: '403' };
}

async function call(route: string, entry: Entry, who: Identity): Promise<{ status: number; detail: string }> {
  const [method, template] = route.split(' ') as [string, string];
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => parameterValues[name] ?? randomUUID());
  const body = entry.body?.(who) ?? (method === 'POST' || method === 'PATCH' ? {} : undefined);
  const response = await fetch(`${h.apiUrl}${path}`, {
    method,
    // A redirect is the answer (the dashboard's way to the login page), not something to follow.
    redirect: 'manual',
    headers: {
      ...(who.token ? { Authorization: `Bearer ${who.token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // An event stream never ends: its status is the answer.
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, detail: 'event stream' };
  }
  return { status: response.status, detail: (await response.text()).slice(0, 300) };
}

describe('authorization matrix', () => {
  it('every route the app serves has an entry', () => {
    const missing = served.filter((route) => !entries.has(routeShape(route)));
    expect(missing, `routes without an entry in the authorization matrix: ${missing.join(', ')}`).toEqual([]);
  });

  it('every operation of the OpenAPI document has an entry and declares its authorization', async () => {
    const response = await h.request('GET', '/openapi.json');
    expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
    const problems: string[] = [];
    for (const [path, operations] of Object.entries(response.body.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        const route = `${method.toUpperCase()} ${path}`;
        const entry = entries.get(routeShape(route));
        if (!entry) {
          problems.push(`${route}: no entry in the matrix`);
          continue;
        }
        if (entry.access.kind === 'public') continue;
        if (entry.access.kind === 'metricsToken') {
          const scheme = (operation.security ?? []).some((requirement: Record<string, unknown>) => 'metricsToken' in requirement);
          if (!scheme) problems.push(`${route}: no metricsToken security declared`);
          if (!operation.responses?.['401']) problems.push(`${route}: 401 not documented`);
          continue;
        }
        const bearer = (operation.security ?? []).some((requirement: Record<string, unknown>) => 'bearer' in requirement);
        if (!bearer) problems.push(`${route}: no bearer security declared`);
        if (!operation.responses?.['401']) problems.push(`${route}: 401 not documented`);
        if (entry.access.kind === 'roles' && !operation.responses?.['403']) problems.push(`${route}: 403 not documented`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(served.filter((route) => entries.has(routeShape(route))))('%s', async (route) => {
    const entry = entries.get(routeShape(route))!;
    const mismatches: string[] = [];
    for (const who of identities) {
      const { status, detail } = await call(route, entry, who);
      const { ok, want } = expectation(entry, who);
      if (!ok(status) || status >= 500) mismatches.push(`${who.name}: got ${status}, want ${want} (never 5xx): ${detail}`);
    }
    expect(mismatches).toEqual([]);
  });
});
