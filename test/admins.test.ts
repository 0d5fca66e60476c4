// Someone can always manage users: the last active admin cannot be deactivated or demoted, not even by two admins
// removing each other at the same moment, and start-up brings an admin back when no active one is left.
// Passwords are at least 12 characters.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFirstAdmin } from '../lib/auth/first-admin.js';
import { LastAdminError, updateUser } from '../lib/auth/users.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
});
afterAll(() => h?.stop());

const activeAdmins = async () => (await h.database.sql`select id from users where role = 'admin' and status = 'active'`).map((row) => row.id as string);

describe('the last active admin', () => {
  it('stays, when two admins deactivate or demote each other at once', async () => {
    for (const change of [{ status: 'deactivated' }, { role: 'manager' }]) {
      const [a, b] = [await h.user('admin'), await h.user('admin')];
      // Only these two are active admins now.
      await h.database.sql`update users set status = 'deactivated' where role = 'admin' and id not in (${a.id}, ${b.id})`;
      // Through the API, the loser is refused either by the check (409) or, when the winner committed first, as a
      // deactivated caller (401) or a demoted one (403): all leave one active admin.
      const [byA, byB] = await Promise.all([
        h.request('PATCH', `/users/${b.id}`, { token: a.token, body: change }),
        h.request('PATCH', `/users/${a.id}`, { token: b.token, body: change }),
      ]);
      expect([byA.status, byB.status]).toContain(200);
      expect([byA.status, byB.status].filter((status) => status !== 200)).toEqual([expect.toSatisfy((status: number) => [401, 403, 409].includes(status))]);
      expect(await activeAdmins()).toHaveLength(1);
      // Both changes inside the same instant, past authentication: exactly one lands, the other is the last admin.
      const c = await h.user('admin');
      const [left] = await activeAdmins().then((ids) => ids.filter((id) => id !== c.id));
      const outcomes = await Promise.allSettled([updateUser(h.database.db, left!, change as never), updateUser(h.database.db, c.id, change as never)]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: expect.any(LastAdminError) });
      expect(await activeAdmins()).toHaveLength(1);
    }
  });

  it('is brought back at start-up when no active admin is left, with the configured password', async () => {
    const email = `root-${randomUUID()}@test.local`;
    const first = await h.user('admin');
    await h.database.sql`update users set status = 'deactivated' where role = 'admin'`;
    expect(await activeAdmins()).toEqual([]);
    expect(await ensureFirstAdmin(h.database.db, { email, password: 'a long enough password' })).toBe(true);
    expect(await activeAdmins()).toHaveLength(1);
    const login = await h.request('POST', '/auth/login', { body: { email, password: 'a long enough password' } });
    expect(login.status).toBe(200);
    expect(login.body.user).toMatchObject({ role: 'admin', status: 'active' });
    // An active admin exists now: nothing more is created.
    expect(await ensureFirstAdmin(h.database.db, { email: `other-${randomUUID()}@test.local`, password: 'another long password' })).toBe(false);
    // The configured e-mail belonging to a deactivated admin: that account is made active again.
    await h.database.sql`update users set status = 'deactivated' where role = 'admin'`;
    expect(await ensureFirstAdmin(h.database.db, { email: first.email, password: 'a new long password' })).toBe(true);
    expect(await activeAdmins()).toEqual([first.id]);
    expect((await h.request('POST', '/auth/login', { body: { email: first.email, password: 'a new long password' } })).status).toBe(200);
  });
});

describe('passwords', () => {
  it('are at least 12 characters', async () => {
    const admin = await h.user('admin');
    const short = await h.request('POST', '/users', { token: admin.token, body: { name: 'Shorty', email: `s-${randomUUID()}@test.local`, role: 'worker', password: 'password' } });
    expect(short.status).toBe(422);
    expect(short.body.errors).toEqual([{ field: 'body.password', message: expect.stringMatching(/at least 12 characters/) }]);
    const long = await h.request('POST', '/users', { token: admin.token, body: { name: 'Longy', email: `l-${randomUUID()}@test.local`, role: 'worker', password: 'correct horse battery' } });
    expect(long.status).toBe(201);
  });
});
