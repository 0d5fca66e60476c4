// The catalog issue types refer to by name (workflows/statechart/catalog.ts) and the expressions their params may
// hold (workflows/statechart/expressions.ts).
import { describe, expect, it } from 'vitest';
import { contextActions, effects, emitAction, guards } from '../../workflows/statechart/catalog-schemas.js';
import { isSystemEventType, isUserEventType, roleNames, systemActor, type IssueContext, type IssueEvent } from '../../workflows/statechart/catalog.js';
import { badExpressionPaths, resolveExpressions, type ExpressionScope } from '../../workflows/statechart/expressions.js';
import { actor } from './statechart-support.js';

const args = (context: IssueContext, event: Partial<IssueEvent> = {}) => ({ context, event: { type: 'go', ...event } });

describe('catalog guards', () => {
  it('isAssignee: the sender is context.assigneeId', () => {
    expect(guards.isAssignee.test(args({ assigneeId: 'u1' }, { actor: actor('u1', 'worker') }))).toBe(true);
    expect(guards.isAssignee.test(args({ assigneeId: 'u1' }, { actor: actor('u2', 'worker') }))).toBe(false);
    expect(guards.isAssignee.test(args({ assigneeId: 'u1' }))).toBe(false);
    expect(guards.isAssignee.test(args({}, { actor: actor('u1', 'admin') }))).toBe(false);
  });

  it('isUser: the sender is the user in the named field', () => {
    const context = { clientId: 'c1', reviewerId: 'r1' };
    expect(guards.isUser.test(args(context, { actor: actor('c1', 'client') }), { field: 'clientId' })).toBe(true);
    expect(guards.isUser.test(args(context, { actor: actor('c1', 'client') }), { field: 'reviewerId' })).toBe(false);
    expect(guards.isUser.test(args(context, { actor: actor('c1', 'client') }), { field: 'missing' })).toBe(false);
    expect(guards.isUser.test(args(context), { field: 'clientId' })).toBe(false);
  });

  it('hasRole: the sender has one of the roles; the system actor has none of them', () => {
    const roles = { roles: ['manager', 'admin'] };
    expect(guards.hasRole.test(args({}, { actor: actor('m', 'manager') }), roles)).toBe(true);
    expect(guards.hasRole.test(args({}, { actor: actor('a', 'admin') }), roles)).toBe(true);
    expect(guards.hasRole.test(args({}, { actor: actor('w', 'worker') }), roles)).toBe(false);
    expect(guards.hasRole.test(args({}, { actor: systemActor }), roles)).toBe(false);
    expect(guards.hasRole.test(args({}), roles)).toBe(false);
  });

  it('contextEquals: strict equality, a missing field counting as null', () => {
    expect(guards.contextEquals.test(args({ n: 2 }), { field: 'n', value: 2 })).toBe(true);
    expect(guards.contextEquals.test(args({ n: '2' }), { field: 'n', value: 2 })).toBe(false);
    expect(guards.contextEquals.test(args({}), { field: 'n', value: null })).toBe(true);
    expect(guards.contextEquals.test(args({ n: null }), { field: 'n', value: null })).toBe(true);
    expect(guards.contextEquals.test(args({ n: false }), { field: 'n', value: null })).toBe(false);
    expect(guards.contextEquals.test(args({ ok: true }), { field: 'ok', value: true })).toBe(true);
  });

  it('guard params: no params for isAssignee, a field for isUser, known roles for hasRole, scalar values for contextEquals', () => {
    expect(guards.isAssignee.params.safeParse(undefined).success).toBe(true);
    expect(guards.isAssignee.params.safeParse({}).success).toBe(true);
    expect(guards.isAssignee.params.safeParse({ field: 'x' }).success).toBe(false);
    expect(guards.isUser.params.safeParse({ field: 'clientId' }).success).toBe(true);
    expect(guards.isUser.params.safeParse({ field: 'client.id' }).success).toBe(false);
    expect(guards.hasRole.params.safeParse({ roles: [...roleNames] }).success).toBe(true);
    expect(guards.hasRole.params.safeParse({ roles: ['system'] }).success).toBe(false);
    expect(guards.contextEquals.params.safeParse({ field: 'f', value: null }).success).toBe(true);
    expect(guards.contextEquals.params.safeParse({ field: 'f', value: [1] }).success).toBe(false);
  });
});

