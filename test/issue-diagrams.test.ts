// Diagrams over HTTP: every built-in type's chart as SVG and as Mermaid (by `format` or by Accept), an issue's chart
// with the states it is in highlighted (each region of a parallel state), and the 404s and 422s around them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinIssueTypes } from '../lib/issues/builtin-types.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let manager: TestUser;
let worker: TestUser;
let stranger: TestUser;
beforeAll(async () => {
  h = await startHarness();
  [admin, manager, worker, stranger] = await Promise.all([h.user('admin'), h.user('manager'), h.user('worker'), h.user('client')]);
});
afterAll(() => h?.stop());

const svgType = 'image/svg+xml; charset=utf-8';
const mermaidType = 'text/vnd.mermaid; charset=utf-8';

/** The ids of the states an SVG highlights. */
const highlighted = (svg: string) => [...svg.matchAll(/<g class="state active" data-state="([^"]+)">/g)].map(([, id]) => id);

const expectProblem = (response: { status: number; headers: Headers; body: any }, status: number) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.body.status).toBe(status);
};

describe('GET /issue-types/{key}/versions/{version}/diagram', () => {
  it.each(builtinIssueTypes.map((type) => [type.key]))('draws %s as SVG and as Mermaid', async (key) => {
    const path = `/issue-types/${key}/versions/1/diagram`;
    const svg = await h.request('GET', path, { token: worker.token });
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toBe(svgType);
    expect(svg.headers.get('vary')).toMatch(/Accept/);
    expect(svg.body).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="[\d.]+" height="[\d.]+"/);
    expect(svg.body).toContain(`data-state="${key}"`);
    expect(highlighted(svg.body)).toEqual([]);

    const mermaid = await h.request('GET', `${path}?format=mermaid`, { token: worker.token });
    expect(mermaid.status).toBe(200);
    expect(mermaid.headers.get('content-type')).toBe(mermaidType);
    expect(mermaid.body).toMatch(/^stateDiagram-v2\n {2}\[\*\] --> \w+\n/);
    expect(mermaid.body).not.toContain('classDef');

    // Without `format`, Accept decides; `format` wins over it.
    for (const accept of ['text/vnd.mermaid', 'text/plain;q=0.9, */*;q=0.1']) {
      const byAccept = await h.request('GET', path, { token: worker.token, headers: { Accept: accept } });
      expect(byAccept.headers.get('content-type'), accept).toBe(mermaidType);
      expect(byAccept.body).toBe(mermaid.body);
    }
    for (const accept of ['image/svg+xml', '*/*', 'image/*']) {
      const byAccept = await h.request('GET', path, { token: worker.token, headers: { Accept: accept } });
      expect(byAccept.headers.get('content-type'), accept).toBe(svgType);
    }
    const named = await h.request('GET', `${path}?format=svg`, { token: worker.token, headers: { Accept: 'text/plain' } });
    expect(named.headers.get('content-type')).toBe(svgType);
    expect(named.body).toBe(svg.body);
  });

  it('answers 404 problem+json for an unknown version or key', async () => {
    expectProblem(await h.request('GET', '/issue-types/task/versions/99/diagram', { token: worker.token }), 404);
    expectProblem(await h.request('GET', '/issue-types/no_such_type/versions/1/diagram', { token: worker.token }), 404);
  });

  it('answers 422 problem+json naming the field for a bad format or version', async () => {
    const badFormat = await h.request('GET', '/issue-types/task/versions/1/diagram?format=png', { token: worker.token });
    expectProblem(badFormat, 422);
    expect(badFormat.body.errors.map((e: any) => e.field)).toEqual(['query.format']);
    const badVersion = await h.request('GET', '/issue-types/task/versions/first/diagram', { token: worker.token });
    expectProblem(badVersion, 422);
    expect(badVersion.body.errors.map((e: any) => e.field)).toEqual(['path.version']);
  });

  it('answers 401 without a token', async () => {
    expectProblem(await h.request('GET', '/issue-types/task/versions/1/diagram'), 401);
  });
});

describe('the OpenAPI document', () => {
  it('offers both routes in both media types', async () => {
    const { body } = await h.request('GET', '/openapi.json');
    for (const path of ['/issue-types/{key}/versions/{version}/diagram', '/issues/{id}/diagram']) {
      const operation = body.paths[path].get;
      expect(Object.keys(operation.responses[200].content).sort(), path).toEqual([mermaidType, svgType].sort());
      expect(operation.parameters.find((parameter: any) => parameter.name === 'format')?.schema.enum, path).toEqual(['svg', 'mermaid']);
      expect(operation.responses[404], path).toBeDefined();
    }
  });
});

