// Helpers for the statechart unit tests: build a machine from a definition, and read a step's actions the way
// the issue workflow does (workflows/issue.ts), without Temporal.
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { Actor, IssueContext, IssueEvent } from '../../workflows/statechart/catalog.js';
import { resolveExpressions } from '../../workflows/statechart/expressions.js';
import { buildMachine, start, step, type IssueTypeDefinition, type StepAction } from '../../workflows/statechart/machine.js';

export const issue = { id: 'issue-1', type: 'demo' };

export const machineOf = (definition: unknown, type = issue.type): AnyStateMachine =>
  buildMachine(definition as IssueTypeDefinition, { id: issue.id, type });

export type Effect = Extract<StepAction, { kind: 'effect' }>;
export type Schedule = Extract<StepAction, { kind: 'schedule' }>;

export const effectsOf = (actions: StepAction[]): Effect[] => actions.filter((a): a is Effect => a.kind === 'effect');
export const schedulesOf = (actions: StepAction[]): Schedule[] => actions.filter((a): a is Schedule => a.kind === 'schedule');

/** One line per action: `effect:type`, `schedule:id:ms` or `cancel:id`; the order is the order the workflow runs them in. */
export const summary = (actions: StepAction[]): string[] =>
  actions.map((a) => (a.kind === 'effect' ? `effect:${a.type}` : a.kind === 'schedule' ? `schedule:${a.id}:${a.delayMs}` : `cancel:${a.id}`));

/** An effect's params with its expressions resolved against the context and event it was produced with, as the workflow does. */
export const rendered = (action: Effect, issueId = issue.id, type = issue.type): Record<string, unknown> =>
  resolveExpressions((action.params ?? {}) as Record<string, unknown>, { context: action.context, event: action.event, issue: { id: issueId, type } });

/** The one effect of a type in a step; fails the test when there is none or more than one. */
export function theEffect(actions: StepAction[], type: string): Effect {
  const found = effectsOf(actions).filter((a) => a.type === type);
  if (found.length !== 1) throw new Error(`expected one ${type} effect, got ${found.length}: ${summary(actions).join(', ')}`);
  return found[0]!;
}

/** The emitted domain events of a step, rendered: `{ name, version, data }`. */
export const emitsOf = (actions: StepAction[], issueId = issue.id, type = issue.type) =>
  effectsOf(actions)
    .filter((a) => a.type === 'emit')
    .map((a) => rendered(a, issueId, type));

export const actor = (id: string, role: Actor['role']): Actor => ({ id, role });

/** Runs events in order from a snapshot; each must change the snapshot (a refused event fails the test). */
export function run(machine: AnyStateMachine, from: AnyMachineSnapshot, ...events: IssueEvent[]): [AnyMachineSnapshot, StepAction[]] {
  let snapshot = from;
  let actions: StepAction[] = [];
  for (const event of events) {
    const [next, stepActions] = step(machine, snapshot, event);
    if (next === snapshot) throw new Error(`"${event.type}" changed nothing in ${JSON.stringify(snapshot.value)}`);
    snapshot = next;
    actions = stepActions;
  }
  return [snapshot, actions];
}

export const started = (machine: AnyStateMachine, input: IssueContext = {}) => start(machine, input);
