// Statechart semantics of workflows/statechart/machine.ts: how a stored definition behaves when the issue workflow
// starts, steps and restores it. Pure: XState's `initialTransition`/`transition`, no actor, no timers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { allowedEvents, handledEventTypes, namedDelays, parseDuration, restore, start, stateName, step } from '../../workflows/statechart/machine.js';
import { actor, effectsOf, emitsOf, issue, machineOf, rendered, run, schedulesOf, summary, theEffect } from './statechart-support.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const worker = actor('w-1', 'worker');
const otherWorker = actor('w-2', 'worker');
const manager = actor('m-1', 'manager');
const never = 2 ** 31 - 1;

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    ['250', 250],
    ['10ms', 10],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['0s', 0],
  ])('%j is %d ms', (value, ms) => {
    expect(parseDuration(value)).toBe(ms);
  });

  it.each([['1.5h'], [''], [' 5s'], ['5x'], ['h'], [-1], [Number.NaN], [Number.POSITIVE_INFINITY], [null], [{}], ['-5s']])(
    '%j is no duration',
    (value) => {
      expect(parseDuration(value)).toBeUndefined();
    },
  );
});

describe('namedDelays', () => {
  it('lists every non-millisecond after key once, at any depth', () => {
    const definition = {
      initial: 'a',
      after: { '1d': 'a' },
      states: {
        a: { after: { 500: 'b', '30s': 'b' }, initial: 'x', states: { x: { after: { '$context.sla': 'y', '30s': 'y' } }, y: {} } },
        b: {},
      },
    };
    expect(namedDelays(definition).sort()).toEqual(['$context.sla', '1d', '30s']);
  });

  it('is empty for a chart without delays and for non-objects', () => {
    expect(namedDelays({ initial: 'a', states: { a: { on: { go: 'a' } } } })).toEqual([]);
    expect(namedDelays(null)).toEqual([]);
    expect(namedDelays('x')).toEqual([]);
  });
});

describe('buildMachine', () => {
  it('names the machine after the issue type unless the definition has an id', () => {
    expect(machineOf({ initial: 'a', states: { a: {} } }, 'my_type').id).toBe('my_type');
    expect(machineOf({ id: 'own', initial: 'a', states: { a: {} } }, 'my_type').id).toBe('own');
  });

  it('merges the definition context with the input; the input wins', () => {
    const machine = machineOf({ initial: 'a', context: { x: 1, y: 2 }, states: { a: {} } });
    const [snapshot] = start(machine, { y: 3, z: 4 });
    expect(snapshot.context).toEqual({ x: 1, y: 3, z: 4 });
  });

  it('throws when a #id target does not exist', () => {
    expect(() => machineOf({ initial: 'a', states: { a: { on: { go: '#nowhere' } } } })).toThrow(/nowhere/);
  });
});

describe('start', () => {
  it('enters the initial leaf of nested states and runs root, then parent, then child entry actions', () => {
    const machine = machineOf({
      initial: 'outer',
      entry: [{ type: 'emit', params: { name: 'demo.root', version: 1 } }],
      states: {
        outer: {
          initial: 'inner',
          entry: [{ type: 'emit', params: { name: 'demo.outer', version: 1 } }],
          states: { inner: { entry: [{ type: 'emit', params: { name: 'demo.inner', version: 1 } }] } },
        },
      },
    });
    const [snapshot, actions] = start(machine, {});
    expect(snapshot.value).toEqual({ outer: 'inner' });
    expect(stateName(snapshot.value)).toBe('outer.inner');
    expect(snapshot.status).toBe('active');
    expect(emitsOf(actions).map((e) => e.name)).toEqual(['demo.root', 'demo.outer', 'demo.inner']);
  });

  it('gives an effect the init event and the context after the assigns before it', () => {
    const machine = machineOf({
      initial: 'a',
      entry: [{ type: 'set', params: { greeting: 'hello {{context.name}}' } }, { type: 'payReward' }],
      states: { a: {} },
    });
    const [snapshot, actions] = start(machine, { name: 'Ada' });
    const pay = theEffect(actions, 'payReward');
    expect(pay.context).toEqual({ name: 'Ada', greeting: 'hello Ada' });
    expect(pay.event).toMatchObject({ type: 'xstate.init', input: { name: 'Ada' } });
    expect(pay.params).toBeUndefined();
    expect(snapshot.context.greeting).toBe('hello Ada');
  });
});

