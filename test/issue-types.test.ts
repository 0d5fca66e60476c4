// Issue types as versioned statecharts over HTTP: validation on save (422 naming the JSON path), version
// pinning of running issues, events refused by state (409) or guard (403), visibility, listing, idempotent start.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let manager: TestUser;
let worker: TestUser;
let stranger: TestUser;
beforeAll(async () => {
  h = await startHarness();
  [admin, manager, worker, stranger] = await Promise.all([h.user('admin'), h.user('manager'), h.user('worker'), h.user('worker')]);
});
afterAll(() => h?.stop());

const saveType = (key: string, definition: Record<string, unknown>, token = admin.token) =>
  h.request('POST', '/issue-types', { token, body: { key, name: `Type ${key}`, definition } });

async function startIssue(user: TestUser, type: string, title: string, context: Record<string, unknown> = {}) {
  const created = await h.request('POST', '/issues', { token: user.token, body: { type, title, context } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

async function sendEvent(user: TestUser, issueId: string, type: string, data: Record<string, unknown> = {}) {
  return h.request('POST', `/issues/${issueId}/events`, { token: user.token, body: { type, data } });
}

/** a → (go) → `goTo`; the entry of `a` sets a greeting, `go` counts hops and emits a domain event. */
const relay = (goTo: string) => ({
  id: 'relay',
  initial: 'a',
  context: { hops: 0 },
  states: {
    a: {
      entry: [{ type: 'set', params: { greeting: 'hello {{context.title}}' } }],
      on: {
        go: {
          target: goTo,
          actions: [
            { type: 'increment', params: { field: 'hops' } },
            { type: 'emit', params: { name: 'relay.went', version: 1, data: { issueId: '$issue.id', to: goTo } } },
          ],
        },
      },
    },
    b: { on: { back: 'a' } },
    c: { on: { back: 'a' } },
  },
});

/** A definition with one flaw planted by `mutate`, to check where the 422 points. */
const flawed = (mutate: (states: Record<string, any>) => void) => {
  const definition = structuredClone(relay('b')) as { states: Record<string, any> };
  mutate(definition.states);
  return definition;
};

describe('saving issue types', () => {
  it('answers 422 naming the JSON path of each flaw, and saves nothing', async () => {
    expect((await saveType('relay', relay('b'))).status).toBe(201);
    const cases: [string, (states: Record<string, any>) => void, string][] = [
      ['unknown action', (s) => (s.a.entry = [{ type: 'launchRocket' }]), 'body.definition.states.a.entry[0].type'],
      ['unknown action in a transition', (s) => s.a.on.go.actions.push('teleport'), 'body.definition.states.a.on.go.actions[2].type'],
      ['unknown guard', (s) => (s.a.on.go.guard = { type: 'isLucky' }), 'body.definition.states.a.on.go.guard.type'],
      ['bad guard params', (s) => (s.a.on.go.guard = { type: 'hasRole', params: { roles: ['pirate'] } }), 'body.definition.states.a.on.go.guard.params.roles[0]'],
      ['missing guard params', (s) => (s.a.on.go.guard = { type: 'isUser' }), 'body.definition.states.a.on.go.guard.params'],
      ['bad action params', (s) => (s.a.on.go.actions[0] = { type: 'increment', params: { field: 'hops', by: 'lots' } }), 'body.definition.states.a.on.go.actions[0].params.by'],
      ['missing target', (s) => (s.a.on.go.target = 'nowhere'), 'body.definition.states.a.on.go.target'],
      ['missing target in shorthand', (s) => (s.b.on.back = 'z'), 'body.definition.states.b.on.back'],
      ['bad after delay', (s) => (s.b.after = { soon: 'c' }), 'body.definition.states.b.after.soon'],
      ['bad expression', (s) => (s.a.entry = [{ type: 'set', params: { greeting: '$ctx.title' } }]), 'body.definition.states.a.entry[0].params'],
      ['bad interpolation', (s) => (s.a.entry = [{ type: 'set', params: { greeting: 'hi {{title}}' } }]), 'body.definition.states.a.entry[0].params'],
    ];
    for (const [what, mutate, field] of cases) {
      const saved = await saveType('relay', flawed(mutate));
      expect(saved.status, `${what}: ${JSON.stringify(saved.body)}`).toBe(422);
      expect(saved.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(
        saved.body.errors.map((e: { field: string }) => e.field),
        `${what}: ${JSON.stringify(saved.body)}`,
      ).toContain(field);
    }
    const type = await h.request('GET', '/issue-types/relay', { token: worker.token });
    expect(type.body.versions).toEqual([1]);
  });

  it('lets only admins save a type', async () => {
    for (const user of [manager, worker]) {
      const saved = await saveType('not_allowed', relay('b'), user.token);
      expect(saved.status).toBe(403);
    }
    expect((await h.request('GET', '/issue-types/not_allowed', { token: admin.token })).status).toBe(404);
    expect((await h.request('POST', '/issue-types', { body: { key: 'x', name: 'x', definition: relay('b') } })).status).toBe(401);
  });

  it('applies a new version to new issues only', async () => {
    const key = 'relay_versions';
    const v1 = await saveType(key, relay('b'));
    expect(v1.status, JSON.stringify(v1.body)).toBe(201);
    expect(v1.body.version).toBe(1);
    const x = await startIssue(worker, key, 'X');
    expect(x).toMatchObject({ version: 1, state: 'a', context: { greeting: 'hello X', hops: 0 } });

    const v2 = await saveType(key, relay('c'));
    expect(v2.status, JSON.stringify(v2.body)).toBe(201);
    expect(v2.body.version).toBe(2);
    const y = await startIssue(worker, key, 'Y');
    expect(y).toMatchObject({ version: 2, state: 'a' });

    const xWent = await sendEvent(worker, x.id, 'go');
    expect(xWent.status, JSON.stringify(xWent.body)).toBe(200);
    expect(xWent.body).toMatchObject({ version: 1, state: 'b', context: { hops: 1 } });
    const yWent = await sendEvent(worker, y.id, 'go');
    expect(yWent.body).toMatchObject({ version: 2, state: 'c', context: { hops: 1 } });

    const type = await h.request('GET', `/issue-types/${key}`, { token: worker.token });
    expect(type.status).toBe(200);
    expect(type.body).toMatchObject({ key, version: 2, versions: [2, 1] });
    expect(type.body.definition.states.a.on.go.target).toBe('c');
    const listed = [];
    for (let after = ''; ; ) {
      const page = await h.request('GET', `/issue-types?limit=200${after && `&after=${after}`}`, { token: worker.token });
      listed.push(...page.body.items);
      if (!page.body.nextCursor) break;
      after = page.body.nextCursor;
    }
    expect(listed.filter((t: { key: string }) => t.key === key)).toEqual([expect.objectContaining({ key, version: 2 })]);

    // The read model and the event log agree with what each issue's own version did.
    for (const [issue, to] of [
      [x, 'b'],
      [y, 'c'],
    ] as const) {
      const read = await h.request('GET', `/issues/${issue.id}`, { token: worker.token });
      expect(read.body).toMatchObject({ state: to, version: issue.version });
      const events = await h.database.sql`select data from domain_events where name = 'relay.went' and data->>'issueId' = ${issue.id}`;
      expect(events.map((e) => e.data)).toEqual([{ issueId: issue.id, to }]);
    }
  });
});

describe('sending events', () => {
  // draft --submit (its creator)--> review --approve|reject (a manager)--> approved | draft
  const reviewFlow = {
    initial: 'draft',
    states: {
      draft: { on: { submit: { target: 'review', guard: { type: 'isUser', params: { field: 'creatorId' } } } } },
      review: {
        on: {
          approve: { target: 'approved', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } } },
          reject: { target: 'draft', guard: { type: 'hasRole', params: { roles: ['manager'] } } },
        },
      },
      approved: { type: 'final' },
    },
  };
  beforeAll(async () => {
    const saved = await saveType('review_flow', reviewFlow);
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
  });

  it('refuses an event the state does not take (409) or a guard refuses (403), and shows each caller what they may send', async () => {
    const issue = await startIssue(worker, 'review_flow', 'Fence repair');
    expect(issue.allowedEvents).toEqual(['submit']);
    expect((await h.request('GET', `/issues/${issue.id}`, { token: worker.token })).body.allowedEvents).toEqual(['submit']);
    expect((await h.request('GET', `/issues/${issue.id}`, { token: manager.token })).body.allowedEvents).toEqual([]);

    const early = await sendEvent(manager, issue.id, 'approve');
    expect(early.status).toBe(409);
    expect(early.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(early.body).toMatchObject({ status: 409, type: expect.stringMatching(/event-not-allowed$/) });
    expect(early.body.detail).toMatch(/approve/);
    const unknown = await sendEvent(worker, issue.id, 'dance');
    expect(unknown.status).toBe(409);

    const notCreator = await sendEvent(manager, issue.id, 'submit');
    expect(notCreator.status).toBe(403);
    expect(notCreator.body).toMatchObject({ status: 403 });

    const system = await sendEvent(worker, issue.id, 'worker.available');
    expect(system.status).toBe(422);
    expect(system.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.type']);

    const submitted = await sendEvent(worker, issue.id, 'submit');
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    expect(submitted.body).toMatchObject({ state: 'review', allowedEvents: [] });
    expect((await h.request('GET', `/issues/${issue.id}`, { token: manager.token })).body.allowedEvents.sort()).toEqual(['approve', 'reject']);
    expect((await h.request('GET', `/issues/${issue.id}`, { token: admin.token })).body.allowedEvents).toEqual(['approve']);
    expect((await sendEvent(worker, issue.id, 'approve')).status).toBe(403);

    const approved = await sendEvent(manager, issue.id, 'approve');
    expect(approved.body).toMatchObject({ state: 'approved', status: 'done' });
    expect((await sendEvent(manager, issue.id, 'reject')).status).toBe(409);

    // Refused events leave no trace: the history holds exactly the steps taken.
    const history = await h.request('GET', `/issues/${issue.id}/history`, { token: worker.token });
    expect(history.body.items.map((t: any) => [t.from, t.event, t.to, t.actorId])).toEqual([
      [null, 'issue.created', 'draft', worker.id],
      ['draft', 'submit', 'review', worker.id],
      ['review', 'approve', 'approved', manager.id],
    ]);
  });

  it('hides an issue from users not involved in it', async () => {
    const issue = await startIssue(worker, 'review_flow', 'Private matter');
    expect((await h.request('GET', `/issues/${issue.id}`, { token: stranger.token })).status).toBe(404);
    expect((await h.request('GET', `/issues/${issue.id}/history`, { token: stranger.token })).status).toBe(404);
    expect((await h.request('GET', `/issues/${randomUUID()}`, { token: worker.token })).status).toBe(404);
    expect((await h.request('GET', `/issues/${issue.id}`, { token: manager.token })).status).toBe(200);
    const listed = await h.request('GET', '/issues?type=review_flow', { token: stranger.token });
    expect(listed.body.items).toEqual([]);
  });
});

describe('listing issues', () => {
  it('filters by type, state and assignee=me, newest first, page by page', async () => {
    // todo --claim (anyone; becomes the assignee)--> doing
    const chore = {
      initial: 'todo',
      states: {
        todo: { on: { claim: { target: 'doing', actions: [{ type: 'set', params: { assigneeId: '$event.actor.id' } }] } } },
        doing: { on: { finish: { target: 'finished', guard: 'isAssignee' } } },
        finished: { type: 'final' },
      },
    };
    expect((await saveType('chore', chore)).status).toBe(201);
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await startIssue(worker, 'chore', `Chore ${i}`));
    for (const issue of created.slice(0, 3)) expect((await sendEvent(worker, issue.id, 'claim')).status).toBe(200);
    expect((await sendEvent(manager, created[3]!.id, 'claim')).status).toBe(200);

    const list = async (user: TestUser, query: string) => {
      const answer = await h.request('GET', `/issues?${query}`, { token: user.token });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return answer.body as { items: { id: string; state: string; assigneeId: string | null }[]; nextCursor: string | null };
    };
    const ids = (issues: { id: string }[]) => issues.map((i) => i.id);
    const newestFirst = ids([...created].reverse());

    expect(ids((await list(worker, 'type=chore')).items)).toEqual(newestFirst);
    expect(ids((await list(worker, 'type=chore&state=doing')).items)).toEqual(newestFirst.slice(1));
    expect(ids((await list(worker, 'type=chore&state=todo')).items)).toEqual(newestFirst.slice(0, 1));
    expect(ids((await list(worker, 'assignee=me')).items)).toEqual(newestFirst.slice(2));
    expect(ids((await list(manager, 'assignee=me')).items)).toEqual([created[3]!.id]);
    expect(ids((await list(manager, 'type=chore&state=doing&assignee=me')).items)).toEqual([created[3]!.id]);
    expect((await list(worker, 'type=relay&state=doing')).items).toEqual([]);

    const pages: string[][] = [];
    let after: string | null = null;
    do {
      const page = await list(worker, `type=chore&limit=2${after ? `&after=${after}` : ''}`);
      pages.push(ids(page.items));
      after = page.nextCursor;
    } while (after && pages.length < 10);
    expect(pages).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);

    const forged = await h.request('GET', '/issues?after=bm90LWEtY3Vyc29y', { token: worker.token });
    expect(forged.status).toBe(422);
    expect(forged.body.errors[0].field).toBe('query.after');
  });
});

describe('starting an issue with an Idempotency-Key', () => {
  it('answers the same issue to every retry and starts one workflow', async () => {
    const title = `Idempotent ${randomUUID()}`;
    const post = (user: TestUser, key: string) =>
      h.request('POST', '/issues', { token: user.token, body: { type: 'review_flow', title }, headers: { 'Idempotency-Key': key } });
    const key = randomUUID();
    const [first, second] = await Promise.all([post(worker, key), post(worker, key)]);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    const third = await post(worker, key);
    expect(third.body.id).toBe(first.body.id);

    const [{ n }] = (await h.database.sql`select count(*)::int as n from issues where title = ${title}`) as unknown as [{ n: number }];
    expect(n).toBe(1);
    const runs = [];
    for await (const run of h.services.deps.temporal.workflow.list({ query: `WorkflowId = "issue-${first.body.id}"` })) runs.push(run);
    expect(runs).toHaveLength(1);

    // Another key, or the same key from another user, is another issue.
    const other = await post(worker, randomUUID());
    const fromManager = await post(manager, key);
    expect(new Set([first.body.id, other.body.id, fromManager.body.id]).size).toBe(3);
    const [{ n: total }] = (await h.database.sql`select count(*)::int as n from issues where title = ${title}`) as unknown as [{ n: number }];
    expect(total).toBe(3);
  });
});
