// Builds an XState machine from a stored issue-type definition and steps it with XState's pure
// `initialTransition` / `transition`: no actor, no timers, no side effects — the workflow runs those.
import { ApplicationFailure } from '@temporalio/common';
import {
  assign,
  initialTransition,
  setup,
  transition,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type StateValue,
} from 'xstate';
import {
  contextActions,
  guardCombinators,
  guards,
  isUserEventType,
  testGuard,
  type Actor,
  type GuardArgs,
  type IssueContext,
  type IssueEvent,
} from './catalog.js';
import { resolveExpressions, type ExpressionScope } from './expressions.js';

/** A statechart in XState v5 config form, as stored (JSON). */
export type IssueTypeDefinition = Record<string, unknown> & { initial?: string; states?: Record<string, unknown> };

/** Durations an `after` key may use besides milliseconds: 30s, 15m, 2h, 1d; or `$context.field` holding one. */
const durationPattern = /^(\d+)(ms|s|m|h|d)$/;
const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const match = durationPattern.exec(value);
  return match ? Number(match[1]) * unitMs[match[2] as keyof typeof unitMs] : undefined;
}

/** Every `after` key in the definition that is not plain milliseconds. */
export function namedDelays(definition: unknown): string[] {
  const names = new Set<string>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const state = node as { after?: Record<string, unknown>; states?: Record<string, unknown> };
    for (const key of Object.keys(state.after ?? {})) if (!/^\d+$/.test(key)) names.add(key);
    for (const child of Object.values(state.states ?? {})) walk(child);
  };
  walk(definition);
  return [...names];
}

/** "Never" for a delay that cannot be read: about 24 days, the longest timer. A bad value must not fire at once. */
const neverMs = 2 ** 31 - 1;

function delayFor(name: string) {
  const field = /^\$context\.([A-Za-z_]\w*)$/.exec(name)?.[1];
  if (field) return ({ context }: { context: IssueContext }) => parseDuration(context[field]) ?? neverMs;
  return parseDuration(name) ?? neverMs;
}

/** Microsteps one event may take before the step fails (`Issue.StepFailed`) instead of spinning. */
export const maxMicrosteps = 1000;

/** The machine for a definition; `issue` scopes expressions (`$issue.id`). */
export function buildMachine(definition: IssueTypeDefinition, issue: { id: string; type: string }): AnyStateMachine {
  const scope = (context: IssueContext, event: unknown): ExpressionScope => ({ context, event, issue });
  const { context: defaults, ...config } = definition;
  const machine = setup({
    types: {} as { context: IssueContext; events: IssueEvent; input: IssueContext },
    // Every catalog guard and combinator by name; `testGuard` looks each up in the catalog.
    guards: Object.fromEntries(
      [...Object.keys(guards), ...guardCombinators].map((type) => [type, (args: GuardArgs, params: unknown) => testGuard({ type, params }, args)]),
    ),
    actions: {
      set: assign(({ context, event }, params: Record<string, unknown>) => resolveExpressions(params, scope(context, event))),
      increment: assign(({ context }, params: { field: string; by?: number }) => ({
        [params.field]: (Number(context[params.field]) || 0) + (params.by ?? contextActions.increment.defaults.by),
      })),
      setRandomInt: assign((_, params: { field: string; min: number; max: number; step?: number }) => {
        const step = params.step ?? contextActions.setRandomInt.defaults.step;
        const choices = Math.floor((params.max - params.min) / step) + 1;
        // Math.random is seeded per workflow run by Temporal, so replay picks the same value.
        return { [params.field]: params.min + step * Math.floor(Math.random() * choices) };
      }),
      append: assign(({ context, event }, params: { field: string; value: unknown }) => {
        const list = context[params.field];
        return { [params.field]: [...(Array.isArray(list) ? list : []), resolveExpressions(params.value, scope(context, event))] };
      }),
    },
    delays: Object.fromEntries(namedDelays(definition).map((name) => [name, delayFor(name)])),
  }).createMachine({
    ...(config as object),
    id: typeof config.id === 'string' ? config.id : issue.type,
    context: ({ input }: { input: IssueContext }) => ({ ...(defaults as IssueContext | undefined), ...input }),
    // Saving refuses charts whose eventless transitions can loop; this is the backstop for one that slips through.
    options: { maxIterations: maxMicrosteps },
  } as never);
  return machine as unknown as AnyStateMachine;
}

/** An effect or scheduling instruction produced by a transition, reduced to plain data. */
export type StepAction =
  | { kind: 'effect'; type: string; params: unknown; context: IssueContext; event: unknown }
  | { kind: 'schedule'; id: string; delayMs: number; event: IssueEvent }
  | { kind: 'cancel'; id: string };

interface XStateAction {
  type: string;
  params?: unknown;
  info?: { context?: IssueContext; event?: unknown };
}