describe('entry, exit and transition actions', () => {
  const machine = machineOf({
    initial: 'a',
    context: { n: 0 },
    states: {
      a: {
        exit: [{ type: 'emit', params: { name: 'demo.left_a', version: 1, data: { n: '$context.n' } } }, { type: 'increment', params: { field: 'n' } }],
        on: {
          go: {
            target: 'b',
            guard: 'isAssignee',
            actions: [
              { type: 'emit', params: { name: 'demo.went', version: 1, data: { n: '$context.n', by: '$event.actor.id' } } },
              { type: 'set', params: { n: 10 } },
              { type: 'payReward' },
            ],
          },
        },
      },
      b: {
        initial: 'b1',
        entry: [{ type: 'chargeAssignFee' }, { type: 'increment', params: { field: 'n', by: 5 } }],
        states: { b1: { entry: [{ type: 'notify', params: { to: ['assigneeId'], kind: 'demo', title: 'n is {{context.n}}' } }] } },
      },
    },
  });

  it('run exit, then transition, then entry (parent before child), each effect in order', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    const [next, actions] = step(machine, snapshot, { type: 'go', actor: worker });
    expect(next.value).toEqual({ b: 'b1' });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:emit', 'effect:payReward', 'effect:chargeAssignFee', 'effect:notify']);
    expect(emitsOf(actions).map((e) => e.name)).toEqual(['demo.left_a', 'demo.went']);
  });

  it('give each effect the context as it is at that point of the step', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    const [next, actions] = step(machine, snapshot, { type: 'go', actor: worker });
    const contexts = effectsOf(actions).map((a) => a.context.n);
    expect(contexts).toEqual([0, 1, 10, 10, 15]);
    expect(emitsOf(actions).map((e) => e.data)).toEqual([{ n: 0 }, { n: 1, by: 'w-1' }]);
    expect(rendered(theEffect(actions, 'notify')).title).toBe('n is 15');
    expect(next.context).toEqual({ n: 15, assigneeId: 'w-1' });
  });

  it('give each effect the event that caused the step', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    const [, actions] = step(machine, snapshot, { type: 'go', actor: worker, data: { note: 'x' } });
    for (const effect of effectsOf(actions)) expect(effect.event).toEqual({ type: 'go', actor: worker, data: { note: 'x' } });
  });
});

