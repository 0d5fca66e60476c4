// Long-lived issues continue-as-new (the test server suggests it after a few hundred events):
// state, context and pending timers must carry over; refused events must leave history untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkflowId } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
beforeAll(async () => {
  h = await startHarness();
  admin = await h.user('admin');
  const saved = await h.request('POST', '/issue-types', {
    token: admin.token,
    body: {
      key: 'counter',
      name: 'Counter',
      definition: {
        initial: 'counting',
        context: { pings: 0 },
        states: {
          counting: {
            // Long enough for 120 pings on a loaded machine; short enough to wait for.
            after: { '20s': 'expired' },
            on: { ping: { actions: [{ type: 'increment', params: { field: 'pings' } }] }, stop: 'stopped' },
          },
          expired: { type: 'final' },
          stopped: { type: 'final' },
        },
      },
    },
  });
  expect(saved.status, JSON.stringify(saved.body)).toBe(201);
});
afterAll(() => h?.stop());

const runsOf = async (issueId: string) => {
  const runs: string[] = [];
  for await (const run of h.services.deps.temporal.workflow.list({ query: `WorkflowId="${issueWorkflowId(issueId)}"` })) runs.push(run.runId);
  return runs;
};

describe('continue-as-new', () => {
  it('carries state, context and the pending timer into the new run', async () => {
    const created = await h.request('POST', '/issues', { token: admin.token, body: { type: 'counter', title: 'Busy counter' } });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const started = Date.now();
    for (let i = 0; i < 120; i++) {
      const res = await h.request('POST', `/issues/${id}/events`, { token: admin.token, body: { type: 'ping' } });
      expect(res.status).toBe(200);
      expect(res.body.context.pings).toBe(i + 1);
    }
    await expect.poll(() => runsOf(id).then((runs) => runs.length), { timeout: 10_000 }).toBeGreaterThan(1);
    expect((await h.request('GET', `/issues/${id}`, { token: admin.token })).body).toMatchObject({ state: 'counting', context: { pings: 120 } });

    // The 20 s timer was armed in the first run; it must still fire, not restart from zero.
    await expect
      .poll(async () => (await h.request('GET', `/issues/${id}`, { token: admin.token })).body.state, { timeout: 30_000, interval: 250 })
      .toBe('expired');
    expect(Date.now() - started).toBeLessThan(20_000 + 8_000);
  });

  it('refuses an event in the validator without adding to the history', async () => {
    const created = await h.request('POST', '/issues', { token: admin.token, body: { type: 'counter', title: 'Quiet counter' } });
    const handle = h.services.deps.temporal.workflow.getHandle(issueWorkflowId(created.body.id));
    const before = (await handle.fetchHistory()).events?.length;
    const refused = await h.request('POST', `/issues/${created.body.id}/events`, { token: admin.token, body: { type: 'fly' } });
    expect(refused.status).toBe(409);
    expect((await handle.fetchHistory()).events?.length).toBe(before);
  });
});