function toStepActions(actions: readonly XStateAction[]): StepAction[] {
  const out: StepAction[] = [];
  for (const action of actions) {
    if (action.type === 'xstate.raise') {
      const p = action.params as { id?: string; delay?: number; event: IssueEvent };
      // Delayed transitions (`after`) come as delayed raises; immediate raises are already applied.
      if (p.delay !== undefined) out.push({ kind: 'schedule', id: p.id ?? p.event.type, delayMs: p.delay, event: p.event });
    } else if (action.type === 'xstate.cancel') {
      out.push({ kind: 'cancel', id: (action.params as { sendId: string }).sendId });
    } else if (!action.type.startsWith('xstate.')) {
      out.push({
        kind: 'effect',
        type: action.type,
        params: action.params,
        context: action.info?.context ?? {},
        event: action.info?.event,
      });
    }
  }
  return out;
}

export function start(machine: AnyStateMachine, input: IssueContext): [AnyMachineSnapshot, StepAction[]] {
  const [snapshot, actions] = settling(() => initialTransition(machine, input));
  return [snapshot, toStepActions(actions as readonly XStateAction[])];
}

export function step(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: IssueEvent): [AnyMachineSnapshot, StepAction[]] {
  const [next, actions] = settling(() => transition(machine, snapshot, event));
  return [next, toStepActions(actions as readonly XStateAction[])];
}

/**
 * A transition that throws (one that does not settle within `maxMicrosteps`, an action that fails) — XState throws
 * it, or answers a snapshot in status `error` — fails the step, as one the issue recovers from and nobody retries:
 * the issue must neither end nor spin.
 */
function settling<T extends [AnyMachineSnapshot, unknown]>(run: () => T): T {
  let result: T;
  try {
    result = run();
  } catch (error) {
    throw stepFailed(error);
  }
  if (result[0].status === 'error') throw stepFailed((result[0] as { error?: unknown }).error);
  return result;
}

function stepFailed(cause: unknown): ApplicationFailure {
  const reason = cause instanceof Error && cause.message.startsWith('Infinite loop detected') ? `it did not settle within ${maxMicrosteps} microsteps` : String(cause);
  return ApplicationFailure.create({ type: 'Issue.StepFailed', message: `the statechart failed: ${reason}`, nonRetryable: true });
}

export function restore(machine: AnyStateMachine, value: StateValue, context: IssueContext): AnyMachineSnapshot {
  return machine.resolveState({ value, context });
}

/**
 * The path of every active leaf state, in name order: `open`, `review.waiting`; a parallel state gives one per
 * region (`review.legal.ok`, `review.qa.pending`).
 */
export function activeStatePaths(value: StateValue): string[] {
  const paths = (at: StateValue, prefix: string): string[] =>
    typeof at === 'string'
      ? [prefix + at]
      : Object.entries(at).flatMap(([key, child]) =>
          child === undefined || (typeof child === 'object' && Object.keys(child).length === 0) ? [prefix + key] : paths(child as StateValue, `${prefix}${key}.`),
        );
  return paths(value, '').sort();
}

/**
 * What the read model, the history and the search attribute show: the active leaf paths in name order (a stored
 * definition's key order is PostgreSQL's, not its author's) joined by `|`.
 */
export const stateName = (value: StateValue): string => activeStatePaths(value).join('|');

/** Event types that change something now, i.e. some transition of an active state handles them. */
export function handledEventTypes(snapshot: AnyMachineSnapshot): string[] {
  const nodes = (snapshot as unknown as { _nodes: { ownEvents: string[] }[] })._nodes;
  return [...new Set(nodes.flatMap((node) => node.ownEvents))];
}

/** What a user may send now, in name order: handled, not a system event, and every guard on the way passes. */
export function allowedEvents(snapshot: AnyMachineSnapshot, actor: Actor): string[] {
  if (snapshot.status !== 'active') return [];
  return handledEventTypes(snapshot)
    .filter((type) => isUserEventType(type) && snapshot.can({ type, actor, data: {} }))
    .sort();
}

/** A delayed transition of an active state, due `delayMs` from now: what the workflow arms as a timer. */
export interface DelayedEvent {
  id: string;
  event: { type: string };
  delayMs: number;
}

/**
 * The `after` timers of every state active in `snapshot`, each due its full delay from now (a named delay such as
 * `$context.sla` read from the snapshot's context): the timers entering these states would have started. How an
 * issue restored into them without entering them (a migration to another version) arms its timers.
 */
export function delayedEventsOf(machine: AnyStateMachine, snapshot: AnyMachineSnapshot): DelayedEvent[] {
  const delays = machine.implementations.delays as Record<string, number | ((args: { context: IssueContext; event: unknown }) => number)>;
  const nodes = (snapshot as unknown as { _nodes: { after: { delay: number | string; eventType: string }[] }[] })._nodes;
  const found = new Map<string, DelayedEvent>();
  for (const node of nodes) {
    for (const { delay, eventType } of node.after) {
      const named = typeof delay === 'string' ? delays[delay] : delay;
      const delayMs = typeof named === 'function' ? named({ context: snapshot.context, event: { type: eventType } }) : (named ?? neverMs);
      // Guarded alternatives of one delay share its timer.
      found.set(eventType, { id: eventType, event: { type: eventType }, delayMs });
    }
  }
  return [...found.values()];
}