describe('context actions', () => {
  const machine = machineOf({
    initial: 'a',
    states: {
      a: {
        on: {
          comment: { actions: [{ type: 'set', params: { comment: '$event.data.text', by: '$event.actor.id', seen: true, label: '{{context.title}}: {{event.data.text}}' } }] },
          count: { actions: [{ type: 'increment', params: { field: 'count' } }] },
          countBy: { actions: [{ type: 'increment', params: { field: 'count', by: -3 } }] },
          add: { actions: [{ type: 'append', params: { field: 'list', value: '$event.data.value' } }] },
          roll: { actions: [{ type: 'setRandomInt', params: { field: 'roll', min: 10, max: 20, step: 5 } }] },
          swap: { actions: [{ type: 'set', params: { left: '$context.right', right: '$context.left' } }] },
        },
      },
    },
  });

  it('set resolves whole-value and interpolated expressions against the event and context', () => {
    const [snapshot] = start(machine, { title: 'Fix it' });
    const [next] = run(machine, snapshot, { type: 'comment', actor: worker, data: { text: 'done soon' } });
    expect(next.context).toEqual({ title: 'Fix it', comment: 'done soon', by: 'w-1', seen: true, label: 'Fix it: done soon' });
  });

  it('set reads every field from the context before the step (a swap swaps)', () => {
    const [snapshot] = start(machine, { left: 'L', right: 'R' });
    const [next] = run(machine, snapshot, { type: 'swap' });
    expect(next.context).toMatchObject({ left: 'R', right: 'L' });
  });

  it('increment counts a missing or non-numeric field as 0 and adds 1 by default', () => {
    const [fresh] = start(machine, {});
    expect(run(machine, fresh, { type: 'count' }, { type: 'count' })[0].context.count).toBe(2);
    const [junk] = start(machine, { count: 'abc' });
    expect(run(machine, junk, { type: 'count' })[0].context.count).toBe(1);
  });

  it('increment adds `by`', () => {
    const [snapshot] = start(machine, { count: 10 });
    expect(run(machine, snapshot, { type: 'countBy' })[0].context.count).toBe(7);
  });

  it('append starts a missing or non-array field as a new list and keeps resolved values', () => {
    const [snapshot] = start(machine, { list: 'not a list' });
    const [next] = run(machine, snapshot, { type: 'add', data: { value: { sku: 'A' } } }, { type: 'add', data: { value: 2 } });
    expect(next.context.list).toEqual([{ sku: 'A' }, 2]);
    expect(snapshot.context.list).toBe('not a list');
  });

  it.each([
    [0, 10],
    [0.5, 15],
    [0.9999, 20],
  ])('setRandomInt maps Math.random() = %d to %d (min 10, max 20, step 5)', (random, expected) => {
    vi.spyOn(Math, 'random').mockReturnValue(random);
    const [snapshot] = start(machine, {});
    expect(run(machine, snapshot, { type: 'roll' })[0].context.roll).toBe(expected);
  });

  it('context actions are not effects: a step with only context actions has no actions for the workflow', () => {
    const [snapshot] = start(machine, {});
    const [next, actions] = step(machine, snapshot, { type: 'count' });
    expect(next).not.toBe(snapshot);
    expect(next.value).toBe('a');
    expect(actions).toEqual([]);
  });
});

describe('nested states', () => {
  const machine = machineOf({
    id: 'nest',
    initial: 'p',
    states: {
      p: {
        initial: 'c1',
        on: { go: 'other', reset: '.c1' },
        states: {
          c1: { on: { go: { target: 'c2', guard: 'isAssignee' }, jump: '#far' } },
          c2: { on: { up: '#nest.other' } },
        },
      },
      other: { initial: 'o1', states: { o1: {}, o2: { id: 'far' } } },
    },
  });

  it('the child handles an event before its parent', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    expect(stateName(step(machine, snapshot, { type: 'go', actor: worker })[0].value)).toBe('p.c2');
  });

  it('the parent handles the event when the child guard rejects it', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    expect(stateName(step(machine, snapshot, { type: 'go', actor: otherWorker })[0].value)).toBe('other.o1');
  });

  it('targets by #id and #machine.path, and `.child` from the parent', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    expect(stateName(run(machine, snapshot, { type: 'jump' })[0].value)).toBe('other.o2');
    const [inC2] = run(machine, snapshot, { type: 'go', actor: worker });
    expect(stateName(run(machine, inC2, { type: 'up' })[0].value)).toBe('other.o1');
    expect(stateName(run(machine, inC2, { type: 'reset' })[0].value)).toBe('p.c1');
  });

  it('a forbidden transition in the child blocks the parent one', () => {
    const blocking = machineOf({ initial: 'p', states: { p: { initial: 'c', on: { go: 'other' }, states: { c: { on: { go: {} } } } }, other: {} } });
    const [snapshot] = start(blocking, {});
    expect(handledEventTypes(snapshot)).toEqual(['go']);
    expect(allowedEvents(snapshot, manager)).toEqual([]);
    const [next, actions] = step(blocking, snapshot, { type: 'go' });
    expect(stateName(next.value)).toBe('p.c');
    expect(actions).toEqual([]);
  });

  it('handledEventTypes lists the events of the active state and its ancestors', () => {
    const [snapshot] = start(machine, {});
    expect(handledEventTypes(snapshot).sort()).toEqual(['go', 'jump', 'reset']);
    const [inOther] = run(machine, snapshot, { type: 'jump' });
    expect(handledEventTypes(inOther)).toEqual([]);
  });
});

