// Signing in through an OpenID Connect provider beside local users, against a real provider (oidc-provider) in
// this process: client-credentials and authorization-code tokens reach the API, users are created on first sight
// (once, however many first requests), roles follow the provider, key rotation needs nothing, and bad, expired,
// foreign or role-less tokens, deactivated users and an unreachable provider are refused.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { SignJWT, decodeJwt, importJWK, type JWK } from 'jose';
import type { ClientMetadata } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySetRefetchCooldownMs } from '../api/oidc.js';
import { ensureFirstAdmin } from '../lib/auth/first-admin.js';
import { users } from '../db/schema/auth.js';
import { domainEvents } from '../db/schema/platform.js';
import { startHarness, type ApiResponse, type Harness, type TestUser } from './support/harness.js';
import {
  apiAudience,
  otherResource,
  shortLivedResource,
  signingKey,
  startOpenIdProvider,
  type Account,
  type OpenIdProvider,
} from './support/openid-provider.js';

const rolesClaim = 'realm_access.roles';
const dashboardClient = 'ates-dashboard';
const secret = 'service-secret-of-some-length';

let op: OpenIdProvider;
let h: Harness;
let admin: TestUser;
let firstKey: JWK;
/** Service accounts sign in with client credentials: their client is their account. */
const accounts: Record<string, Account> = {};
const clients: ClientMetadata[] = [];

function service(roles: string[] | undefined, extra: Partial<Account> = {}): string {
  const clientId = `service-${randomUUID().slice(0, 8)}`;
  accounts[clientId] = { roles, ...extra };
  clients.push({ client_id: clientId, client_secret: secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] });
  return clientId;
}

function person(account: Account): string {
  const id = `person-${randomUUID().slice(0, 8)}`;
  accounts[id] = account;
  return id;
}

const configureProvider = (keys: JWK[]) => op.configure({ keys, clients: [...clients], accounts });

beforeAll(async () => {
  op = await startOpenIdProvider();
  h = await startHarness({ workerContexts: [], env: { OIDC_ISSUER: op.issuer, OIDC_AUDIENCE: apiAudience, OIDC_ROLES_CLAIM: rolesClaim, OIDC_CLIENT_ID: dashboardClient } });
  clients.push({
    client_id: dashboardClient,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [`${h.apiUrl}/auth/oidc/callback`],
  });
  firstKey = await signingKey();
  admin = await h.user('admin');
});
afterAll(async () => {
  await h?.stop();
  await op?.stop();
});

