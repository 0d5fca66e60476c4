import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { roles, type Role } from '../db/schema/auth.js';
import { startHarness, type ApiResponse, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
});
afterAll(() => h?.stop());
// Every request here comes from one loopback address, whose failed logins add up across tests (a success does not
// reset them): each test starts with its address's count at zero, as if from its own client.
beforeEach(async () => {
  await h.database.sql`delete from login_throttles where key like 'address:%'`;
});

const nonAdminRoles = roles.filter((role): role is Exclude<Role, 'admin'> => role !== 'admin');
const newUser = (role: Role = 'worker') => ({
  name: `Popug ${randomUUID().slice(0, 8)}`,
  email: `popug-${randomUUID()}@test.local`,
  role,
  password: 'correct horse battery',
});

function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

const fieldsOf = (res: ApiResponse) => (res.body.errors ?? []).map((e: { field: string }) => e.field);

/** Every event the admin can read, following `nextCursor` to the end. */
async function allEvents(token: string, query = ''): Promise<any[]> {
  const events: any[] = [];
  let after = 0;
  for (;;) {
    const res = await h.request('GET', `/events?after=${after}&limit=2${query}`, { token });
    expect(res.status).toBe(200);
    events.push(...res.body.items);
    if (res.body.nextCursor === null) return events;
    after = res.body.nextCursor;
  }
}