describe('parallel states', () => {
  const machine = machineOf({
    initial: 'work',
    states: {
      work: {
        type: 'parallel',
        onDone: { target: 'finished', actions: [{ type: 'emit', params: { name: 'demo.both_done', version: 1 } }] },
        states: {
          left: {
            initial: 'l1',
            states: { l1: { on: { l: 'l2', both: 'l2' } }, l2: { type: 'final', entry: [{ type: 'emit', params: { name: 'demo.left_done', version: 1 } }] } },
          },
          right: {
            initial: 'r1',
            states: { r1: { on: { r: { target: 'r2', guard: { type: 'hasRole', params: { roles: ['manager'] } } }, both: 'r2' } }, r2: { type: 'final' } },
          },
        },
      },
      finished: { type: 'final' },
    },
  });

  it('enters every region; the state name joins the full path of every region with |', () => {
    const [snapshot] = start(machine, {});
    expect(snapshot.value).toEqual({ work: { left: 'l1', right: 'r1' } });
    expect(stateName(snapshot.value)).toBe('work.left.l1|work.right.r1');
  });

  it('an event moves only the region that handles it', () => {
    const [snapshot] = start(machine, {});
    const [next] = run(machine, snapshot, { type: 'l' });
    expect(next.value).toEqual({ work: { left: 'l2', right: 'r1' } });
    expect(next.status).toBe('active');
  });

  it('one event taken by both regions moves both; when every region is final, onDone leaves the parallel state', () => {
    const [snapshot] = start(machine, {});
    const [next, actions] = run(machine, snapshot, { type: 'both' });
    expect(next.value).toBe('finished');
    expect(next.status).toBe('done');
    expect(emitsOf(actions).map((e) => e.name)).toEqual(['demo.left_done', 'demo.both_done']);
  });

  it('allowedEvents is the union over the regions, guards applied, done events left out', () => {
    const [snapshot] = start(machine, {});
    expect(handledEventTypes(snapshot)).toContain('xstate.done.state.demo.work');
    expect(allowedEvents(snapshot, worker).sort()).toEqual(['both', 'l']);
    expect(allowedEvents(snapshot, manager).sort()).toEqual(['both', 'l', 'r']);
  });

  it('restore takes a parallel value and steps on from it', () => {
    const restored = restore(machine, { work: { left: 'l2', right: 'r1' } }, {});
    expect(restored.status).toBe('active');
    const [next] = run(machine, restored, { type: 'r', actor: manager });
    expect(next.value).toBe('finished');
  });
});

describe('history states', () => {
  const definition = (initial: string) => ({
    initial,
    states: {
      work: {
        initial: 'a',
        on: { pause: 'paused' },
        states: {
          a: { on: { next: 'b' } },
          b: { initial: 'b1', states: { b1: { on: { deeper: 'b2' } }, b2: {} } },
          deep: { type: 'history', history: 'deep' },
          shallow: { type: 'history', history: 'shallow' },
          withDefault: { type: 'history', target: 'b' },
        },
      },
      paused: { on: { resumeDeep: 'work.deep', resumeShallow: 'work.shallow', resumeDefault: 'work.withDefault' } },
    },
  });
  const machine = machineOf(definition('work'));

  function pausedIn(...events: string[]): AnyMachineSnapshot {
    const [snapshot] = start(machine, {});
    return run(machine, snapshot, ...events.map((type) => ({ type })), { type: 'pause' })[0];
  }

  it('deep history returns to the exact leaf', () => {
    const paused = pausedIn('next', 'deeper');
    expect(paused.value).toBe('paused');
    expect(stateName(run(machine, paused, { type: 'resumeDeep' })[0].value)).toBe('work.b.b2');
  });

  it('shallow history returns to the child, entered at its initial state', () => {
    const paused = pausedIn('next', 'deeper');
    expect(stateName(run(machine, paused, { type: 'resumeShallow' })[0].value)).toBe('work.b.b1');
  });

  it('history remembers the last visit, not the deepest one', () => {
    const paused = pausedIn();
    expect(stateName(run(machine, paused, { type: 'resumeDeep' })[0].value)).toBe('work.a');
  });

  it('before any visit, a history state goes to its target, or else to the parent initial state', () => {
    const fresh = machineOf(definition('paused'));
    const [snapshot] = start(fresh, {});
    expect(stateName(run(fresh, snapshot, { type: 'resumeDefault' })[0].value)).toBe('work.b.b1');
    expect(stateName(run(fresh, snapshot, { type: 'resumeDeep' })[0].value)).toBe('work.a');
  });
});

