// The save-time validator (workflows/statechart/validate.ts): what it refuses, and the JSON path and message it
// names, so the API can answer 422 with the offending field.
import { describe, expect, it } from 'vitest';
import { validateDefinition, type DefinitionError } from '../../workflows/statechart/validate.js';

/** A chart whose first state is initial. */
const chart = (states: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ initial: Object.keys(states)[0], states, ...extra });
const one = (states: Record<string, unknown>, extra?: Record<string, unknown>): DefinitionError => {
  const errors = validateDefinition(chart(states, extra));
  expect(errors).toHaveLength(1);
  return errors[0]!;
};

describe('validateDefinition accepts', () => {
  it('a chart using every kind of node, catalog reference and target form', () => {
    const definition = {
      id: 'full',
      initial: 'a',
      context: { n: 0 },
      version: 1,
      entry: [{ type: 'set', params: { startedBy: '$context.creatorId' } }],
      states: {
        a: {
          description: 'first',
          tags: ['x'],
          meta: { any: 'thing' },
          on: {
            go: [
              { target: 'b', guard: 'isAssignee', actions: [{ type: 'increment', params: { field: 'n', by: 2 } }, 'chargeAssignFee'] },
              { target: '#full.b.b2', guard: { type: 'hasRole', params: { roles: ['manager'] } } },
            ],
            'topic.message': { actions: { type: 'append', params: { field: 'log', value: '$event.data' } } },
          },
          after: { 1500: 'b', '30s': 'b', '$context.sla': { target: 'b', reenter: true } },
        },
        b: {
          initial: 'b1',
          exit: 'payReward',
          on: { back: '.b1' },
          states: { b1: { always: { target: 'b2', guard: { type: 'contextEquals', params: { field: 'n', value: 2 } } } }, b2: {}, hist: { type: 'history', history: 'deep' } },
        },
        p: {
          type: 'parallel',
          states: { left: { initial: 'l', states: { l: { on: { x: 'l' } } } }, right: { initial: 'r', states: { r: { id: 'deepR' } } } },
        },
        end: { type: 'final', entry: [{ type: 'emit', params: { name: 'full.ended', version: 1, data: { n: '$context.n', who: '{{event.actor.id}}' } } }] },
      },
    };
    expect(validateDefinition(definition, 'full')).toEqual([]);
  });

  it('#typeKey as the root when the chart has no id of its own', () => {
    expect(validateDefinition(chart({ a: { on: { go: '#t.b' } }, b: {} }), 't')).toEqual([]);
  });

  it('a target array of known states', () => {
    expect(validateDefinition(chart({ a: { on: { go: { target: ['b'] } } }, b: {} }))).toEqual([]);
  });
});

describe('validateDefinition refuses unknown catalog names', () => {
  it('an unknown action by name, listing the catalog', () => {
    const error = one({ a: { entry: ['nope'] } });
    expect(error.path).toBe('states.a.entry[0].type');
    expect(error.message).toMatch(/^unknown action "nope"; the catalog has set, increment, setRandomInt, append, assignRandomUser,/);
    expect(error.message).toMatch(/, emit$/);
  });

  it('an unknown action as a single { type } object (no index in the path)', () => {
    expect(one({ a: { entry: { type: 'nope' } } }).path).toBe('states.a.entry.type');
  });

  it.each([['constructor'], ['toString'], ['__proto__'], ['hasOwnProperty']])('an inherited property name as action: %s', (name) => {
    const error = one({ a: { exit: [{ type: name }] } });
    expect(error).toEqual({ path: 'states.a.exit[0].type', message: expect.stringContaining(`unknown action "${name}"`) });
  });

  it('an unknown guard', () => {
    expect(one({ a: { on: { go: { target: 'b', guard: 'nope' } } }, b: {} })).toEqual({
      path: 'states.a.on.go.guard.type',
      message: 'unknown guard "nope"; the catalog has isAssignee, isUser, hasRole, contextEquals, and, or, not',
    });
  });

  it('an unknown guard in the second transition of a list', () => {
    expect(one({ a: { on: { go: [{ target: 'b', guard: 'isAssignee' }, { target: 'b', guard: 'constructor' }] } }, b: {} }).path).toBe(
      'states.a.on.go[1].guard.type',
    );
  });

  it('an action in a transition of an after delay', () => {
    expect(one({ a: { after: { '1h': { target: 'a', actions: ['sendFax'] } } } }).path).toBe('states.a.after.1h.actions[0].type');
  });
});