describe('login', () => {
  it('answers a token that identifies the user', async () => {
    const worker = await h.user('worker');
    const me = await h.request('GET', '/me', { token: worker.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: worker.id, role: 'worker', status: 'active' });
    expect(me.body.passwordHash).toBeUndefined();
  });

  it('answers the token and the user, and accepts the e-mail in any case', async () => {
    const worker = await h.user('worker');
    const res = await h.request('POST', '/auth/login', { body: { email: worker.email.toUpperCase(), password: worker.password } });
    expect(res.status).toBe(200);
    expect(res.body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(res.body.user).toEqual({
      id: worker.id,
      name: worker.name,
      email: worker.email,
      role: 'worker',
      status: 'active',
      createdAt: worker.createdAt.toISOString(),
      updatedAt: worker.updatedAt.toISOString(),
    });
    const me = await h.request('GET', '/me', { token: res.body.token });
    expect(me.body.id).toBe(worker.id);
  });

  it('refuses a wrong password with 401 problem+json', async () => {
    const worker = await h.user('worker');
    const res = await h.request('POST', '/auth/login', { body: { email: worker.email, password: 'wrong-password' } });
    expectProblem(res, 401);
  });

  it('answers an unknown e-mail exactly like a wrong password', async () => {
    const worker = await h.user('worker');
    const wrongPassword = await h.request('POST', '/auth/login', { body: { email: worker.email, password: 'wrong-password' } });
    const unknown = await h.request('POST', '/auth/login', { body: { email: 'nobody@test.local', password: 'wrong-password' } });
    expectProblem(unknown, 401);
    expect(unknown.body).toEqual(wrongPassword.body);
  });
});

describe('401: the bearer token', () => {
  const secret = () => h.config.jwt.secret!;
  const now = () => Math.floor(Date.now() / 1000);

  it('is required', async () => {
    const res = await h.request('GET', '/me');
    expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('refuses garbage', async () => {
    expectProblem(await h.request('GET', '/me', { token: 'not.a.token' }), 401);
  });

  it('refuses a token signed with another secret', async () => {
    const admin = await h.user('admin');
    const forged = await sign({ sub: admin.id, role: 'admin', exp: now() + 600 }, 'some-other-secret-of-32-characters', 'HS256');
    expectProblem(await h.request('GET', '/me', { token: forged }), 401);
  });

  it('refuses an expired token, and takes the same claims while they are fresh', async () => {
    const admin = await h.user('admin');
    const expired = await sign({ sub: admin.id, role: 'admin', iat: now() - 120, exp: now() - 60 }, secret(), 'HS256');
    expectProblem(await h.request('GET', '/me', { token: expired }), 401);
    const fresh = await sign({ sub: admin.id, role: 'admin', iat: now(), exp: now() + 60 }, secret(), 'HS256');
    expect((await h.request('GET', '/me', { token: fresh })).status).toBe(200);
  });
});

describe('roles', () => {
  it('lets an admin create a user, who then logs in', async () => {
    const admin = await h.user('admin');
    const input = newUser('reviewer');
    const res = await h.request('POST', '/users', { token: admin.token, body: { ...input, email: input.email.toUpperCase() } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: input.name, email: input.email, role: 'reviewer', status: 'active' });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.password).toBeUndefined();
    expect(res.body.passwordHash).toBeUndefined();
    const login = await h.request('POST', '/auth/login', { body: { email: input.email, password: input.password } });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(res.body.id);
  });

  it('lets an admin rename a user and change their role', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const res = await h.request('PATCH', `/users/${worker.id}`, { token: admin.token, body: { name: 'Renamed', role: 'manager' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: worker.id, name: 'Renamed', role: 'manager', status: 'active' });
    expect(new Date(res.body.updatedAt).getTime()).toBeGreaterThan(worker.updatedAt.getTime());
    // The role the API sees is the stored one, not the one in the old token.
    expect((await h.request('GET', '/me', { token: worker.token })).body.role).toBe('manager');
  });

  it.each(nonAdminRoles)('answers 403 to a %s on every admin endpoint', async (role) => {
    const caller = await h.user(role);
    const other = await h.user('worker');
    const attempts = [
      await h.request('POST', '/users', { token: caller.token, body: newUser() }),
      await h.request('GET', '/users', { token: caller.token }),
      await h.request('PATCH', `/users/${other.id}`, { token: caller.token, body: { role: 'admin' } }),
      await h.request('PATCH', `/users/${caller.id}`, { token: caller.token, body: { role: 'admin' } }),
      await h.request('GET', '/events', { token: caller.token }),
    ];
    for (const res of attempts) expectProblem(res, 403);
    expect((await h.request('GET', '/me', { token: caller.token })).body.role).toBe(role);
  });

  it('stops an admin from deactivating or demoting themselves (409)', async () => {
    const admin = await h.user('admin');
    expectProblem(await h.request('PATCH', `/users/${admin.id}`, { token: admin.token, body: { status: 'deactivated' } }), 409);
    expectProblem(await h.request('PATCH', `/users/${admin.id}`, { token: admin.token, body: { role: 'worker' } }), 409);
    expect((await h.request('GET', '/me', { token: admin.token })).body).toMatchObject({ role: 'admin', status: 'active' });
  });
});

describe('deactivation', () => {
  it('refuses login and every old token of a deactivated user', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const patch = await h.request('PATCH', `/users/${worker.id}`, { token: admin.token, body: { status: 'deactivated' } });
    expect(patch.status).toBe(200);
    expect(patch.body.status).toBe('deactivated');
    expectProblem(await h.request('GET', '/me', { token: worker.token }), 401);
    const login = await h.request('POST', '/auth/login', { body: { email: worker.email, password: worker.password } });
    expectProblem(login, 401);
  });

  it('lets the user back in once reactivated, old token included', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    await h.request('PATCH', `/users/${worker.id}`, { token: admin.token, body: { status: 'deactivated' } });
    const back = await h.request('PATCH', `/users/${worker.id}`, { token: admin.token, body: { status: 'active' } });
    expect(back.body.status).toBe('active');
    expect((await h.request('GET', '/me', { token: worker.token })).status).toBe(200);
    expect((await h.request('POST', '/auth/login', { body: { email: worker.email, password: worker.password } })).status).toBe(200);
  });

  it('takes admin rights away from a deactivated admin at once', async () => {
    const admin = await h.user('admin');
    const other = await h.user('admin');
    await h.request('PATCH', `/users/${other.id}`, { token: admin.token, body: { status: 'deactivated' } });
    expectProblem(await h.request('GET', '/users', { token: other.token }), 401);
  });
});

describe('refusals', () => {
  it('405: users are never deleted', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const res = await h.request('DELETE', `/users/${worker.id}`, { token: admin.token });
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('PATCH');
    expect((await h.request('GET', '/me', { token: worker.token })).status).toBe(200);
  });

  it('404: PATCH of an unknown user', async () => {
    const admin = await h.user('admin');
    expectProblem(await h.request('PATCH', `/users/${randomUUID()}`, { token: admin.token, body: { name: 'Nobody' } }), 404);
  });

  it('409: a taken e-mail, whatever its case', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const res = await h.request('POST', '/users', { token: admin.token, body: { ...newUser(), email: worker.email.toUpperCase() } });
    expectProblem(res, 409);
    expect(res.body.detail).toContain(worker.email.toUpperCase());
  });

  it('422 names each offending field', async () => {
    const admin = await h.user('admin');
    const bad = await h.request('POST', '/users', {
      token: admin.token,
      body: { name: 'X', email: 'not-an-email', role: 'overlord', password: 'short', nickname: 'x' },
    });
    expectProblem(bad, 422);
    expect(fieldsOf(bad).sort()).toEqual(['body.email', 'body.nickname', 'body.password', 'body.role']);
    for (const field of ['body.email', 'body.role', 'body.password']) expect(bad.body.detail).toContain(field);

    const login = await h.request('POST', '/auth/login', { body: { email: 'a@b.io' } });
    expectProblem(login, 422);
    expect(fieldsOf(login)).toEqual(['body.password']);

    const path = await h.request('PATCH', '/users/42', { token: admin.token, body: { name: 'x' } });
    expectProblem(path, 422);
    expect(fieldsOf(path)).toEqual(['path.id']);

    const query = await h.request('GET', '/users?limit=0', { token: admin.token });
    expectProblem(query, 422);
    expect(fieldsOf(query)).toEqual(['query.limit']);
  });
});