describe('always (eventless) transitions', () => {
  const machine = machineOf({
    initial: 'check',
    context: { size: 'big' },
    states: {
      check: {
        always: [
          { target: 'big', guard: { type: 'contextEquals', params: { field: 'size', value: 'big' } } },
          { target: 'none', guard: { type: 'contextEquals', params: { field: 'size', value: null } } },
          { target: 'small' },
        ],
      },
      big: { entry: [{ type: 'payReward' }], on: { shrink: { target: 'check', actions: [{ type: 'set', params: { size: 'small' } }] } } },
      small: {},
      none: {},
    },
  });

  it('take the first branch whose guard passes, in the same step', () => {
    const [snapshot, actions] = start(machine, {});
    expect(snapshot.value).toBe('big');
    expect(summary(actions)).toEqual(['effect:payReward']);
  });

  it('fall through to the unguarded branch', () => {
    expect(start(machine, { size: 'tiny' })[0].value).toBe('small');
  });

  it('contextEquals treats a missing field as null', () => {
    const [snapshot] = start(machine, { size: undefined });
    expect(snapshot.value).toBe('none');
  });

  it('are evaluated again after a step enters the checking state, with the new context', () => {
    const [snapshot] = start(machine, {});
    const [next, actions] = step(machine, snapshot, { type: 'shrink' });
    expect(next.value).toBe('small');
    expect(next.context.size).toBe('small');
    expect(actions).toEqual([]);
  });
});