describe('validateDefinition refuses missing targets', () => {
  it.each([
    ['a plain target', { a: { on: { go: 'zz' } } }, 'states.a.on.go', 'no state "zz" to go to from a'],
    ['a target object', { a: { on: { go: { target: 'zz' } } } }, 'states.a.on.go.target', 'no state "zz" to go to from a'],
    ['an unknown #id', { a: { on: { go: [{ target: 'a', guard: 'isAssignee' }, { target: '#nope' }] } } }, 'states.a.on.go[1].target', 'no state "#nope" to go to from a'],
    ['a child of a leaf', { a: { initial: 'a1', states: { a1: { on: { go: '.a2' } }, a2: {} } } }, 'states.a.states.a1.on.go', 'no state ".a2" to go to from a.a1'],
    ['an unknown nested path', { a: { on: { go: 'b.nope' } }, b: { initial: 'x', states: { x: {} } } }, 'states.a.on.go', 'no state "b.nope" to go to from a'],
    ['an after target', { a: { after: { '5m': 'later' } } }, 'states.a.after.5m', 'no state "later" to go to from a'],
    ['an always target', { a: { always: [{ target: 'b', guard: 'isAssignee' }, 'gone'] }, b: {} }, 'states.a.always[1]', 'no state "gone" to go to from a'],
    ['an element of a target array', { a: { on: { go: { target: ['a', 'zz'] } } } }, 'states.a.on.go.target[1]', 'no state "zz" to go to from a'],
  ])('%s', (_, states, path, message) => {
    expect(validateDefinition(chart(states))).toEqual([{ path, message }]);
  });

  it('an initial state that does not exist, at the root and below', () => {
    expect(validateDefinition({ initial: 'x', states: { a: {} } })).toEqual([{ path: 'initial', message: 'no child state "x"' }]);
    expect(one({ a: { initial: 'zz', states: { a1: {} } } })).toEqual({ path: 'states.a.initial', message: 'no child state "zz"' });
  });

  it('a compound state without initial (a parallel state needs none)', () => {
    expect(validateDefinition({ states: { a: {} } })).toEqual([{ path: 'initial', message: 'a compound state names its initial child state' }]);
    expect(validateDefinition(chart({ p: { type: 'parallel', states: { x: {}, y: {} } } }))).toEqual([]);
  });

  it('a sibling target on the root, via XState itself (the root has no siblings)', () => {
    expect(validateDefinition(chart({ a: {} }, { on: { go: 'a' } }))).toEqual([
      { path: '(root)', message: 'Invalid target: "a" is not a valid target from the root node. Did you mean ".a"?' },
    ]);
    expect(validateDefinition(chart({ a: {} }, { on: { go: '.a' } }))).toEqual([]);
  });
});

describe('validateDefinition refuses bad params', () => {
  it.each([
    ['a field name that is no identifier', { type: 'increment', params: { field: '1x' } }, 'states.a.entry[0].params.field', 'a context field name (letters, digits, _)'],
    ['missing params', { type: 'increment' }, 'states.a.entry[0].params', 'Invalid input: expected object, received undefined'],
    ['a non-integer step', { type: 'increment', params: { field: 'n', by: 1.5 } }, 'states.a.entry[0].params.by', 'Invalid input: expected int, received number'],
    ['min above max', { type: 'setRandomInt', params: { field: 'x', min: 5, max: 1 } }, 'states.a.entry[0].params', 'min must not exceed max'],
    ['notify without recipients', { type: 'notify', params: { kind: 'k', title: 't' } }, 'states.a.entry[0].params', 'name recipients in `to` (context fields) or `roles`'],
    ['an empty set', { type: 'set', params: {} }, 'states.a.entry[0].params', 'set at least one field'],
    ['params on an effect that takes none', { type: 'payReward', params: { x: 1 } }, 'states.a.entry[0].params', 'Unrecognized key: "x"'],
    ['an empty topic', { type: 'subscribe', params: { topic: '' } }, 'states.a.entry[0].params.topic', 'Too small: expected string to have >=1 characters'],
  ])('%s', (_, action, path, message) => {
    expect(one({ a: { entry: [action] } })).toEqual({ path, message });
  });

  it('an unknown role, pointing at the list entry', () => {
    const error = one({ a: { entry: [{ type: 'notify', params: { to: ['a'], roles: ['worker', 'king'], kind: 'k', title: 't' } }] } });
    expect(error.path).toBe('states.a.entry[0].params.roles[1]');
    expect(error.message).toContain('"worker"');
  });

  it('every bad field of an emit at once', () => {
    expect(validateDefinition(chart({ a: { entry: [{ type: 'emit', params: { name: 'Bad', version: 0 } }] } }))).toEqual([
      { path: 'states.a.entry[0].params.name', message: 'a dotted lower-case name such as task.assigned' },
      { path: 'states.a.entry[0].params.version', message: 'Too small: expected number to be >0' },
    ]);
  });

  it.each([
    ['hasRole with no roles', { type: 'hasRole', params: { roles: [] } }, 'states.a.on.go.guard.params.roles', 'Too small: expected array to have >=1 items'],
    ['isUser without params', { type: 'isUser' }, 'states.a.on.go.guard.params', 'Invalid input: expected object, received undefined'],
    ['isAssignee with params', { type: 'isAssignee', params: { x: 1 } }, 'states.a.on.go.guard.params', 'Unrecognized key: "x"'],
    ['contextEquals with an object value', { type: 'contextEquals', params: { field: 'f', value: {} } }, 'states.a.on.go.guard.params.value', expect.any(String)],
    ['a guard reference with extra keys', { type: 'isAssignee', when: 1 }, 'states.a.on.go.guard', 'unknown key(s) when: a reference has only type and params'],
  ])('guard: %s', (_, guard, path, message) => {
    expect(one({ a: { on: { go: { target: 'a', guard } } } })).toEqual({ path, message });
  });

  it('expressions that start nowhere, each named', () => {
    expect(validateDefinition(chart({ a: { entry: [{ type: 'set', params: { x: '$foo.bar', y: 'hi {{ctx.y}}', z: '$context.ok' } }] } }))).toEqual([
      { path: 'states.a.entry[0].params', message: '$foo.bar: expressions start at context, event or issue' },
      { path: 'states.a.entry[0].params', message: '{{ctx.y}}: expressions start at context, event or issue' },
    ]);
  });

  it('a reference that is neither a name nor { type, params }', () => {
    expect(one({ a: { entry: [5] } })).toEqual({ path: 'states.a.entry[0]', message: 'expected a name or { type, params }' });
    expect(one({ a: { on: { go: { target: 'a', guard: { params: {} } } } } })).toEqual({ path: 'states.a.on.go.guard', message: 'expected a name or { type, params }' });
  });
});