describe('events', () => {
  it('records user.created and user.updated (v1) and pages them by cursor and name', async () => {
    const admin = await h.user('admin');
    const start = await allEvents(admin.token);
    const after = start.at(-1)?.seq ?? 0;

    const created = await h.request('POST', '/users', { token: admin.token, body: newUser('accountant') });
    const id = created.body.id;
    await h.request('PATCH', `/users/${id}`, { token: admin.token, body: { name: 'Counted', role: 'manager' } });
    await h.request('PATCH', `/users/${id}`, { token: admin.token, body: { status: 'deactivated' } });

    // The feed shows an event once no earlier transaction anywhere on the server is still open (another test
    // file may be creating its database right now): wait for it rather than read once.
    let res = await h.request('GET', `/events?after=${after}`, { token: admin.token });
    let mine: any[] = res.body.items.filter((e: any) => e.data.id === id);
    for (const deadline = Date.now() + 10_000; mine.length < 3 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      res = await h.request('GET', `/events?after=${after}`, { token: admin.token });
      expect(res.status).toBe(200);
      mine = res.body.items.filter((e: any) => e.data.id === id);
    }
    expect(mine.map((e: any) => e.name)).toEqual(['user.created', 'user.updated', 'user.updated']);
    for (const event of mine) {
      expect(event).toMatchObject({ version: 1, producer: 'auth', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(new Date(event.occurredAt).toISOString()).toBe(event.occurredAt);
      expect(event.data.passwordHash).toBeUndefined();
    }
    expect(mine[0].data).toEqual({ id, name: created.body.name, email: created.body.email, role: 'accountant', status: 'active' });
    expect(mine[1].data).toMatchObject({ name: 'Counted', role: 'manager', status: 'active' });
    expect(mine[2].data).toMatchObject({ name: 'Counted', role: 'manager', status: 'deactivated' });
    // In order, and nothing older than the cursor.
    const seqs = res.body.items.map((e: any) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(Math.min(...seqs)).toBeGreaterThan(after);
    expect(res.body.nextCursor).toBe(seqs.at(-1));

    // Following the cursor from the last event: nothing newer yet.
    const tail = await h.request('GET', `/events?after=${res.body.nextCursor}`, { token: admin.token });
    expect(tail.body).toEqual({ items: [], nextCursor: null });

    // Paging two at a time sees every event exactly once, in order.
    const paged = await allEvents(admin.token);
    expect(paged.map((e) => e.seq)).toEqual([...start, ...res.body.items].map((e) => e.seq));

    const onlyUpdates = await allEvents(admin.token, '&name=user.updated');
    expect(onlyUpdates.length).toBeGreaterThanOrEqual(2);
    expect(new Set(onlyUpdates.map((e) => e.name))).toEqual(new Set(['user.updated']));
    expect(onlyUpdates.filter((e) => e.data.id === id)).toHaveLength(2);
  });

  it('writes no event when a change is refused', async () => {
    const admin = await h.user('admin');
    const before = await allEvents(admin.token);
    await h.request('POST', '/users', { token: admin.token, body: { ...newUser(), email: admin.email } });
    await h.request('PATCH', `/users/${randomUUID()}`, { token: admin.token, body: { name: 'x' } });
    expect(await allEvents(admin.token)).toEqual(before);
  });
});

describe('Idempotency-Key on POST /users', () => {
  it('answers a retry with the first result and creates one user', async () => {
    const admin = await h.user('admin');
    const key = randomUUID();
    const input = newUser();
    const first = await h.request('POST', '/users', { token: admin.token, body: input, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(201);
    const retry = await h.request('POST', '/users', { token: admin.token, body: input, headers: { 'Idempotency-Key': key } });
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    const [row] = await h.database.sql<{ n: number }[]>`select count(*)::int as n from users where email = ${input.email}`;
    expect(row!.n).toBe(1);
    // The key names one request: with another body it is refused, and nobody is created.
    const other = newUser('manager');
    const reused = await h.request('POST', '/users', { token: admin.token, body: other, headers: { 'Idempotency-Key': key } });
    expectProblem(reused, 422);
    expect(fieldsOf(reused)).toEqual(['header.idempotency-key']);
    const [none] = await h.database.sql<{ n: number }[]>`select count(*)::int as n from users where email = ${other.email}`;
    expect(none!.n).toBe(0);

    const created = (await allEvents(admin.token, '&name=user.created')).filter((e) => e.data.id === first.body.id);
    expect(created).toHaveLength(1);

    // Another key is another operation.
    const again = await h.request('POST', '/users', { token: admin.token, body: input, headers: { 'Idempotency-Key': randomUUID() } });
    expectProblem(again, 409);
  });

  it('keeps keys apart per caller', async () => {
    const [one, two] = [await h.user('admin'), await h.user('admin')];
    const key = randomUUID();
    const a = await h.request('POST', '/users', { token: one.token, body: newUser(), headers: { 'Idempotency-Key': key } });
    const b = await h.request('POST', '/users', { token: two.token, body: newUser(), headers: { 'Idempotency-Key': key } });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.id).not.toBe(b.body.id);
  });
});

describe('GET /users', () => {
  it('pages every user exactly once, oldest first, and filters by role and status', async () => {
    const admin = await h.user('admin');
    for (let i = 0; i < 7; i++) await h.request('POST', '/users', { token: admin.token, body: newUser('client') });
    const [{ n: total } = { n: 0 }] = await h.database.sql<{ n: number }[]>`select count(*)::int as n from users`;

    const seen: any[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const res: ApiResponse = await h.request('GET', `/users?limit=3${after ? `&after=${after}` : ''}`, { token: admin.token });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items);
      after = res.body.nextCursor;
      pages++;
    } while (after && pages < 100);

    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((u) => u.id)).size).toBe(total);
    expect(pages).toBe(Math.ceil(total / 3));
    const order = seen.map((u) => `${u.createdAt}|${u.id}`);
    expect(order).toEqual([...order].sort());
    for (const user of seen) expect(user.passwordHash).toBeUndefined();

    const clients = await h.request('GET', '/users?role=client&limit=200', { token: admin.token });
    expect(clients.body.items.length).toBeGreaterThanOrEqual(7);
    expect(new Set(clients.body.items.map((u: any) => u.role))).toEqual(new Set(['client']));

    const victim = clients.body.items[0];
    await h.request('PATCH', `/users/${victim.id}`, { token: admin.token, body: { status: 'deactivated' } });
    const deactivated = await h.request('GET', '/users?status=deactivated&limit=200', { token: admin.token });
    expect(deactivated.body.items.map((u: any) => u.id)).toContain(victim.id);
    expect(new Set(deactivated.body.items.map((u: any) => u.status))).toEqual(new Set(['deactivated']));
  });

  it('refuses a cursor it did not hand out', async () => {
    const admin = await h.user('admin');
    const res = await h.request('GET', '/users?after=bm90LWEtY3Vyc29y', { token: admin.token });
    expectProblem(res, 422);
    expect(fieldsOf(res)).toEqual(['query.after']);
  });
});

describe('what a refused login tells', () => {
  it('answers an unknown e-mail, a wrong password and a deactivated user alike, and is never cached', async () => {
    const admin = await h.user('admin');
    const [known, gone] = [await h.user('worker'), await h.user('worker')];
    await h.request('PATCH', `/users/${gone.id}`, { token: admin.token, body: { status: 'deactivated' } });
    const refusals = await Promise.all([
      h.request('POST', '/auth/login', { body: { email: `nobody-${gone.id}@ates.local`, password: known.password } }),
      h.request('POST', '/auth/login', { body: { email: known.email, password: `${known.password}-wrong` } }),
      h.request('POST', '/auth/login', { body: { email: gone.email, password: gone.password } }),
    ]);
    for (const refused of refusals) {
      expectProblem(refused, 401);
      expect(refused.body.detail).toBe('wrong e-mail or password');
      expect(refused.headers.get('cache-control')).toBe('no-store');
    }
    const login = await h.request('POST', '/auth/login', { body: { email: known.email, password: known.password } });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('no-store');
    expect(login.headers.get('x-content-type-options')).toBe('nosniff');
    const me = await h.request('GET', '/me', { token: login.body.token });
    expect(me.headers.get('cache-control')).toBe('no-store');
  });
});
