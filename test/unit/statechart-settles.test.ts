// Statecharts that always settle: the validator refuses charts that could step forever without an event, spin on
// tiny delays, or name things after what every JavaScript object inherits; expressions see only own data.
import { describe, expect, it } from 'vitest';
import { resolveExpressions } from '../../workflows/statechart/expressions.js';
import { buildMachine, start, step } from '../../workflows/statechart/machine.js';
import { validateDefinition } from '../../workflows/statechart/validate.js';

const chart = (states: Record<string, unknown>) => ({ initial: Object.keys(states)[0], states });

describe('validateDefinition refuses charts that never settle', () => {
  it('an eventless cycle A → B → A, guarded or not', () => {
    expect(validateDefinition(chart({ a: { always: 'b' }, b: { always: 'a' } }))).toEqual([
      { path: 'states.a.always', message: 'always transitions loop without an event: a → b → a' },
    ]);
    const guarded = chart({
      a: { always: { target: 'b', guard: { type: 'contextEquals', params: { field: 'go', value: true } } } },
      b: { always: { target: 'a', guard: { type: 'contextEquals', params: { field: 'go', value: true } } } },
    });
    expect(validateDefinition(guarded)[0]?.message).toMatch(/loop without an event: a → b → a/);
  });

  it('a cycle through a compound state entering its initial child', () => {
    const errors = validateDefinition(chart({ a: { always: 'b' }, b: { initial: 'inner', states: { inner: { always: '#t.a' } } } }), 't');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^always transitions loop without an event: /);
  });

  it('an always transition without a target or a guard', () => {
    expect(validateDefinition(chart({ a: { always: { actions: [{ type: 'increment', params: { field: 'n' } }] } } }))).toEqual([
      { path: 'states.a.always', message: 'an always transition without a target or a guard repeats forever' },
    ]);
  });

  it('accepts eventless transitions that lead on to a state that waits', () => {
    expect(validateDefinition(chart({ check: { always: [{ target: 'big', guard: { type: 'contextEquals', params: { field: 'big', value: true } } }, 'small'] }, big: { on: { again: 'check' } }, small: {} }))).toEqual([]);
  });

  it('a delay below 1 s, in milliseconds or as a duration', () => {
    const errors = validateDefinition(chart({ a: { after: { 1: 'b', '999ms': 'b', '1s': 'b' } }, b: { after: { 1000: 'a' } } }));
    expect(errors.map((e) => e.path)).toEqual(['states.a.after.1', 'states.a.after.999ms']);
    expect(errors[0]!.message).toMatch(/at least 1000 ms/);
  });
});

describe('validateDefinition refuses reserved names', () => {
  it.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString'])('a state named %s', (name) => {
    const definition = JSON.parse(`{"initial":"a","states":{"a":{"on":{"go":"${name}"}},"${name}":{}}}`);
    expect(validateDefinition(definition)).toContainEqual({ path: `states.${name}`, message: `"${name}" is a reserved name` });
  });

  it('an event or a context field named after an inherited property', () => {
    expect(validateDefinition(chart({ a: { on: { constructor: 'a' } } }))).toContainEqual({ path: 'states.a.on.constructor', message: '"constructor" is a reserved name' });
    const asJson = JSON.parse('{"initial":"a","states":{"a":{"entry":[{"type":"increment","params":{"field":"valueOf"}}]}}}');
    expect(validateDefinition(asJson)).toEqual([{ path: 'states.a.entry[0].params.field', message: 'a reserved name' }]);
  });
});

describe('expressions see only own data', () => {
  const scope = { context: { title: 'T', nested: { x: 1 } }, event: { type: 'go' }, issue: { id: 'i', type: 't' } };
  it('render inherited properties as nothing', () => {
    expect(resolveExpressions('{{context.constructor}}|{{context.toString}}|{{context.nested.x}}', scope)).toBe('||1');
    expect(resolveExpressions('$context.__proto__', scope)).toBeUndefined();
    expect(resolveExpressions('$context.title', scope)).toBe('T');
  });

  it('in a running machine too', () => {
    const machine = buildMachine(chart({ a: { entry: [{ type: 'set', params: { leaked: '{{context.constructor}}' } }] } }), { id: 'i', type: 't' });
    const [snapshot] = start(machine, {});
    expect(snapshot.context.leaked).toBe('');
  });
});

describe('a chart that slips past the validator still cannot spin', () => {
  it('fails the step as Issue.StepFailed after the microstep limit, when started and when stepped', () => {
    const looping = buildMachine(chart({ a: { always: 'b' }, b: { always: 'a' } }), { id: 'i', type: 't' });
    expect(() => start(looping, {})).toThrow(expect.objectContaining({ type: 'Issue.StepFailed', nonRetryable: true, message: expect.stringMatching(/1000 microsteps/) }));
    const later = buildMachine(chart({ idle: { on: { go: 'a' } }, a: { always: 'b' }, b: { always: 'a' } }), { id: 'i', type: 't' });
    const [idle] = start(later, {});
    expect(() => step(later, idle, { type: 'go' })).toThrow(expect.objectContaining({ type: 'Issue.StepFailed' }));
  });
});