describe('validateDefinition refuses bad shapes', () => {
  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'chart'],
  ])('%s as the definition', (_, definition) => {
    expect(validateDefinition(definition)).toEqual([{ path: '(root)', message: 'expected a state object' }]);
  });

  it('a chart without states', () => {
    expect(validateDefinition({ initial: 'a' })).toEqual([{ path: 'states', message: 'a statechart needs states' }]);
  });

  it('unknown state and transition keys, and bad event types, all at once', () => {
    expect(validateDefinition(chart({ a: { foo: 1, on: { 'Go!': 'a', go: { target: 'a', cond: 'x' } } } }))).toEqual([
      { path: 'states.a.foo', message: 'unknown state key' },
      { path: 'states.a.on.Go!', message: 'event types are words of letters, digits and _ starting with a lower-case letter, dotted to group them (legal.ok)' },
      { path: 'states.a.on.go.cond', message: 'unknown transition key' },
    ]);
  });

  it('root-only keys below the root', () => {
    expect(one({ a: { context: {} } })).toEqual({ path: 'states.a.context', message: 'unknown state key' });
    expect(validateDefinition({ initial: 'a', context: 5, states: { a: {} } })).toEqual([{ path: 'context', message: 'expected an object' }]);
  });

  it.each([
    ['a bad state type', { a: { type: 'weird' } }, 'states.a.type', 'expected atomic, compound, parallel, final or history'],
    ['empty states', { a: { states: {} } }, 'states.a.states', 'expected at least one state'],
    ['a state name with a space', { 'a b': {} }, 'states.a b', 'state names are letters, digits, _ and -'],
    ['a state that is no object', { a: 'x' }, 'states.a', 'expected a state object'],
    ['a bad delay', { a: { after: { soon: 'a' } } }, 'states.a.after.soon', 'a delay is milliseconds, a duration (30s, 15m, 2h, 1d) or $context.field'],
    ['a fractional duration', { a: { after: { '1.5h': 'a' } } }, 'states.a.after.1.5h', 'a delay is milliseconds, a duration (30s, 15m, 2h, 1d) or $context.field'],
    ['after that is no object', { a: { after: ['1h'] } }, 'states.a.after', 'expected an object of delays'],
    ['on that is no object', { a: { on: 'go' } }, 'states.a.on', 'expected an object of event types'],
    ['a transition that is a number', { a: { on: { go: 5 } } }, 'states.a.on.go', 'expected a target name or a transition object'],
    ['a target that is a number', { a: { on: { go: { target: 5 } } } }, 'states.a.on.go.target', 'expected a state name'],
  ])('%s', (_, states, path, message) => {
    expect(validateDefinition(chart(states))).toEqual([{ path, message }]);
  });

  it('more than 200 states, naming each state over the limit', () => {
    const states = Object.fromEntries(Array.from({ length: 202 }, (_, i) => [`s${i}`, {}]));
    // The root counts as one state: s199 is the 201st.
    expect(validateDefinition(chart(states))).toEqual([
      { path: 'states.s199', message: 'at most 200 states' },
      { path: 'states.s200', message: 'at most 200 states' },
      { path: 'states.s201', message: 'at most 200 states' },
    ]);
  });
});

