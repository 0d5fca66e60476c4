// Statecharts as people draw them, driven through the HTTP API on real servers: a parallel review whose regions
// join, guards combined with or / not, dotted user events, deep history, always, and an `after` inside a nested
// state (on the time-skipping server, so a day passes in moments).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let worker: TestUser;
let manager: TestUser;
let stranger: TestUser;
beforeAll(async () => {
  h = await startHarness({ timeSkipping: true });
  [admin, worker, manager, stranger] = [await h.user('admin'), await h.user('worker'), await h.user('manager'), await h.user('worker')];
});
afterAll(async () => h?.stop());

async function saveType(key: string, definition: Record<string, unknown>) {
  const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key, name: key, definition, input: { startRoles: ['admin', 'manager', 'worker'] } } });
  expect(saved.status, JSON.stringify(saved.body)).toBe(201);
}

async function start(type: string, by: TestUser = manager) {
  const created = await h.request('POST', '/issues', { token: by.token, body: { type, title: `a ${type}` } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; state: string; states: string[]; allowedEvents: string[]; status: string };
}

const send = (id: string, type: string, by: TestUser) => h.request('POST', `/issues/${id}/events`, { token: by.token, body: { type } });
const read = async (id: string, by: TestUser = manager) => (await h.request('GET', `/issues/${id}`, { token: by.token })).body;
const history = async (id: string) =>
  (await h.request('GET', `/issues/${id}/history`, { token: manager.token })).body.items.map((t: any) => [t.from, t.event, t.to]);

describe('a parallel review that joins', () => {
  beforeAll(() =>
    saveType('contract', {
      initial: 'drafting',
      states: {
        drafting: { on: { submit: 'review' } },
        review: {
          type: 'parallel',
          states: {
            legal: { initial: 'pending', states: { pending: { on: { 'legal.ok': 'ok', 'legal.reject': '#contract.drafting' } }, ok: { type: 'final' } } },
            qa: { initial: 'pending', states: { pending: { on: { 'qa.ok': 'ok' } }, ok: { type: 'final' } } },
          },
          onDone: 'approved',
        },
        approved: { on: { sign: 'signed' } },
        signed: { type: 'final' },
      },
    }),
  );

  it('shows every region, leaves the parallel state once both are done, and says where it was', async () => {
    const issue = await start('contract');
    const submitted = await send(issue.id, 'submit', manager);
    expect(submitted.body).toMatchObject({
      state: 'review.legal.pending|review.qa.pending',
      states: ['review.legal.pending', 'review.qa.pending'],
      allowedEvents: ['legal.ok', 'legal.reject', 'qa.ok'],
    });
    const half = await send(issue.id, 'legal.ok', manager);
    expect(half.status, JSON.stringify(half.body)).toBe(200);
    expect(half.body.states).toEqual(['review.legal.ok', 'review.qa.pending']);
    expect(half.body.allowedEvents).toEqual(['qa.ok']);
    // The read model and the list show each region: a filter by a region or by the parallel state finds the issue.
    expect((await read(issue.id)).states).toEqual(['review.legal.ok', 'review.qa.pending']);
    for (const state of ['review.qa.pending', 'review.legal.ok', 'review', 'review.qa']) {
      const listed = await h.request('GET', `/issues?type=contract&state=${state}`, { token: manager.token });
      expect(listed.body.items.map((i: any) => i.id), state).toEqual([issue.id]);
    }
    for (const state of ['review.legal.pending', 'approved', 'rev']) {
      const listed = await h.request('GET', `/issues?type=contract&state=${state}`, { token: manager.token });
      expect(listed.body.items, state).toEqual([]);
    }

    const joined = await send(issue.id, 'qa.ok', manager);
    expect(joined.body).toMatchObject({ state: 'approved', states: ['approved'], allowedEvents: ['sign'] });
    expect(await history(issue.id)).toEqual([
      [null, 'issue.created', 'drafting'],
      ['drafting', 'submit', 'review.legal.pending|review.qa.pending'],
      ['review.legal.pending|review.qa.pending', 'legal.ok', 'review.legal.ok|review.qa.pending'],
      ['review.legal.ok|review.qa.pending', 'qa.ok', 'approved'],
    ]);
    expect((await send(issue.id, 'sign', manager)).body.status).toBe('done');
  });

  it('refuses a dotted event the current state does not take, and one the product sends itself', async () => {
    const issue = await start('contract');
    expect((await send(issue.id, 'legal.ok', manager)).status).toBe(409);
    const system = await send(issue.id, 'assignee.assigned', manager);
    expect(system.status).toBe(422);
    expect(system.body.errors[0].field).toBe('body.type');
    expect((await read(issue.id)).state).toBe('drafting');
  });

  it('refuses at save time what no user could send, naming the transition', async () => {
    const saved = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: { key: 'undrivable', name: 'x', definition: { initial: 'a', states: { a: { on: { 'Legal.OK': 'b', 'xstate.done.state.a': 'b' } }, b: {} } } },
    });
    expect(saved.status).toBe(422);
    expect(saved.body.errors.map((e: any) => e.field)).toEqual(['body.definition.states.a.on.Legal.OK', 'body.definition.states.a.on.xstate.done.state.a']);
  });
});

