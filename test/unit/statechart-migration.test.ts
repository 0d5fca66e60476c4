// Moving an issue to another version of its type (workflows/statechart/migration.ts) and re-arming the target
// chart's timers (machine.ts `delayedEventsOf`): pure, no Temporal.
import { describe, expect, it } from 'vitest';
import { activeStatePaths, delayedEventsOf, restore, start, step } from '../../workflows/statechart/machine.js';
import { mappedValue, statesOf } from '../../workflows/statechart/migration.js';
import { machineOf } from './statechart-support.js';

const review = {
  initial: 'draft',
  states: {
    draft: { on: { submit: 'review' } },
    review: {
      type: 'parallel',
      states: {
        legal: { initial: 'pending', states: { pending: { after: { '1h': 'ok' } }, ok: {} } },
        qa: { initial: 'pending', states: { pending: { after: { '$context.qaSla': 'passed' } }, passed: {} } },
      },
      after: { '1d': 'stale' },
    },
    stale: { after: { 500: 'draft' } },
    closed: { type: 'final' },
  },
};

describe('activeStatePaths', () => {
  it('names each active leaf from the root, one per parallel region', () => {
    expect(activeStatePaths('open')).toEqual(['open']);
    expect(activeStatePaths({ review: 'waiting' })).toEqual(['review.waiting']);
    expect(activeStatePaths({ review: { legal: 'ok', qa: 'pending' } })).toEqual(['review.legal.ok', 'review.qa.pending']);
    expect(activeStatePaths({ review: { legal: {}, qa: { sub: 'x' } } })).toEqual(['review.legal', 'review.qa.sub.x']);
  });
});

describe('statesOf', () => {
  it('lists every state by path, with final and parallel marked', () => {
    const states = statesOf(review);
    expect([...states.keys()]).toEqual(['', 'draft', 'review', 'review.legal', 'review.legal.pending', 'review.legal.ok', 'review.qa', 'review.qa.pending', 'review.qa.passed', 'stale', 'closed']);
    expect(states.get('review')).toEqual({ final: false, parallel: true });
    expect(states.get('closed')).toEqual({ final: true, parallel: false });
  });
});

describe('mappedValue', () => {
  const target = statesOf(review);

  it('maps a leaf to a leaf, and parallel regions into one value', () => {
    expect(mappedValue(['open'], { open: 'draft' }, target)).toEqual({ value: 'draft' });
    expect(mappedValue(['a', 'b'], { a: 'review.legal.ok', b: 'review.qa.pending' }, target)).toEqual({ value: { review: { legal: 'ok', qa: 'pending' } } });
    // Two regions mapped to one state: it is active once.
    expect(mappedValue(['x.a', 'x.b'], { 'x.a': 'stale', 'x.b': 'stale' }, target)).toEqual({ value: 'stale' });
  });

  it('names every leaf without a mapping', () => {
    expect(mappedValue(['x.a', 'x.b', 'y'], { 'x.a': 'draft' }, target)).toEqual({ unmapped: ['x.b', 'y'] });
  });

  it('refuses targets that cannot be active together', () => {
    expect(mappedValue(['x.a', 'x.b'], { 'x.a': 'draft', 'x.b': 'stale' }, target)).toEqual({ conflict: '(root)' });
    expect(mappedValue(['x.a', 'x.b'], { 'x.a': 'review.legal.ok', 'x.b': 'review.legal.pending' }, target)).toEqual({ conflict: 'review.legal' });
  });

  it('makes values the target machine restores, filling an unmapped region with its initial state', () => {
    const machine = machineOf(review);
    const mapped = mappedValue(['a'], { a: 'review.legal.ok' }, target);
    expect(restore(machine, (mapped as { value: never }).value, {}).value).toEqual({ review: { legal: 'ok', qa: 'pending' } });
  });
});

describe('delayedEventsOf', () => {
  it('answers the after timers of every active state, ancestors included, named delays read from the context', () => {
    const machine = machineOf(review);
    const snapshot = restore(machine, { review: { legal: 'pending', qa: 'pending' } }, { qaSla: '30m' });
    expect(delayedEventsOf(machine, snapshot).sort((a, b) => a.delayMs - b.delayMs)).toEqual([
      { id: 'xstate.after.$context.qaSla.demo.review.qa.pending', event: { type: 'xstate.after.$context.qaSla.demo.review.qa.pending' }, delayMs: 1_800_000 },
      { id: 'xstate.after.1h.demo.review.legal.pending', event: { type: 'xstate.after.1h.demo.review.legal.pending' }, delayMs: 3_600_000 },
      { id: 'xstate.after.1d.demo.review', event: { type: 'xstate.after.1d.demo.review' }, delayMs: 86_400_000 },
    ]);
  });

  it('uses the ids, events and delays the workflow schedules when it enters the states', () => {
    const machine = machineOf(review);
    const [draft] = start(machine, { qaSla: '5m' });
    const [inReview, actions] = step(machine, draft, { type: 'submit' });
    const scheduled = actions.flatMap((a) => (a.kind === 'schedule' ? [{ id: a.id, event: { type: a.event.type }, delayMs: a.delayMs }] : []));
    const byId = (list: { id: string }[]) => [...list].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(delayedEventsOf(machine, inReview))).toEqual(byId(scheduled));
  });

  it('answers a plain millisecond delay, and none for a state without timers', () => {
    const machine = machineOf(review);
    expect(delayedEventsOf(machine, restore(machine, 'stale', {}))).toEqual([{ id: 'xstate.after.500.demo.stale', event: { type: 'xstate.after.500.demo.stale' }, delayMs: 500 }]);
    expect(delayedEventsOf(machine, restore(machine, 'draft', {}))).toEqual([]);
  });
});