describe('validateDefinition: onDone and guard combinators', () => {
  const review = (extra: Record<string, unknown> = {}) =>
    chart({
      review: {
        type: 'parallel',
        states: {
          legal: { initial: 'pending', states: { pending: { on: { 'legal.ok': 'ok' } }, ok: { type: 'final' } } },
          qa: { initial: 'pending', states: { pending: { on: { 'qa.ok': 'ok' } }, ok: { type: 'final' } } },
        },
        onDone: 'approved',
        ...extra,
      },
      approved: { type: 'final' },
    });

  it('accepts onDone on a parallel or compound state, with dotted user events', () => {
    expect(validateDefinition(review())).toEqual([]);
    expect(validateDefinition(chart({ a: { initial: 'x', states: { x: { on: { go: 'y' } }, y: { type: 'final' } }, onDone: { target: 'b', guard: 'isAssignee' } }, b: {} }))).toEqual([]);
  });

  it('refuses onDone on an atomic state, at the root, or to a state that does not exist', () => {
    expect(one({ a: { onDone: 'b' }, b: {} }).path).toBe('states.a.onDone');
    expect(validateDefinition(chart({ a: { initial: 'x', states: { x: { type: 'final' } } } }, { onDone: 'a' }))[0]?.path).toBe('onDone');
    expect(validateDefinition(review({ onDone: 'nowhere' }))).toEqual([{ path: 'states.review.onDone', message: 'no state "nowhere" to go to from review' }]);
  });

  it('refuses onDone transitions that loop without an event', () => {
    expect(validateDefinition(chart({ a: { initial: 'x', states: { x: { type: 'final' } }, onDone: 'a' } }))).toEqual([
      { path: 'states.a.onDone', message: 'onDone transitions loop without an event: a → a' },
    ]);
  });

  it('accepts and / or / not over catalog guards, nested', () => {
    const guard = {
      type: 'or',
      params: { guards: ['isAssignee', { type: 'and', params: { guards: [{ type: 'hasRole', params: { roles: ['manager'] } }, { type: 'not', params: { guards: [{ type: 'contextEquals', params: { field: 'locked', value: true } }] } }] } }] },
    };
    expect(validateDefinition(chart({ a: { on: { go: { target: 'b', guard } } }, b: {} }))).toEqual([]);
  });

  it.each([
    [{ type: 'and', params: { guards: [] } }, 'states.a.on.go.guard.params.guards', 'and takes at least one guard'],
    [{ type: 'not', params: { guards: ['isAssignee', 'isAssignee'] } }, 'states.a.on.go.guard.params.guards', 'not takes exactly one guard'],
    [{ type: 'or', params: { guard: ['isAssignee'] } }, 'states.a.on.go.guard.params', 'or takes { guards: [...] }'],
    [{ type: 'or' }, 'states.a.on.go.guard.params', 'or takes { guards: [...] }'],
    [{ type: 'or', params: { guards: ['isAssignee', 'nope'] } }, 'states.a.on.go.guard.params.guards[1].type', 'unknown guard "nope"; the catalog has isAssignee, isUser, hasRole, contextEquals, and, or, not'],
    [{ type: 'or', params: { guards: [{ type: 'hasRole', params: { roles: ['pilot'] } }] } }, 'states.a.on.go.guard.params.guards[0].params.roles[0]', undefined],
  ])('refuses %j naming where', (guard, path, message) => {
    const error = one({ a: { on: { go: { target: 'b', guard } } }, b: {} });
    expect(error.path).toBe(path);
    if (message) expect(error.message).toBe(message);
  });

  it('refuses guards nested deeper than 8', () => {
    let guard: unknown = 'isAssignee';
    for (let i = 0; i < 9; i++) guard = { type: 'not', params: { guards: [guard] } };
    expect(one({ a: { on: { go: { target: 'b', guard } } }, b: {} }).message).toBe('guards nest at most 8 deep');
  });

  it("refuses XState's own event names: onDone, after and always say it", () => {
    expect(one({ a: { on: { 'xstate.done.state.x': 'b' } }, b: {} })).toEqual({ path: 'states.a.on.xstate.done.state.x', message: "xstate.* events are XState's own: use after, always or onDone" });
  });
});
