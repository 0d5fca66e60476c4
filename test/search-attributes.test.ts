import type { WorkflowExecutionInfo } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkflowId } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let manager: TestUser;
let workers: TestUser[];
beforeAll(async () => {
  h = await startHarness();
  manager = await h.user('manager');
  workers = [await h.user('worker'), await h.user('worker')];
});
afterAll(() => h?.stop());

async function list(query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const execution of h.services.deps.temporal.workflow.list({ query })) found.push(execution);
  return found;
}

/** Visibility is eventually consistent: asks again until the ids found are the expected ones, or 10 s passed. */
async function listUntil(query: string, expectedIds: string[]): Promise<WorkflowExecutionInfo[]> {
  const expected = [...expectedIds].sort();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await list(query);
    const ids = found.map((execution) => execution.workflowId).sort();
    if (JSON.stringify(ids) === JSON.stringify(expected) || Date.now() > deadline) {
      expect(ids, query).toEqual(expected);
      return found;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('search attributes and memo of task workflows', () => {
  it('find exactly the open tasks, by state and by assignee, with the title in the memo', async () => {
    const tasks = [];
    for (let n = 0; n < 6; n++) {
      const res = await h.request('POST', '/tasks', { token: manager.token, body: { title: `Visible task ${n}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      tasks.push(res.body);
    }
    const tokenOf = new Map(workers.map((w) => [w.id, w.token]));
    for (const task of tasks.slice(0, 2)) {
      const res = await h.request('POST', `/tasks/${task.id}/complete`, { token: tokenOf.get(task.assigneeId) });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    const open = tasks.slice(2);

    const found = await listUntil('IssueType="task" AND IssueState="open"', open.map((task) => issueWorkflowId(task.id)));
    const titleOf = new Map(open.map((task) => [issueWorkflowId(task.id), task.title]));
    for (const execution of found) {
      expect(execution.memo).toEqual({ title: titleOf.get(execution.workflowId) });
      expect(execution.status.name).toBe('RUNNING');
    }
    await listUntil(
      'IssueType="task" AND IssueState="done"',
      tasks.slice(0, 2).map((task) => issueWorkflowId(task.id)),
    );

    for (const worker of workers) {
      const theirs = open.filter((task) => task.assigneeId === worker.id).map((task) => issueWorkflowId(task.id));
      await listUntil(`IssueType="task" AND IssueState="open" AND AssigneeId="${worker.id}"`, theirs);
    }
  });
});

describe('search attributes of parallel states', () => {
  it('hold every active region, so an operator finds an issue by the whole state or by its parallel parent', async () => {
    const admin = await h.user('admin');
    const region = (name: string) => ({ initial: 'pending', states: { pending: { on: { [`${name}.ok`]: 'ok' } }, ok: { type: 'final' } } });
    const definition = { initial: 'review', states: { review: { type: 'parallel', states: { legal: region('legal'), qa: region('qa') }, onDone: 'approved' }, approved: {} } };
    const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key: 'review_sa', name: 'review', definition, input: { startRoles: ['manager'] } } });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const issue = (await h.request('POST', '/issues', { token: manager.token, body: { type: 'review_sa', title: 'contract' } })).body;
    const moved = await h.request('POST', `/issues/${issue.id}/events`, { token: manager.token, body: { type: 'qa.ok' } });
    expect(moved.body.state).toBe('review.legal.pending|review.qa.ok');
    await listUntil('IssueType="review_sa" AND IssueState="review.legal.pending|review.qa.ok"', [issueWorkflowId(issue.id)]);
    await listUntil('IssueType="review_sa" AND IssueState STARTS_WITH "review."', [issueWorkflowId(issue.id)]);
    await h.request('POST', `/issues/${issue.id}/events`, { token: manager.token, body: { type: 'legal.ok' } });
    await listUntil('IssueType="review_sa" AND IssueState="approved"', [issueWorkflowId(issue.id)]);
  });
});