describe('GET /issues/{id}/diagram', () => {
  it('highlights the state a task is in, for those who may read it, in both formats', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Draw the parrots' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const task = created.body;
    expect(task).toMatchObject({ state: 'open', assigneeId: worker.id });

    for (const reader of [manager, worker, admin]) {
      const svg = await h.request('GET', `/issues/${task.id}/diagram`, { token: reader.token });
      expect(svg.status, JSON.stringify(svg.body)).toBe(200);
      expect(svg.headers.get('content-type')).toBe(svgType);
      expect(highlighted(svg.body)).toEqual(['task.open']);
    }
    const mermaid = await h.request('GET', `/issues/${task.id}/diagram?format=mermaid`, { token: worker.token });
    expect(mermaid.status).toBe(200);
    expect(mermaid.headers.get('content-type')).toBe(mermaidType);
    expect(mermaid.body).toContain('\n  classDef active ');
    expect(mermaid.body).toContain('\n  class open active\n');

    // Done: the final state is the one highlighted.
    expect((await h.request('POST', `/tasks/${task.id}/complete`, { token: worker.token })).status).toBe(200);
    const done = await h.request('GET', `/issues/${task.id}/diagram`, { token: manager.token, headers: { Accept: 'text/vnd.mermaid' } });
    expect(done.body).toContain('\n  class done active\n');
  });

  it('answers a caller who may not read the issue the 404 of a missing one', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Hide the parrots' } });
    expect(created.status).toBe(201);
    const hidden = await h.request('GET', `/issues/${created.body.id}/diagram`, { token: stranger.token });
    const missing = await h.request('GET', '/issues/00000000-0000-4000-8000-000000000000/diagram', { token: stranger.token });
    expectProblem(hidden, 404);
    expectProblem(missing, 404);
    expect(hidden.body.detail.replace(created.body.id, 'ID')).toBe(missing.body.detail.replace('00000000-0000-4000-8000-000000000000', 'ID'));
    expect((await h.request('GET', `/issues/${created.body.id}`, { token: stranger.token })).status).toBe(404);
  });

  it('answers 422 for a bad format or id', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Count the parrots' } });
    const badFormat = await h.request('GET', `/issues/${created.body.id}/diagram?format=gif`, { token: manager.token });
    expectProblem(badFormat, 422);
    expect(badFormat.body.errors.map((e: any) => e.field)).toEqual(['query.format']);
    expectProblem(await h.request('GET', '/issues/not-a-uuid/diagram', { token: manager.token }), 422);
  });

  it('highlights every region of a parallel state, in a type saved over HTTP', async () => {
    const definition = {
      id: 'review',
      initial: 'checks',
      states: {
        checks: {
          type: 'parallel',
          states: {
            legal: { initial: 'legalPending', states: { legalPending: { on: { clear: 'legalOk' } }, legalOk: {} } },
            quality: { initial: 'qaPending', states: { qaPending: { on: { pass: 'qaOk' } }, qaOk: {} } },
          },
        },
      },
    };
    const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'review', name: 'Review', definition } });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await h.request('POST', '/issues', { token: worker.token, body: { type: 'review', title: 'Check the parrots' } });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const sent = await h.request('POST', `/issues/${started.body.id}/events`, { token: worker.token, body: { type: 'pass' } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);

    const svg = await h.request('GET', `/issues/${started.body.id}/diagram`, { token: worker.token });
    expect(svg.status).toBe(200);
    expect(highlighted(svg.body).sort()).toEqual(['review.checks', 'review.checks.legal', 'review.checks.legal.legalPending', 'review.checks.quality', 'review.checks.quality.qaOk']);
    const mermaid = await h.request('GET', `/issues/${started.body.id}/diagram?format=mermaid`, { token: worker.token });
    expect(mermaid.body).toContain('\n  class checks,legal,legalPending,quality,qaOk active\n');

    const typeDiagram = await h.request('GET', '/issue-types/review/versions/1/diagram?format=mermaid', { token: stranger.token });
    expect(typeDiagram.status).toBe(200);
    expect(typeDiagram.body).toContain('\n    --\n');

    // A second version draws its own chart; the issue keeps drawing the version it runs.
    const next = structuredClone(definition) as any;
    next.states.checks.on = { archive: 'archived' };
    next.states.archived = { type: 'final' };
    expect((await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'review', name: 'Review', definition: next } })).status).toBe(201);
    const second = await h.request('GET', '/issue-types/review/versions/2/diagram?format=mermaid', { token: stranger.token });
    expect(second.body).toContain('\n  checks --> archived : archive\n');
    expect(typeDiagram.body).not.toContain('archived');
    const stillFirst = await h.request('GET', `/issues/${started.body.id}/diagram?format=mermaid`, { token: worker.token });
    expect(stillFirst.body).not.toContain('archived');
  });
});