describe('after (delayed) transitions', () => {
  const machine = machineOf({
    initial: 'waiting',
    states: {
      waiting: {
        after: {
          '$context.sla': { target: 'late', actions: [{ type: 'emit', params: { name: 'demo.late', version: 1 } }] },
          '2h': 'late',
          500: 'late',
        },
        on: { poke: { target: 'waiting', reenter: true }, tick: { actions: [{ type: 'increment', params: { field: 'ticks' } }] }, answer: 'answered' },
      },
      answered: { initial: 'x', states: { x: { after: { '1d': 'y' } }, y: {} } },
      late: { type: 'final' },
    },
  });

  it('entering a state schedules one timer per delay, with stable ids', () => {
    const [, actions] = start(machine, { sla: '15m' });
    expect(actions).toEqual([
      { kind: 'schedule', id: 'xstate.after.500.demo.waiting', delayMs: 500, event: { type: 'xstate.after.500.demo.waiting' } },
      { kind: 'schedule', id: 'xstate.after.$context.sla.demo.waiting', delayMs: 900_000, event: { type: 'xstate.after.$context.sla.demo.waiting' } },
      { kind: 'schedule', id: 'xstate.after.2h.demo.waiting', delayMs: 7_200_000, event: { type: 'xstate.after.2h.demo.waiting' } },
    ]);
  });

  it.each([
    ['a duration', '45s', 45_000],
    ['milliseconds as a number', 5000, 5000],
    ['milliseconds as a string', '750', 750],
    ['a bad value: never (the longest timer)', 'soon', never],
    ['a missing value: never', undefined, never],
  ])('$context.field delays read the field at entry: %s', (_, sla, delayMs) => {
    const [, actions] = start(machine, sla === undefined ? {} : { sla });
    const timer = schedulesOf(actions).find((a) => a.id === 'xstate.after.$context.sla.demo.waiting');
    expect(timer?.delayMs).toBe(delayMs);
  });

  it('the timer event takes the delayed transition and cancels every timer of the state (its own included)', () => {
    const [snapshot, initial] = start(machine, { sla: '15m' });
    const timer = schedulesOf(initial).find((a) => a.delayMs === 900_000)!;
    const [next, actions] = step(machine, snapshot, timer.event);
    expect(next.value).toBe('late');
    expect(next.status).toBe('done');
    expect(summary(actions)).toEqual([
      'cancel:xstate.after.500.demo.waiting',
      'cancel:xstate.after.$context.sla.demo.waiting',
      'cancel:xstate.after.2h.demo.waiting',
      'effect:emit',
    ]);
  });

  it('leaving the state by an event cancels its timers and schedules those of the new state', () => {
    const [snapshot] = start(machine, { sla: '15m' });
    const [next, actions] = step(machine, snapshot, { type: 'answer' });
    expect(stateName(next.value)).toBe('answered.x');
    expect(summary(actions)).toEqual([
      'cancel:xstate.after.500.demo.waiting',
      'cancel:xstate.after.$context.sla.demo.waiting',
      'cancel:xstate.after.2h.demo.waiting',
      'schedule:xstate.after.1d.demo.answered.x:86400000',
    ]);
  });

  it('re-entering the state restarts its timers: cancel, then schedule again', () => {
    const [snapshot] = start(machine, { sla: '1s' });
    const [, actions] = step(machine, snapshot, { type: 'poke' });
    expect(summary(actions)).toEqual([
      'cancel:xstate.after.500.demo.waiting',
      'cancel:xstate.after.$context.sla.demo.waiting',
      'cancel:xstate.after.2h.demo.waiting',
      'schedule:xstate.after.500.demo.waiting:500',
      'schedule:xstate.after.$context.sla.demo.waiting:1000',
      'schedule:xstate.after.2h.demo.waiting:7200000',
    ]);
  });

  it('a targetless transition keeps the timers running', () => {
    const [snapshot] = start(machine, { sla: '1s' });
    const [next, actions] = step(machine, snapshot, { type: 'tick' });
    expect(next.context.ticks).toBe(1);
    expect(actions).toEqual([]);
  });

  it('timer events are handled but never offered to users', () => {
    const [snapshot] = start(machine, {});
    expect(handledEventTypes(snapshot)).toContain('xstate.after.2h.demo.waiting');
    expect(allowedEvents(snapshot, manager).sort()).toEqual(['answer', 'poke', 'tick']);
  });

  it('a timer event of a state already left changes nothing', () => {
    const [snapshot] = start(machine, {});
    const [answered] = run(machine, snapshot, { type: 'answer' });
    const [next, actions] = step(machine, answered, { type: 'xstate.after.2h.demo.waiting' });
    expect(next).toBe(answered);
    expect(actions).toEqual([]);
  });
});