describe('guards combined with or and not', () => {
  beforeAll(() =>
    saveType('ticket', {
      initial: 'todo',
      context: { assigneeId: null },
      states: {
        todo: {
          on: {
            take: { target: 'todo', actions: [{ type: 'set', params: { assigneeId: '$event.actor.id' } }] },
            // The assignee or a manager may start work; nobody may close it while it is still unassigned.
            start: { target: 'doing', guard: { type: 'or', params: { guards: ['isAssignee', { type: 'hasRole', params: { roles: ['manager'] } }] } } },
            close: { target: 'closed', guard: { type: 'not', params: { guards: [{ type: 'contextEquals', params: { field: 'assigneeId', value: null } }] } } },
          },
        },
        doing: { on: { close: 'closed' } },
        closed: { type: 'final' },
      },
    }),
  );

  it('lets the assignee or a manager start, nobody else; not(unassigned) gates close', async () => {
    const byManager = await start('ticket', worker);
    expect(byManager.allowedEvents).toEqual(['take']);
    expect((await send(byManager.id, 'close', manager)).status).toBe(403);
    expect((await send(byManager.id, 'start', manager)).body.state).toBe('doing');

    const byAssignee = await start('ticket', worker);
    const took = await send(byAssignee.id, 'take', worker);
    expect(took.body.allowedEvents).toEqual(['close', 'start', 'take']);
    // Neither the assignee nor a manager: the issue is not the stranger's to see, let alone start.
    expect((await send(byAssignee.id, 'start', stranger)).status).toBe(404);
    expect((await send(byAssignee.id, 'start', worker)).body.state).toBe('doing');
  });

  it('refuses a malformed combinator at save time, naming it', async () => {
    const saved = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: { key: 'badguard', name: 'x', definition: { initial: 'a', states: { a: { on: { go: { target: 'a', guard: { type: 'not', params: { guards: ['isAssignee', 'isAssignee'] } } } } } } } },
    });
    expect(saved.status).toBe(422);
    expect(saved.body.errors).toEqual([{ field: 'body.definition.states.a.on.go.guard.params.guards', message: 'not takes exactly one guard' }]);
  });
});

describe('history, always, and after inside a nested state', () => {
  beforeAll(() =>
    saveType('repair', {
      initial: 'work',
      context: { checks: 0 },
      states: {
        work: {
          initial: 'diagnose',
          on: { pause: 'paused' },
          states: {
            diagnose: { on: { found: 'fix' } },
            fix: {
              initial: 'parts',
              states: {
                parts: { on: { arrived: 'fitting' }, after: { '1d': { target: '#repair.escalated' } } },
                fitting: { on: { fitted: '#repair.check' } },
              },
            },
            hist: { type: 'history', history: 'deep' },
          },
        },
        paused: { on: { resume: 'work.hist' } },
        check: {
          entry: [{ type: 'increment', params: { field: 'checks' } }],
          always: [{ target: 'done', guard: { type: 'contextEquals', params: { field: 'checks', value: 1 } } }],
        },
        escalated: { on: { resume: 'work' } },
        done: { type: 'final' },
      },
    }),
  );

  it('resumes where it paused (deep history), passes through a state that always moves on', async () => {
    const issue = await start('repair');
    await send(issue.id, 'found', manager);
    expect((await send(issue.id, 'pause', manager)).body.state).toBe('paused');
    expect((await send(issue.id, 'resume', manager)).body.state).toBe('work.fix.parts');
    await send(issue.id, 'arrived', manager);
    const fitted = await send(issue.id, 'fitted', manager);
    expect(fitted.body).toMatchObject({ state: 'done', status: 'done', context: { checks: 1 } });
  });

  it('fires a nested state\'s after delay a day later, and not once the state is left', async () => {
    const late = await start('repair');
    const left = await start('repair');
    for (const id of [late.id, left.id]) await send(id, 'found', manager);
    await send(left.id, 'arrived', manager);
    await h.time!.skip(86_400_000 + 60_000);
    for (let i = 0; i < 100 && (await read(late.id)).state !== 'escalated'; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await read(late.id)).state).toBe('escalated');
    expect((await history(late.id)).at(-1)).toEqual(['work.fix.parts', 'xstate.after.1d.repair.work.fix.parts', 'escalated']);
    expect((await read(left.id)).state).toBe('work.fix.fitting');
  });
});
