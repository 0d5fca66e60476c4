// Input that PostgreSQL cannot store or that costs out of proportion never reaches a workflow: lone UTF-16
// surrogates, NUL and deep nesting are refused at the edge with 422 naming the field, and change nothing. Behind
// the edge, a step the database refuses fails visibly (Issue.StepFailed) and the issue stays in its last
// committed state, taking events again: nothing can wedge it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkflowId, sendEventUpdate } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let manager: TestUser;
beforeAll(async () => {
  h = await startHarness();
  // A worker, so that tasks are assigned.
  [admin, manager] = await Promise.all([h.user('admin'), h.user('manager'), h.user('worker')]);
});
afterAll(() => h?.stop());

/** JSON text of `{"deeper": {"deeper": … {}}}`, `depth` levels down: written as text, since JSON.stringify recurses. */
const nested = (depth: number) => `${'{"deeper":'.repeat(depth)}{}${'}'.repeat(depth)}`;

const countIssues = async () => (await h.database.sql`select count(*)::int as n from issues`)[0]!.n as number;

describe('input refused at the edge', () => {
  it('refuses a lone surrogate in a task title with 422 naming the field, and creates nothing', async () => {
    const before = await countIssues();
    const answer = await h.request('POST', '/tasks', { token: manager.token, body: { title: 't\ud800' } });
    expect(answer.status).toBe(422);
    expect(answer.body.errors).toEqual([{ field: 'body.title', message: expect.stringMatching(/well-formed Unicode/) }]);
    expect(await countIssues()).toBe(before);
  });

  it('refuses lone surrogates in event data, in keys, and NUL, naming each field', async () => {
    // An event that takes a string: the type's own input check would accept any string, so only the edge refuses.
    const saved = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: {
        key: 'poison_target',
        name: 'Poison target',
        definition: { initial: 'open', states: { open: { on: { note: 'noted' } }, noted: {} } },
        input: { events: { note: { type: 'object', properties: { note: { type: 'string' } } } } },
      },
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const created = await h.request('POST', '/issues', { token: manager.token, body: { type: 'poison_target', title: 'Poison target' } });
    expect(created.status).toBe(201);
    const send = (data: Record<string, unknown>) =>
      h.request('POST', `/issues/${created.body.id}/events`, { token: manager.token, body: { type: 'note', data } });
    const [value, key, nul] = [await send({ note: 'x\udfff' }), await send({ ['k\ud83d']: 1 }), await send({ note: 'a\u0000b' })];
    expect([value.status, key.status, nul.status]).toEqual([422, 422, 422]);
    expect(value.body.errors[0]).toMatchObject({ field: 'body.data.note', message: expect.stringMatching(/well-formed Unicode/) });
    expect(key.body.errors[0]).toMatchObject({ field: 'body.data.k\ud83d', message: expect.stringMatching(/key/) });
    expect(nul.body.errors[0]).toMatchObject({ field: 'body.data.note', message: expect.stringMatching(/NUL/) });
    // A well-formed pair (an emoji) is text like any other.
    const emoji = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Ship it 🚀' } });
    expect(emoji.status).toBe(201);
    expect(emoji.body.title).toBe('Ship it 🚀');
    // The issue took none of it and still takes a note.
    const issue = await h.request('GET', `/issues/${created.body.id}`, { token: manager.token });
    expect(issue.body).toMatchObject({ state: 'open', step: created.body.step });
    expect((await send({ note: 'fine' })).status).toBe(200);
  });

  it('refuses nesting deeper than 64 levels in a type definition and in a context with 422, and stays responsive', async () => {
    const json = { 'Content-Type': 'application/json' };
    const deepMeta = await h.request('POST', '/issue-types', {
      token: admin.token,
      headers: json,
      rawBody: `{"key":"deep_meta","name":"Deep","definition":{"initial":"a","meta":${nested(20_000)},"states":{"a":{}}}}`,
    });
    expect(deepMeta.status).toBe(422);
    expect(deepMeta.body.errors[0].field).toMatch(/^body\.definition\.meta(\.deeper)+$/);
    expect(deepMeta.body.errors[0].message).toMatch(/64 levels/);
    const deepContext = await h.request('POST', '/issues', {
      token: manager.token,
      headers: json,
      rawBody: `{"type":"task","title":"Deep","context":${nested(5000)}}`,
    });
    expect(deepContext.status).toBe(422);
    expect(deepContext.body.errors[0].field).toMatch(/^body\.context(\.deeper)+$/);
    const health = await h.request('GET', '/health');
    expect(health.status).toBe(200);
  });
});

describe('a step the database refuses', () => {
  it('fails visibly, leaves the issue in its last committed state, and the issue takes events again', async () => {
    const saved = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: {
        key: 'noted',
        name: 'Noted',
        definition: {
          initial: 'open',
          states: {
            open: { on: { note: { target: 'noted', actions: [{ type: 'set', params: { note: '$event.data.note' } }] } } },
            noted: { on: { reopen: 'open' } },
          },
        },
        input: { events: { note: { type: 'object', properties: { note: { type: 'string', maxLength: 200 } }, required: ['note'] } } },
      },
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const created = await h.request('POST', '/issues', { token: manager.token, body: { type: 'noted', title: 'Noted' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id: string = created.body.id;

    // Past the edge (a client of Temporal itself): a NUL in the context cannot be stored as jsonb.
    const handle = h.services.deps.temporal.workflow.getHandle(issueWorkflowId(id));
    const refused = handle.executeUpdate(sendEventUpdate, { args: [{ type: 'note', data: { note: 'bad\u0000note' }, actor: { id: manager.id, role: 'manager' } }] });
    await expect(refused).rejects.toMatchObject({ cause: { type: 'Issue.StepFailed' } });

    const stillOpen = await h.request('GET', `/issues/${id}`, { token: manager.token });
    expect(stillOpen.body).toMatchObject({ state: 'open', step: created.body.step, allowedEvents: ['note'] });
    const noted = await h.request('POST', `/issues/${id}/events`, { token: manager.token, body: { type: 'note', data: { note: 'fine' } } });
    expect(noted.status, JSON.stringify(noted.body)).toBe(200);
    expect(noted.body).toMatchObject({ state: 'noted', step: created.body.step + 1, context: { note: 'fine' } });
    const transitions = await h.database.sql`select step, event from issue_transitions where issue_id = ${id} order by step`;
    expect(transitions.map((row) => row.event)).toEqual(['issue.created', 'note']);
  });
});
