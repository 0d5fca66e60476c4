// The built-in types declare their input the way any type does (api/issue-type-input.ts): each declaration passes
// the checks a saved type passes, and the start and event checks refuse and fill in what the old per-type code did.
import { describe, expect, it } from 'vitest';
import { checkEventData, checkStart, validateInput, type TypeInput } from '../../api/issue-type-input.js';
import { ProblemError } from '../../api/problem.js';
import { builtinIssueTypes } from '../../lib/issues/builtin-types.js';
import { validateDefinition } from '../../workflows/statechart/validate.js';

const saved = (key: string) => {
  const type = builtinIssueTypes.find((t) => t.key === key)!;
  return { key: type.key, version: 1, input: type.input };
};

/** The 422's fields and messages, or the value when nothing was refused. */
function refusal(check: () => unknown): { field: string; message: string }[] | unknown {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    return error.errors ?? [{ field: '', message: `${error.status} ${error.message}` }];
  }
}

describe('built-in types on the declared-input mechanism', () => {
  it.each(builtinIssueTypes.map((t) => [t.key, t] as const))('%s: its definition and its declaration pass the checks of a saved type', (_, type) => {
    expect(validateDefinition(type.definition, type.key)).toEqual([]);
    expect(validateInput(type.definition, type.input as TypeInput)).toEqual([]);
  });

  it('task: a title without brackets, a jira id of its own, a description filled in, no money', () => {
    const task = saved('task');
    expect(checkStart(task, 'manager', 'Feed the parrots', { jiraId: 'POPUG-1' })).toEqual({ jiraId: 'POPUG-1', description: '' });
    expect(refusal(() => checkStart(task, 'manager', '[POPUG-1] Feed', {}))).toEqual([
      { field: 'body.title', message: 'must not contain [ or ]: put the jira id in jiraId' },
    ]);
    expect(refusal(() => checkStart(task, 'manager', 'Feed', { jiraId: 'popug' }))).toEqual([{ field: 'body.context.jiraId', message: 'a jira id such as UBERPOP-42' }]);
    const money = refusal(() => checkStart(task, 'worker', 'Feed', { rewardCents: 50_000_000, assigneeId: 'me' })) as { field: string }[];
    expect(money.map((e) => e.field)).toEqual(['body.context.rewardCents', 'body.context.assigneeId']);
  });

  it('service_request: clients only; events carry what they declare, with defaults', () => {
    const request = saved('service_request');
    const serviceId = '7b1f0b6e-8a51-4f0e-9d44-0f1c1d0a4b7e';
    expect(refusal(() => checkStart(request, 'worker', 'Wash', { serviceId }))).toEqual([{ field: '', message: expect.stringMatching(/^403 only client users/) }]);
    expect(checkStart(request, 'client', 'Wash', { serviceId })).toEqual({ serviceId, note: '' });
    expect(checkEventData(request, 'review', { rating: 4 })).toEqual({ rating: 4, comment: '' });
    expect((refusal(() => checkEventData(request, 'review', { rating: 6 })) as { field: string }[])[0]!.field).toBe('body.data.rating');
    expect(refusal(() => checkEventData(request, 'not_done', { reason: '   ' }))).toEqual([{ field: 'body.data.reason', message: 'must not be blank, at most 2000 characters' }]);
    expect(refusal(() => checkEventData(request, 'accept', { priceCents: 1 }))).toEqual([
      { field: 'body.data.priceCents', message: '"accept" carries no data (its type declares none)' },
    ]);
  });

  it('inventory: items unique by sku, named where the second one is', () => {
    const inventory = saved('inventory');
    const item = (sku: string) => ({ sku, name: sku, expectedQuantity: 1 });
    expect(refusal(() => checkStart(inventory, 'client', 'Count', { location: 'A', items: [item('X-1'), item('Y'), item('X-1')] }))).toEqual([
      { field: 'body.context.items.2.sku', message: 'sku X-1 is listed twice' },
    ]);
    expect(refusal(() => checkStart(inventory, 'client', 'Count', { location: 'A', items: [] }))).toEqual([
      { field: 'body.context.items', message: 'list 1 to 1000 expected items' },
    ]);
    expect(checkStart(inventory, 'client', 'Count', { location: 'A', items: [item('X-1')] })).toEqual({ location: 'A', items: [item('X-1')] });
  });
});