async function clientCredentials(clientId: string, resource = apiAudience): Promise<string> {
  const response = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource }),
  });
  const body = (await response.json()) as { access_token?: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

/** A browser's cookies, by name: enough for one sign-in across the provider and the API (both on 127.0.0.1). */
type CookieJar = Map<string, string>;

const cookieHeader = (jar: CookieJar) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');

function keepCookies(jar: CookieJar, response: Response): void {
  for (const cookie of response.headers.getSetCookie()) {
    const [pair = ''] = cookie.split(';');
    const cut = pair.indexOf('=');
    jar.set(pair.slice(0, cut), pair.slice(cut + 1));
  }
}

/** Follows redirects as a browser would, until `until` says the address is the one wanted. */
async function follow(url: string, jar: CookieJar, until: (url: URL) => boolean): Promise<URL> {
  let at = new URL(url);
  for (let hops = 0; hops < 15; hops++) {
    if (until(at)) return at;
    const response = await fetch(at, { redirect: 'manual', headers: { Cookie: cookieHeader(jar) } });
    keepCookies(jar, response);
    const location = response.headers.get('location');
    if (!location) throw new Error(`${response.status} at ${at.href} without a redirect: ${await response.text()}`);
    at = new URL(location, at);
  }
  throw new Error(`too many redirects from ${url}`);
}

/** The authorization-code flow with PKCE, as a client of the provider would run it, for the account. */
async function authorizationCode(accountId: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = `${h.apiUrl}/auth/oidc/callback`;
  const state = randomUUID();
  const authorize = new URL(`${op.issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: dashboardClient,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid api',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce: randomUUID(),
    resource: apiAudience,
    login_hint: accountId,
  }).toString();
  const back = await follow(authorize.href, new Map(), (url) => url.href.startsWith(redirectUri));
  expect(back.searchParams.get('state')).toBe(state);
  const response = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code')!,
      redirect_uri: redirectUri,
      client_id: dashboardClient,
      code_verifier: verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
}

const userEvents = (name: string, userId: string) =>
  h.database.db
    .select()
    .from(domainEvents)
    .where(and(eq(domainEvents.name, name), sql`${domainEvents.data}->>'id' = ${userId}`))
    .orderBy(domainEvents.seq);
const userCreatedEvents = (userId: string) => userEvents('user.created', userId);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('provider tokens', () => {
  it('a client-credentials token reaches the API and creates its user once, however many first requests', async () => {
    const clientId = service(['worker', 'manager'], { name: 'Nightly import' });
    configureProvider([firstKey]);
    const token = await clientCredentials(clientId);
    const [first, second] = await Promise.all([h.request('GET', '/me', { token }), h.request('GET', '/me', { token })]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    // The most privileged of the aTES roles in the claim; the provider's own roles are ignored.
    expect(first.body).toMatchObject({ role: 'manager', status: 'active', name: 'Nightly import' });
    // No e-mail in the token: an address that can never reach anyone, unique to the identity.
    expect(first.body.email).toMatch(/^provider-[0-9a-f]{32}@ates\.invalid$/);
    const rows = await h.database.db.select().from(users).where(eq(users.oidcSubject, clientId));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ oidcIssuer: op.issuer, passwordHash: null });
    const created = await userCreatedEvents(first.body.id);
    expect(created).toHaveLength(1);
    expect(created[0]!.data).toEqual({ id: first.body.id, name: 'Nightly import', email: first.body.email, role: 'manager', status: 'active' });
    // Later requests find the same user.
    expect((await h.request('GET', '/me', { token: await clientCredentials(clientId) })).body.id).toBe(first.body.id);
    expect(await userCreatedEvents(first.body.id)).toHaveLength(1);
  });

  it('an authorization-code token (PKCE) reaches the API, with the name and e-mail of the account', async () => {
    const email = `ada-${randomUUID().slice(0, 8)}@company.example`;
    const accountId = person({ name: 'Ada Popug', email, roles: ['accountant'] });
    configureProvider([firstKey]);
    const token = await authorizationCode(accountId);
    const me = await h.request('GET', '/me', { token });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body).toMatchObject({ name: 'Ada Popug', email, role: 'accountant', status: 'active' });
    // An accountant reads what accountants read.
    expect((await h.request('GET', '/billing/accounts', { token })).status).toBe(200);
    expectProblem(await h.request('GET', '/users', { token }), 403);
  });

  it('the role follows the provider, with the same event an admin’s change emits', async () => {
    const clientId = service(['worker']);
    configureProvider([firstKey]);
    const me = await h.request('GET', '/me', { token: await clientCredentials(clientId) });
    expect(me.body.role).toBe('worker');
    accounts[clientId]!.roles = ['reviewer'];
    const after = await h.request('GET', '/me', { token: await clientCredentials(clientId) });
    expect(after.body).toMatchObject({ id: me.body.id, role: 'reviewer' });
    const updates = await userEvents('user.updated', me.body.id);
    expect(updates.map((row) => (row.data as { role: string }).role)).toEqual(['reviewer']);
  });

  it('a token naming a local user’s e-mail gets a user of its own: the local account is not taken over', async () => {
    const accountId = person({ name: 'Impostor', email: admin.email, roles: ['worker'] });
    configureProvider([firstKey]);
    const me = await h.request('GET', '/me', { token: await authorizationCode(accountId) });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body.id).not.toBe(admin.id);
    expect(me.body).toMatchObject({ role: 'worker', name: 'Impostor' });
    expect(me.body.email).toMatch(/@ates\.invalid$/);
    expect((await h.request('GET', '/me', { token: admin.token })).body).toMatchObject({ id: admin.id, email: admin.email, role: 'admin' });
  });

  it('a token for another audience is refused with 401', async () => {
    const clientId = service(['admin']);
    configureProvider([firstKey]);
    expectProblem(await h.request('GET', '/me', { token: await clientCredentials(clientId, otherResource) }), 401);
  });

  it('an expired token is refused with 401', async () => {
    const clientId = service(['worker']);
    configureProvider([firstKey]);
    const token = await clientCredentials(clientId, shortLivedResource);
    const { iat, exp } = decodeJwt(token);
    expect(exp! - iat!).toBe(1);
    await sleep(2_100);
    expectProblem(await h.request('GET', '/me', { token }), 401);
  });

  it('a token signed by a key the provider never published is refused with 401', async () => {
    const forged = await new SignJWT({ realm_access: { roles: ['admin'] } })
      .setProtectedHeader({ alg: 'RS256', kid: firstKey.kid! })
      .setIssuer(op.issuer)
      .setAudience(apiAudience)
      .setSubject('intruder')
      .setExpirationTime('5m')
      .sign(await importJWK(await signingKey(), 'RS256'));
    expectProblem(await h.request('GET', '/me', { token: forged }), 401);
  });

  it('a token naming no aTES role is refused with 403 naming the claim, and creates no user', async () => {
    const clientId = service(['offline_access']);
    const noClaim = service(undefined);
    configureProvider([firstKey]);
    for (const token of [await clientCredentials(clientId), await clientCredentials(noClaim)]) {
      const res = await h.request('GET', '/me', { token });
      expectProblem(res, 403);
      expect(res.body.detail).toContain(rolesClaim);
      expect(res.body.errors).toEqual([{ field: rolesClaim, message: expect.any(String) }]);
    }
    expect(await h.database.db.select().from(users).where(eq(users.oidcSubject, clientId))).toEqual([]);
  });

  it('a deactivated provider user is refused at once, unexpired token and all', async () => {
    const clientId = service(['worker']);
    configureProvider([firstKey]);
    const token = await clientCredentials(clientId);
    const me = await h.request('GET', '/me', { token });
    expect(me.status).toBe(200);
    const patched = await h.request('PATCH', `/users/${me.body.id}`, { token: admin.token, body: { status: 'deactivated' } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expectProblem(await h.request('GET', '/me', { token }), 401);
    expectProblem(await h.request('GET', '/me', { token: await clientCredentials(clientId) }), 401);
  });

  it('a provider user cannot log in locally; local users still can while the provider is on', async () => {
    const email = `local-less-${randomUUID().slice(0, 8)}@company.example`;
    const accountId = person({ name: 'No Password', email, roles: ['worker'] });
    configureProvider([firstKey]);
    expect((await h.request('GET', '/me', { token: await authorizationCode(accountId) })).status).toBe(200);
    expectProblem(await h.request('POST', '/auth/login', { body: { email, password: 'any password at all' } }), 401);
    const worker = await h.user('worker');
    expect((await h.request('GET', '/me', { token: worker.token })).body).toMatchObject({ id: worker.id, role: 'worker' });
  });

  it('a rotated signing key keeps working: a token with the new kid makes the API fetch the key set again', async () => {
    const clientId = service(['client']);
    configureProvider([firstKey]);
    expect((await h.request('GET', '/me', { token: await clientCredentials(clientId) })).status).toBe(200);
    // The API holds the key set with the first key only; the provider now signs with a new one.
    const rotated = await signingKey();
    configureProvider([rotated, firstKey]);
    const token = await clientCredentials(clientId);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid).toBe(rotated.kid);
    // A key set fetched moments ago is not fetched again for an unknown kid before the cool-down.
    await sleep(keySetRefetchCooldownMs);
    const me = await h.request('GET', '/me', { token });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body.role).toBe('client');
  });

  it('a provider that cannot be reached answers 503 with Retry-After, not 500', async () => {
    const clientId = service(['worker']);
    configureProvider([firstKey]);
    const token = await clientCredentials(clientId);
    // A token with a kid the API has not seen makes it fetch the key set, from a provider that is now down.
    const unseen = await signingKey();
    const unknownKid = await new SignJWT({ realm_access: { roles: ['worker'] } })
      .setProtectedHeader({ alg: 'RS256', kid: unseen.kid! })
      .setIssuer(op.issuer)
      .setAudience(apiAudience)
      .setSubject(clientId)
      .setExpirationTime('5m')
      .sign(await importJWK(unseen, 'RS256'));
    await sleep(keySetRefetchCooldownMs);
    op.goDown();
    try {
      const res = await h.request('GET', '/me', { token: unknownKid });
      expectProblem(res, 503);
      expect(res.headers.get('retry-after')).toBe('5');
      // A token with a key the API holds still verifies while the provider is down.
      expect((await h.request('GET', '/me', { token })).status).toBe(200);
    } finally {
      configureProvider([firstKey]);
    }
  });
});

describe('the dashboard signs in through the provider', () => {
  it('from /auth/oidc/login to the callback: a session cookie holding a token the API takes, and back to returnTo', async () => {
    const email = `grace-${randomUUID().slice(0, 8)}@company.example`;
    const accountId = person({ name: 'Grace Popug', email, roles: ['worker'] });
    configureProvider([firstKey]);
    op.signInAs(accountId);
    const jar: CookieJar = new Map();
    const landed = await follow(`${h.apiUrl}/auth/oidc/login?returnTo=${encodeURIComponent('/dashboard/tasks?view=mine')}`, jar, (url) =>
      url.href.startsWith(`${h.apiUrl}/dashboard`),
    );
    expect(landed.href).toBe(`${h.apiUrl}/dashboard/tasks?view=mine`);
    const session = jar.get('ates_session');
    expect(session).toBeTruthy();
    const me = await h.request('GET', '/me', { token: session });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body).toMatchObject({ name: 'Grace Popug', email, role: 'worker' });
  });

  it("offers the provider on the dashboard's login page, whose pages then open with the session the sign-in set", async () => {
    const loginPage = await fetch(`${h.apiUrl}/dashboard/login`);
    expect(await loginPage.text()).toContain('href="/auth/oidc/login?returnTo=/dashboard"');
    const accountId = person({ name: 'Dashing Popug', roles: ['worker'] });
    configureProvider([firstKey]);
    op.signInAs(accountId);
    const jar: CookieJar = new Map();
    const landed = await follow(`${h.apiUrl}/auth/oidc/login?returnTo=/dashboard`, jar, (url) => url.href.startsWith(`${h.apiUrl}/dashboard`));
    const page = await fetch(landed.href, { headers: { cookie: `ates_session=${jar.get('ates_session')}` } });
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname).not.toBe('/dashboard/login');
    expect(await page.text()).toContain('Dashing Popug · worker');
  });

  it('sets the session cookie HttpOnly and SameSite=Lax, and keeps the sign-in cookie to the sign-in paths', async () => {
    const accountId = person({ name: 'Cookie Popug', roles: ['client'] });
    configureProvider([firstKey]);
    op.signInAs(accountId);
    const login = await fetch(`${h.apiUrl}/auth/oidc/login`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const [signInCookie] = login.headers.getSetCookie();
    expect(signInCookie).toMatch(/HttpOnly/);
    expect(signInCookie).toMatch(/Path=\/auth\/oidc/);
    const to = new URL(login.headers.get('location')!);
    expect(to.origin).toBe(op.issuer);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({
      client_id: dashboardClient,
      response_type: 'code',
      code_challenge_method: 'S256',
      redirect_uri: `${h.apiUrl}/auth/oidc/callback`,
      state: expect.any(String),
      nonce: expect.any(String),
    });
    const jar: CookieJar = new Map();
    keepCookies(jar, login);
    const back = await follow(to.href, jar, (url) => url.pathname === '/auth/oidc/callback');
    const callback = await fetch(back, { redirect: 'manual', headers: { Cookie: cookieHeader(jar) } });
    expect(callback.status, await callback.clone().text()).toBe(302);
    expect(callback.headers.get('location')).toBe('/dashboard');
    const session = callback.headers.getSetCookie().find((cookie) => cookie.startsWith('ates_session='));
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).toMatch(/Max-Age=\d+/);
  });

  it('redirects only to a path on this site', async () => {
    for (const returnTo of ['https://evil.example/', '//evil.example/dashboard', '/\\evil.example', 'dashboard']) {
      const res = await h.request('GET', `/auth/oidc/login?returnTo=${encodeURIComponent(returnTo)}`);
      expectProblem(res, 422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['query.returnTo']);
    }
  });

  it('refuses a callback this browser did not start, or whose state differs', async () => {
    expectProblem(await h.request('GET', '/auth/oidc/callback?code=abc&state=xyz'), 400);
    const login = await fetch(`${h.apiUrl}/auth/oidc/login`, { redirect: 'manual' });
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const res = await h.request('GET', '/auth/oidc/callback?code=abc&state=not-the-state', { headers: { Cookie: cookie } });
    expectProblem(res, 400);
    expect(res.body.errors).toEqual([{ field: 'query.state', message: expect.any(String) }]);
  });
});

describe('a provider down from the start', () => {
  let down: OpenIdProvider;
  let api: Harness;
  beforeAll(async () => {
    down = await startOpenIdProvider();
    api = await startHarness({ workerContexts: [], env: { OIDC_ISSUER: down.issuer, OIDC_AUDIENCE: apiAudience } });
  });
  afterAll(async () => {
    await api?.stop();
    await down?.stop();
  });

  it('answers its tokens 503 with Retry-After (no discovery document), and local tokens as ever', async () => {
    const key = await signingKey();
    const token = await new SignJWT({ roles: ['worker'] })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid! })
      .setIssuer(down.issuer)
      .setAudience(apiAudience)
      .setSubject('someone')
      .setExpirationTime('5m')
      .sign(await importJWK(key, 'RS256'));
    const res = await api.request('GET', '/me', { token });
    expectProblem(res, 503);
    expect(res.headers.get('retry-after')).toBe('5');
    const worker = await api.user('worker');
    expect((await api.request('GET', '/me', { token: worker.token })).status).toBe(200);
  });

  it('will not make a provider user the first admin with a password (no active admin here)', async () => {
    const email = `provider-held-${randomUUID().slice(0, 8)}@company.example`;
    await api.database.db.insert(users).values({ name: 'Held', email, role: 'worker', oidcIssuer: down.issuer, oidcSubject: randomUUID() });
    await expect(ensureFirstAdmin(api.database.db, { email, password: 'a long enough password' })).rejects.toThrow(/ADMIN_EMAIL/);
    const [held] = await api.database.db.select().from(users).where(eq(users.email, email));
    expect(held).toMatchObject({ role: 'worker', passwordHash: null });
  });
});
