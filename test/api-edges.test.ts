// Edges of the HTTP API that many routes share, each checked over HTTP against the real servers.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type ApiResponse, type Harness, type TestUser } from './support/harness.js';

function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

let h: Harness;
let admin: TestUser;
beforeAll(async () => {
  h = await startHarness();
  admin = await h.user('admin');
});
afterAll(() => h?.stop());

describe('methods a path does not serve', () => {
  it('answer 405 with Allow listing the methods the path serves; unknown paths stay 404', async () => {
    const put = await h.request('PUT', '/tasks', { token: admin.token, body: {} });
    expectProblem(put, 405);
    expect(put.headers.get('allow')).toBe('POST');
    const remove = await h.request('DELETE', `/issues/${randomUUID()}`, { token: admin.token });
    expectProblem(remove, 405);
    expect(remove.headers.get('allow')).toBe('GET, HEAD');
    const patch = await h.request('PATCH', `/billing/days/2026-01-01`);
    expectProblem(patch, 405);
    expect(patch.headers.get('allow')).toBe('GET, HEAD');
    expectProblem(await h.request('PUT', '/no-such-thing', { token: admin.token }), 404);
    expectProblem(await h.request('GET', `/issues/${randomUUID()}/nothing-here`, { token: admin.token }), 404);
  });
});
