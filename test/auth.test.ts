import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.stop());

describe('login', () => {
  it('answers a token that identifies the user', async () => {
    const worker = await h.user('worker');
    const me = await h.request('GET', '/me', { token: worker.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: worker.id, role: 'worker', status: 'active' });
    expect(me.body.passwordHash).toBeUndefined();
  });

  it('refuses a wrong password with 401 problem+json', async () => {
    const worker = await h.user('worker');
    const res = await h.request('POST', '/auth/login', { body: { email: worker.email, password: 'wrong-password' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('deactivation', () => {
  it('refuses login and every old token of a deactivated user', async () => {
    const admin = await h.user('admin');
    const worker = await h.user('worker');
    const patch = await h.request('PATCH', `/users/${worker.id}`, { token: admin.token, body: { status: 'deactivated' } });
    expect(patch.status).toBe(200);
    expect((await h.request('GET', '/me', { token: worker.token })).status).toBe(401);
    const login = await h.request('POST', '/auth/login', { body: { email: worker.email, password: worker.password } });
    expect(login.status).toBe(401);
  });
});
