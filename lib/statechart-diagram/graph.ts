// A statechart as both diagrams draw it: its states as a tree and its transitions as labelled edges. Read from the
// XState machine itself, so every target is resolved exactly as a running issue resolves it (`#id`, `.child`,
// siblings, dotted paths, several targets).
import type { AnyStateMachine, StateValue } from 'xstate';
import { isGuardCombinator, type GuardRef } from '../../workflows/statechart/catalog.js';

type StateNode = AnyStateMachine['root'];
type Transition = NonNullable<StateNode['always']>[number];

export type StateKind = StateNode['type'];

export interface DiagramState {
  /** XState's id of the state, unique in the chart: `task.open`, or the `id` the definition gives it. */
  id: string;
  /** Its key; the root's is the machine's id. */
  name: string;
  kind: StateKind;
  /** A history state remembers its parent's last child (`shallow`) or every active state below it (`deep`). */
  history?: 'shallow' | 'deep';
  /** A compound state's first child, by id. */
  initial?: string;
  /** One of the regions of a parallel state. */
  region: boolean;
  children: DiagramState[];
}

export interface DiagramTransition {
  /** State ids; a transition without a target stays where it is, so it goes back to its source. */
  source: string;
  target: string;
  /** What takes it: the event, `after <delay>`, `always` or `done`, then its guard in brackets. */
  label: string;
}

export interface StatechartGraph {
  root: DiagramState;
  transitions: DiagramTransition[];
}

/** `isAssignee`, `hasRole`, `isAssignee or hasRole`, `not (isAssignee and hasRole)`: names only, params left out. */
export function guardLabel(guard: GuardRef): string {
  if (typeof guard === 'string') return guard;
  if (!isGuardCombinator(guard.type)) return guard.type;
  const nested = (guard.params as { guards: GuardRef[] }).guards.map((inner) => {
    const label = guardLabel(inner);
    // A nested and/or reads as one operand only in parentheses.
    return typeof inner === 'object' && (inner.type === 'and' || inner.type === 'or') ? `(${label})` : label;
  });
  return guard.type === 'not' ? `not ${nested.join(', ')}` : nested.join(` ${guard.type} `);
}

/** XState names a state's done event `xstate.done.state.<id>`: its `onDone` transitions are keyed by it. */
const doneEventPrefix = 'xstate.done.state.';

function trigger(eventType: string, transition: Transition): string {
  // `after` transitions carry their delay: a duration (`1d`), `$context.field`, or milliseconds.
  const delay = (transition as Transition & { delay?: unknown }).delay;
  if (typeof delay === 'number') return `after ${delay}ms`;
  if (typeof delay === 'string') return `after ${delay}`;
  return eventType.startsWith(doneEventPrefix) ? 'done' : eventType;
}

export function statechartGraph(machine: AnyStateMachine): StatechartGraph {
  const transitions: DiagramTransition[] = [];
  const add = (node: StateNode, on: string, transition: Transition) => {
    const label = transition.guard ? `${on} [${guardLabel(transition.guard as GuardRef)}]` : on;
    const targets = transition.target?.length ? transition.target : [node];
    for (const target of targets) transitions.push({ source: node.id, target: target.id, label });
  };
  const visit = (node: StateNode, region: boolean): DiagramState => {
    // XState keeps `on`, `onDone` and `after` together, in that order, keyed by event type; `always` apart.
    for (const [eventType, list] of node.transitions) for (const transition of list) add(node, trigger(eventType, transition), transition);
    for (const transition of node.always ?? []) add(node, 'always', transition);
    return {
      id: node.id,
      name: node.key,
      kind: node.type,
      ...(node.type === 'history' ? { history: node.history === 'deep' ? ('deep' as const) : ('shallow' as const) } : {}),
      ...(node.type === 'compound' && node.initial.target[0] ? { initial: node.initial.target[0].id } : {}),
      region,
      children: Object.values(node.states).map((child) => visit(child, node.type === 'parallel')),
    };
  };
  const root = visit(machine.root, false);
  return { root, transitions };
}

/**
 * The ids of the states active in a state value, below the root: each state it names with every ancestor, so
 * every region of a parallel state shows where it is.
 */
export function activeStates(graph: StatechartGraph, value: StateValue): Set<string> {
  const active = new Set<string>();
  const mark = (parent: DiagramState, at: StateValue) => {
    const entries: [string, StateValue | undefined][] = typeof at === 'string' ? [[at, undefined]] : Object.entries(at);
    for (const [key, inner] of entries) {
      const child = parent.children.find((state) => state.name === key);
      if (!child) continue;
      active.add(child.id);
      if (inner !== undefined) mark(child, inner);
    }
  };
  mark(graph.root, value);
  return active;
}

/** Every state of the chart, parents before their children. */
export function allStates(graph: StatechartGraph): DiagramState[] {
  const all: DiagramState[] = [];
  const collect = (state: DiagramState) => {
    all.push(state);
    state.children.forEach(collect);
  };
  collect(graph.root);
  return all;
}