describe('catalog context actions and effects', () => {
  it('fill in defaults: increment by 1, setRandomInt step 1', () => {
    expect(contextActions.increment.params.parse({ field: 'n' })).toEqual({ field: 'n', by: 1 });
    expect(contextActions.setRandomInt.params.parse({ field: 'n', min: 1, max: 1 })).toEqual({ field: 'n', min: 1, max: 1, step: 1 });
    expect(contextActions.setRandomInt.params.safeParse({ field: 'n', min: 1, max: 5, step: 0 }).success).toBe(false);
  });

  it('set takes any values under field-name keys', () => {
    expect(contextActions.set.params.safeParse({ a: 1, b: { c: [null] } }).success).toBe(true);
    expect(contextActions.set.params.safeParse({ 'a.b': 1 }).success).toBe(false);
  });

  it('effects answer with dotted (system) events only, on a known task-queue context', () => {
    for (const [name, effect] of Object.entries(effects)) {
      for (const answer of effect.answers) expect(isSystemEventType(answer), `${name} answers ${answer}`).toBe(true);
      expect(['issues', 'billing', 'notifications', 'services', 'inventory']).toContain(effect.context);
    }
    expect(effects.assignRandomUser.answers).toEqual(['assignee.assigned', 'assignee.unavailable']);
    expect(effects.offerService.answers).toEqual(['offer.made', 'offer.none']);
  });

  it('notify fills in defaults and needs recipients', () => {
    expect(effects.notify.params.parse({ roles: ['manager'], kind: 'k', title: 't' })).toEqual({ to: [], roles: ['manager'], kind: 'k', title: 't', body: '' });
    expect(effects.notify.params.safeParse({ kind: 'k', title: 't' }).success).toBe(false);
    expect(effects.assignRandomUser.params.parse({ role: 'worker' })).toEqual({ role: 'worker', excludeFields: [] });
  });

  it('emit: a dotted lower-case name, a positive version, data defaulting to {}', () => {
    expect(emitAction.params.parse({ name: 'task.assigned', version: 1 })).toEqual({ name: 'task.assigned', version: 1, data: {} });
    expect(emitAction.params.safeParse({ name: 'task', version: 1 }).success).toBe(false);
    expect(emitAction.params.safeParse({ name: 'task.Assigned', version: 1 }).success).toBe(false);
    expect(emitAction.params.safeParse({ name: 'service.offer_expired', version: 1 }).success).toBe(true);
  });

  it.each([
    ['complete', false],
    ['not_done', false],
    ['legal.ok', false],
    ['inventory.started', true],
    ['assignee.assigned', true],
    ['issue.created', true],
    ['xstate.after.1h.x', true],
  ])('isSystemEventType(%s) is %s', (type, expected) => {
    expect(isSystemEventType(type)).toBe(expected);
  });

  it.each([
    ['complete', true],
    ['legal.ok', true],
    ['review.qa.passed_all', true],
    ['inventory.started', false],
    ['xstate.done.state.x', false],
    ['Complete', false],
    ['legal.', false],
    ['constructor', false],
    ['legal.__proto__', false],
  ])('isUserEventType(%s) is %s', (type, expected) => {
    expect(isUserEventType(type)).toBe(expected);
  });
});

describe('resolveExpressions', () => {
  const scope: ExpressionScope = {
    context: { title: 'Fix it', count: 3, tags: ['a', 'b'], nested: { deep: { value: 7 } }, empty: null, 'with-dash': 'ok' },
    event: { type: 'comment', data: { text: 'hi', n: 0 }, actor: { id: 'u1', role: 'worker' } },
    issue: { id: 'issue-9', type: 'task' },
  };

  it.each([
    ['$context.title', 'Fix it'],
    ['$context.count', 3],
    ['$context.tags', ['a', 'b']],
    ['$context.nested.deep.value', 7],
    ['$context.with-dash', 'ok'],
    ['$event.data.n', 0],
    ['$event.actor.id', 'u1'],
    ['$event.type', 'comment'],
    ['$issue.id', 'issue-9'],
    ['$context.missing', undefined],
    ['$context.missing.deeper', undefined],
    ['$context.title.length.x', undefined],
  ])('a whole-value expression %s keeps its type: %j', (expression, value) => {
    expect(resolveExpressions(expression, scope)).toEqual(value);
  });

  it('a whole-value expression of a root gives the root object', () => {
    expect(resolveExpressions('$issue', scope)).toEqual({ id: 'issue-9', type: 'task' });
  });

  it.each([
    ['Task {{context.title}} is yours', 'Task Fix it is yours'],
    ['{{ context.count }} of {{context.count}}', '3 of 3'],
    ['{{issue.type}}/{{issue.id}}', 'task/issue-9'],
    ['missing: [{{context.missing}}], null: [{{context.empty}}]', 'missing: [], null: []'],
    ['zero: {{event.data.n}}', 'zero: 0'],
    ['list: {{context.tags}}', 'list: a,b'],
    ['{{other.x}} and {{ context.title', '{{other.x}} and {{ context.title'],
    ['no expressions at all', 'no expressions at all'],
    ['$ 5 fee', '$ 5 fee'],
  ])('interpolates %j as %j', (template, text) => {
    expect(resolveExpressions(template, scope)).toBe(text);
  });

  it('resolves inside arrays and objects, leaving other values alone', () => {
    const params = { to: ['$event.actor.id', 'fixed'], data: { title: '$context.title', n: 5, flag: true, none: null, label: '#{{issue.id}}' } };
    expect(resolveExpressions(params, scope)).toEqual({ to: ['u1', 'fixed'], data: { title: 'Fix it', n: 5, flag: true, none: null, label: '#issue-9' } });
    expect(params.to[0]).toBe('$event.actor.id');
  });
});

describe('badExpressionPaths', () => {
  it('finds expressions that start at no known root, at any depth', () => {
    expect(badExpressionPaths({ a: '$ctx.x', b: ['ok {{context.x}}', 'bad {{user.name}}'], c: { d: '{{ }}' }, e: 5 })).toEqual([
      '$ctx.x',
      '{{user.name}}',
      '{{ }}',
    ]);
  });

  it.each([['$context.a.b'], ['$event'], ['{{ issue.id }}'], ['plain text'], ['a $ in the middle'], [42], [null]])('accepts %j', (value) => {
    expect(badExpressionPaths(value)).toEqual([]);
  });

  it.each([['$5'], ['$context.'], ['$context..a'], ['{{context.1x}}'], ['{{context.a b}}']])('refuses %j', (value) => {
    expect(badExpressionPaths(value)).toEqual([expect.any(String)]);
  });
});
