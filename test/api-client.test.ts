// A client generated from the OpenAPI document (openapi-typescript types in test/support/api-schema.d.ts, driven by
// openapi-fetch) runs a whole task lifecycle against the running API: every request and answer below is typed by
// the document alone, so a route that answers other than it documents, or a document a client cannot use, fails here.
import { randomUUID } from 'node:crypto';
import createClient from 'openapi-fetch';
import { afterAll, describe, expect, it } from 'vitest';
import { servedDocument } from '../scripts/openapi-document.js';
import type { paths } from './support/api-schema.js';
import { startHarness } from './support/harness.js';

const h = await startHarness();
afterAll(() => h.stop());

const api = createClient<paths>({ baseUrl: h.apiUrl });
/** The same client with a bearer token on every request. */
const signedIn = (token: string) => createClient<paths>({ baseUrl: h.apiUrl, headers: { Authorization: `Bearer ${token}` } });

/** The typed body of a successful answer; anything else fails with its status and problem. */
async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (data === undefined) throw new Error(`${response.status} from ${response.url}: ${JSON.stringify(error)}`);
  return data;
}

describe('a client generated from the OpenAPI document', () => {
  it('is generated from the document the running API serves', async () => {
    const served = await ok(api.GET('/openapi.json'));
    expect(served).toEqual(await servedDocument());
  });

  it('creates a worker, a task assigned to them, completes it as its assignee and reads the fee and the reward', async () => {
    // The first admin comes from the database, as `npm start` makes it; everything else goes through the client.
    const firstAdmin = await h.user('admin');
    const adminLogin = await ok(api.POST('/auth/login', { body: { email: firstAdmin.email, password: firstAdmin.password } }));
    expect(adminLogin.user).toMatchObject({ id: firstAdmin.id, role: 'admin' });
    const asAdmin = signedIn(adminLogin.token);

    const password = `typed client ${randomUUID()}`;
    const email = `typed-${randomUUID().slice(0, 8)}@test.local`;
    const worker = await ok(asAdmin.POST('/users', { body: { name: 'Typed Popug', email, role: 'worker', password } }));
    expect(worker).toMatchObject({ email, role: 'worker', status: 'active' });
    const workerLogin = await ok(api.POST('/auth/login', { body: { email, password } }));
    const asWorker = signedIn(workerLogin.token);
    expect(await ok(asWorker.GET('/me'))).toMatchObject({ id: worker.id, role: 'worker' });

    // The only active worker: the task's random assignee can be no one else.
    const task = await ok(asAdmin.POST('/tasks', { body: { title: 'Generate the parrot client', jiraId: 'POPUG-7' } }));
    expect(task).toMatchObject({ type: 'task', title: 'Generate the parrot client', state: 'open', status: 'active', assigneeId: worker.id });
    const { assignFeeCents, rewardCents } = task.context;
    expect(assignFeeCents).toEqual(expect.any(Number));
    expect(rewardCents).toEqual(expect.any(Number));

    const mine = await ok(asWorker.GET('/tasks/mine', { params: { query: { status: 'active' } } }));
    expect(mine.items.map(({ id, assigneeId }) => ({ id, assigneeId }))).toEqual([{ id: task.id, assigneeId: worker.id }]);

    // Only the assignee completes it: the admin's try is the documented 403, as a typed problem.
    const byAdmin = await asAdmin.POST('/tasks/{id}/complete', { params: { path: { id: task.id } } });
    expect(byAdmin.response.status).toBe(403);
    expect(byAdmin.error).toMatchObject({ status: 403, type: expect.stringContaining('forbidden') });

    const completed = await ok(asWorker.POST('/tasks/{id}/complete', { params: { path: { id: task.id } } }));
    expect(completed).toMatchObject({ id: task.id, state: 'done', status: 'done' });

    const readBack = await ok(asWorker.GET('/issues/{id}', { params: { path: { id: task.id } } }));
    expect(readBack).toMatchObject({ id: task.id, state: 'done', status: 'done', assigneeId: worker.id });
    const doneTasks = await ok(asWorker.GET('/tasks/mine', { params: { query: { status: 'done' } } }));
    expect(doneTasks.items.map(({ id }) => id)).toEqual([task.id]);

    // The worker's ledger: the fee charged on assignment, the reward credited on completion, newest first.
    const account = await ok(asWorker.GET('/billing/me'));
    const ofTask = account.entries.items.filter(({ issueId }) => issueId === task.id);
    expect(ofTask.map(({ kind, amountCents, userId }) => ({ kind, amountCents, userId }))).toEqual([
      { kind: 'reward', amountCents: rewardCents, userId: worker.id },
      { kind: 'assign_fee', amountCents: -Number(assignFeeCents), userId: worker.id },
    ]);
    expect(account.balanceCents).toBe(Number(rewardCents) - Number(assignFeeCents));

    // And as billing sees it: the worker's account among every account.
    const accounts = await ok(asAdmin.GET('/billing/accounts'));
    expect(accounts.items.find(({ userId }) => userId === worker.id)).toMatchObject({ name: 'Typed Popug', balanceCents: account.balanceCents });
  });
});