describe('final states', () => {
  const machine = machineOf({
    initial: 'open',
    states: {
      open: { on: { finish: { target: 'closed', actions: [{ type: 'emit', params: { name: 'demo.closed', version: 1 } }] } } },
      closed: { type: 'final', entry: [{ type: 'unsubscribe', params: { topic: 'demo/{{issue.id}}' } }] },
    },
  });

  it('reaching a top-level final state makes the snapshot done, running its entry effects', () => {
    const [snapshot] = start(machine, {});
    const [next, actions] = step(machine, snapshot, { type: 'finish' });
    expect(next.status).toBe('done');
    expect(summary(actions)).toEqual(['effect:emit', 'effect:unsubscribe']);
    expect(rendered(theEffect(actions, 'unsubscribe'))).toEqual({ topic: `demo/${issue.id}` });
  });

  it('a done snapshot handles nothing and allows nothing', () => {
    const [snapshot] = start(machine, {});
    const [done] = run(machine, snapshot, { type: 'finish' });
    expect(handledEventTypes(done)).toEqual([]);
    expect(allowedEvents(done, manager)).toEqual([]);
    const [after, actions] = step(machine, done, { type: 'finish' });
    expect(after).toBe(done);
    expect(actions).toEqual([]);
  });

  it('a final child of a compound state does not end the issue', () => {
    const nested = machineOf({ initial: 'p', states: { p: { initial: 'a', states: { a: { on: { go: 'end' } }, end: { type: 'final' } } } } });
    const [snapshot] = start(nested, {});
    const [next] = run(nested, snapshot, { type: 'go' });
    expect(stateName(next.value)).toBe('p.end');
    expect(next.status).toBe('active');
  });

  it('restore to a final state gives a done snapshot', () => {
    expect(restore(machine, 'closed', {}).status).toBe('done');
  });
});

describe('refusals', () => {
  const machine = machineOf({
    initial: 'open',
    states: {
      open: {
        on: {
          complete: { target: 'done', guard: 'isAssignee' },
          approve: { target: 'done', guard: { type: 'isUser', params: { field: 'reviewerId' } } },
          escalate: { target: 'done', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } } },
          archive: { target: 'done', guard: { type: 'contextEquals', params: { field: 'archivable', value: true } } },
          forbidden: {},
          'worker.available': 'done',
        },
      },
      done: { type: 'final' },
    },
  });
  const input = { assigneeId: 'w-1', reviewerId: 'r-1' };

  it('an event no active state handles changes nothing and produces no actions', () => {
    const [snapshot] = start(machine, input);
    const [next, actions] = step(machine, snapshot, { type: 'fly', actor: manager });
    expect(next).toBe(snapshot);
    expect(actions).toEqual([]);
    expect(handledEventTypes(snapshot)).not.toContain('fly');
  });

  it.each([
    ['complete', 'isAssignee', otherWorker],
    ['approve', 'isUser reviewerId', worker],
    ['escalate', 'hasRole manager/admin', worker],
    ['archive', 'contextEquals archivable', manager],
  ])('a rejected guard (%s: %s) changes nothing', (type, _, sender) => {
    const [snapshot] = start(machine, input);
    expect(handledEventTypes(snapshot)).toContain(type);
    expect(snapshot.can({ type, actor: sender, data: {} })).toBe(false);
    const [next, actions] = step(machine, snapshot, { type, actor: sender });
    expect(next).toBe(snapshot);
    expect(actions).toEqual([]);
  });

  it('a forbidden transition (no target, no actions) is not a handled event: the event is not allowed at all', () => {
    const [snapshot] = start(machine, input);
    expect(handledEventTypes(snapshot)).not.toContain('forbidden');
    expect(allowedEvents(snapshot, manager)).not.toContain('forbidden');
    expect(step(machine, snapshot, { type: 'forbidden', actor: manager })[0]).toBe(snapshot);
  });

  it('an event without an actor fails every actor guard', () => {
    const [snapshot] = start(machine, input);
    for (const type of ['complete', 'approve', 'escalate']) expect(step(machine, snapshot, { type })[0]).toBe(snapshot);
  });

  it('allowedEvents: each actor sees what its guards let through; events the product sends itself never', () => {
    const [snapshot] = start(machine, input);
    expect(handledEventTypes(snapshot).sort()).toEqual(['approve', 'archive', 'complete', 'escalate', 'worker.available']);
    expect(allowedEvents(snapshot, worker)).toEqual(['complete']);
    expect(allowedEvents(snapshot, actor('r-1', 'reviewer'))).toEqual(['approve']);
    expect(allowedEvents(snapshot, manager)).toEqual(['escalate']);
    expect(allowedEvents(snapshot, otherWorker)).toEqual([]);
  });

  it('a context-guarded event becomes allowed once the context satisfies it', () => {
    const [snapshot] = start(machine, { ...input, archivable: true });
    expect(allowedEvents(snapshot, otherWorker)).toEqual(['archive']);
    expect(run(machine, snapshot, { type: 'archive', actor: otherWorker })[0].status).toBe('done');
  });

  it('a system event is taken by step although no user may send it', () => {
    const [snapshot] = start(machine, input);
    expect(run(machine, snapshot, { type: 'worker.available' })[0].status).toBe('done');
  });
});

describe('restore', () => {
  const machine = machineOf({
    initial: 'a',
    states: { a: { initial: 'a1', states: { a1: { on: { next: 'a2' } }, a2: { on: { next: '#demo.b' } } } }, b: { type: 'final' } },
  });

  it('rebuilds a snapshot from a stored value and context, which steps on like the original', () => {
    const restored = restore(machine, { a: 'a2' }, { carried: true });
    expect(restored.value).toEqual({ a: 'a2' });
    expect(restored.context).toEqual({ carried: true });
    expect(restored.status).toBe('active');
    const [next] = run(machine, restored, { type: 'next' });
    expect(next.value).toBe('b');
    expect(next.context).toEqual({ carried: true });
  });

  it('resolves a compound value to its initial child', () => {
    const restored = restore(machine, 'a', {});
    expect(restored.value).toEqual({ a: 'a1' });
  });

  it('throws for a state the chart does not have', () => {
    expect(() => restore(machine, 'nowhere', {})).toThrow(/nowhere/);
  });
});

describe('stateName', () => {
  it.each([
    ['open', 'open'],
    [{ review: 'waiting' }, 'review.waiting'],
    [{ a: { b: { c: 'd' } } }, 'a.b.c.d'],
    [{ a: 'x', b: 'y' }, 'a.x|b.y'],
    [{ p: { left: 'l1', right: { r: 'r1' } } }, 'p.left.l1|p.right.r.r1'],
    [{ a: {} }, 'a'],
  ])('%j is %s', (value, name) => {
    expect(stateName(value as never)).toBe(name);
  });
});

describe('onDone and guard combinators', () => {
  const machine = machineOf({
    initial: 'review',
    context: { locked: false },
    states: {
      review: {
        type: 'parallel',
        states: {
          legal: { initial: 'pending', states: { pending: { on: { 'legal.ok': 'ok' } }, ok: { type: 'final' } } },
          qa: {
            initial: 'pending',
            states: {
              pending: {
                on: {
                  'qa.ok': {
                    target: 'ok',
                    guard: { type: 'or', params: { guards: ['isAssignee', { type: 'and', params: { guards: [{ type: 'hasRole', params: { roles: ['manager'] } }, { type: 'not', params: { guards: [{ type: 'contextEquals', params: { field: 'locked', value: true } }] } }] } }] } },
                  },
                },
              },
              ok: { type: 'final' },
            },
          },
        },
        onDone: 'approved',
      },
      approved: { type: 'final' },
    },
  });

  it('a parallel state joins once every region reaches its final state', () => {
    const [snapshot] = start(machine, { assigneeId: 'w-1' });
    expect(stateName(snapshot.value)).toBe('review.legal.pending|review.qa.pending');
    const [half] = run(machine, snapshot, { type: 'qa.ok', actor: worker });
    expect(stateName(half.value)).toBe('review.legal.pending|review.qa.ok');
    const [joined] = run(machine, half, { type: 'legal.ok', actor: worker });
    expect(joined.value).toBe('approved');
    expect(joined.status).toBe('done');
  });

  it.each([
    ['the assignee', worker, {}, true],
    ['a manager', manager, {}, true],
    ['a manager while locked', manager, { locked: true }, false],
    ['another worker', otherWorker, {}, false],
  ])('or(isAssignee, and(hasRole manager, not(locked))): %s → %s', (_, sender, context, allowed) => {
    const [snapshot] = start(machine, { assigneeId: 'w-1', ...context });
    expect(allowedEvents(snapshot, sender).includes('qa.ok')).toBe(allowed);
  });
});
