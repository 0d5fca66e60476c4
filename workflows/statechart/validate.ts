// Validates an issue-type definition completely when it is saved: shape, catalog names and params,
// delays, expressions, and every transition target (resolved by XState itself).
import type { AnyStateMachine } from 'xstate';
import type { z } from 'zod';
import { contextActions, effects, emitAction, guards } from './catalog-schemas.js';
import { eventTypePattern, guardCombinators, isGuardCombinator, minDelayMs, reservedNames } from './catalog.js';
import { badExpressionPaths } from './expressions.js';
import { buildMachine, parseDuration, type IssueTypeDefinition } from './machine.js';

export interface DefinitionError {
  /** JSON path into the definition, e.g. `states.open.on.complete.actions[0].type`. */
  path: string;
  message: string;
}

const stateKeys = new Set(['id', 'type', 'initial', 'description', 'meta', 'entry', 'exit', 'on', 'after', 'always', 'onDone', 'states', 'history', 'target', 'tags']);
const rootOnlyKeys = new Set(['context', 'version']);
const transitionKeys = new Set(['target', 'guard', 'actions', 'reenter', 'description', 'meta']);
const stateNamePattern = /^[A-Za-z_][\w-]*$/;
const maxStates = 200;
const maxGuardDepth = 8;

const isObject = (value: unknown): value is Record<string, unknown> =>
  !!value && typeof value === 'object' && !Array.isArray(value);

export function validateDefinition(definition: unknown, typeKey = 'issue'): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const fail = (path: string, message: string) => errors.push({ path: path || '(root)', message });
  let stateCount = 0;
  /** Targets to resolve once every state is known: [json path, owning state path, target]. */
  const targets: [string, string[], string][] = [];
  const ids = new Map<string, string[]>();
  const statePaths: string[][] = [];

  const params = (path: string, schema: z.ZodType, value: unknown) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      // Array indexes as `[0]`, like every other path in the definition.
      const at = (key: PropertyKey) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`);
      for (const issue of parsed.error.issues) fail(path + issue.path.map(at).join(''), issue.message);
    }
    for (const bad of badExpressionPaths(value)) fail(path, `${bad}: expressions start at context, event or issue`);
  };

  const reference = (path: string, ref: unknown): { type: string; params?: unknown } | undefined => {
    if (typeof ref === 'string') return { type: ref };
    if (isObject(ref) && typeof ref.type === 'string') {
      const extra = Object.keys(ref).filter((key) => key !== 'type' && key !== 'params');
      if (extra.length) fail(path, `unknown key(s) ${extra.join(', ')}: a reference has only type and params`);
      return { type: ref.type, params: ref.params };
    }
    fail(path, 'expected a name or { type, params }');
    return undefined;
  };

  const actions = (path: string, value: unknown) => {
    const list = Array.isArray(value) ? value : [value];
    list.forEach((item, index) => {
      const at = Array.isArray(value) ? `${path}[${index}]` : path;
      const ref = reference(at, item);
      if (!ref) return;
      const entry =
        ref.type === 'emit'
          ? emitAction
          : (contextActions as Record<string, { params: z.ZodType }>)[ref.type] ??
            (effects as Record<string, { params: z.ZodType }>)[ref.type];
      if (!entry || !Object.hasOwn({ ...contextActions, ...effects, emit: 1 }, ref.type)) {
        fail(`${at}.type`, `unknown action "${ref.type}"; the catalog has ${[...Object.keys(contextActions), ...Object.keys(effects), 'emit'].join(', ')}`);
        return;
      }
      params(`${at}.params`, entry.params, ref.params);
    });
  };

  const guard = (path: string, value: unknown, depth = 0) => {
    const ref = reference(path, value);
    if (!ref) return;
    if (isGuardCombinator(ref.type)) {
      if (depth >= maxGuardDepth) return fail(path, `guards nest at most ${maxGuardDepth} deep`);
      const nested = isObject(ref.params) ? ref.params.guards : undefined;
      if (!isObject(ref.params) || Object.keys(ref.params).some((key) => key !== 'guards') || !Array.isArray(nested)) {
        return fail(`${path}.params`, `${ref.type} takes { guards: [...] }`);
      }
      if (ref.type === 'not' ? nested.length !== 1 : nested.length === 0) {
        return fail(`${path}.params.guards`, ref.type === 'not' ? 'not takes exactly one guard' : `${ref.type} takes at least one guard`);
      }
      nested.forEach((inner, index) => guard(`${path}.params.guards[${index}]`, inner, depth + 1));
      return;
    }
    if (!Object.hasOwn(guards, ref.type)) {
      fail(`${path}.type`, `unknown guard "${ref.type}"; the catalog has ${[...Object.keys(guards), ...guardCombinators].join(', ')}`);
      return;
    }
    params(`${path}.params`, guards[ref.type as keyof typeof guards].params, ref.params);
  };

  const transitions = (path: string, owner: string[], value: unknown) => {
    const list = Array.isArray(value) ? value : [value];
    list.forEach((item, index) => {
      const at = Array.isArray(value) ? `${path}[${index}]` : path;
      if (item === undefined) return;
      if (typeof item === 'string') return void targets.push([at, owner, item]);
      if (!isObject(item)) return fail(at, 'expected a target name or a transition object');
      const list = Array.isArray(item.target) ? item.target : [item.target];
      list.forEach((target, i) => {
        if (typeof target === 'string') targets.push([Array.isArray(item.target) ? `${at}.target[${i}]` : `${at}.target`, owner, target]);
      });
      for (const key of Object.keys(item)) if (!transitionKeys.has(key)) fail(`${at}.${key}`, 'unknown transition key');
      if (item.target !== undefined && typeof item.target !== 'string' && !Array.isArray(item.target)) {
        fail(`${at}.target`, 'expected a state name');
      }
      if (item.guard !== undefined) guard(`${at}.guard`, item.guard);
      if (item.actions !== undefined) actions(`${at}.actions`, item.actions);
    });
  };

  const state = (path: string, names: string[], node: unknown, isRoot: boolean) => {
    if (!isObject(node)) return fail(path, 'expected a state object');
    if (++stateCount > maxStates) return fail(path, `at most ${maxStates} states`);
    statePaths.push(names);
    if (typeof node.id === 'string') ids.set(node.id, names);
    const prefix = path ? `${path}.` : '';
    for (const key of Object.keys(node)) {
      if (!stateKeys.has(key) && !(isRoot && rootOnlyKeys.has(key))) fail(`${prefix}${key}`, 'unknown state key');
    }
    if (node.type !== undefined && !['atomic', 'compound', 'parallel', 'final', 'history'].includes(node.type as string)) {
      fail(`${prefix}type`, 'expected atomic, compound, parallel, final or history');
    }
    if (isRoot && node.context !== undefined && !isObject(node.context)) fail('context', 'expected an object');
    if (node.entry !== undefined) actions(`${prefix}entry`, node.entry);
    if (node.exit !== undefined) actions(`${prefix}exit`, node.exit);
    if (node.on !== undefined) {
      if (!isObject(node.on)) fail(`${prefix}on`, 'expected an object of event types');
      else
        for (const [type, value] of Object.entries(node.on)) {
          if (type.startsWith('xstate.')) fail(`${prefix}on.${type}`, "xstate.* events are XState's own: use after, always or onDone");
          else if (!eventTypePattern.test(type)) fail(`${prefix}on.${type}`, 'event types are words of letters, digits and _ starting with a lower-case letter, dotted to group them (legal.ok)');
          else if (type.split('.').some((part) => reservedNames.has(part))) fail(`${prefix}on.${type}`, `"${type}" is a reserved name`);
          transitions(`${prefix}on.${type}`, names, value);
        }
    }
    if (node.after !== undefined) {
      if (!isObject(node.after)) fail(`${prefix}after`, 'expected an object of delays');
      else
        for (const [delay, value] of Object.entries(node.after)) {
          const ms = parseDuration(delay);
          if (ms === undefined && !/^\$context\.[A-Za-z_]\w*$/.test(delay)) {
            fail(`${prefix}after.${delay}`, 'a delay is milliseconds, a duration (30s, 15m, 2h, 1d) or $context.field');
          } else if (ms !== undefined && ms < minDelayMs) {
            fail(`${prefix}after.${delay}`, `a delay is at least ${minDelayMs} ms: shorter ones only make the issue spin`);
          }
          transitions(`${prefix}after.${delay}`, names, value);
        }
    }
    if (node.always !== undefined) transitions(`${prefix}always`, names, node.always);
    if (node.onDone !== undefined) {
      if (isRoot) fail('onDone', 'the root has no onDone: reaching one of its final states ends the issue');
      else if (node.states === undefined) fail(`${prefix}onDone`, 'only a compound or parallel state has onDone: it is taken once its final state is reached (every region\'s, for a parallel one)');
      else transitions(`${prefix}onDone`, names, node.onDone);
    }
    if (node.states !== undefined) {
      if (!isObject(node.states) || Object.keys(node.states).length === 0) return fail(`${prefix}states`, 'expected at least one state');
      for (const [name, child] of Object.entries(node.states)) {
        if (!stateNamePattern.test(name)) fail(`${prefix}states.${name}`, 'state names are letters, digits, _ and -');
        else if (reservedNames.has(name)) fail(`${prefix}states.${name}`, `"${name}" is a reserved name`);
        state(`${prefix}states.${name}`, [...names, name], child, false);
      }
      if (node.type !== 'parallel') {
        if (typeof node.initial !== 'string') fail(`${prefix}initial`, 'a compound state names its initial child state');
        else if (!Object.hasOwn(node.states, node.initial)) fail(`${prefix}initial`, `no child state "${node.initial}"`);
      }
    } else if (isRoot) {
      fail('states', 'a statechart needs states');
    }
  };

  state('', [], definition, true);

  // XState's target rules: `#id` anywhere, `.child` below the state, `sibling` or `sibling.child` beside it.
  const known = new Set(statePaths.map((names) => names.join('.')));
  for (const [path, owner, target] of targets) {
    let resolved: string[] | undefined;
    if (target.startsWith('#')) {
      const [id, ...rest] = target.slice(1).split('.');
      const base = ids.get(id ?? '') ?? (id === typeKey ? [] : undefined);
      resolved = base && [...base, ...rest];
    } else if (target.startsWith('.')) resolved = [...owner, ...target.slice(1).split('.')];
    else resolved = [...owner.slice(0, -1), ...target.split('.')];
    if (!resolved || !known.has(resolved.join('.'))) fail(path, `no state "${target}" to go to from ${owner.join('.') || 'the root'}`);
  }
  if (errors.length) return errors;

  // Targets are resolved by XState itself, node by node, so the error names the state it belongs to.
  let machine: AnyStateMachine;
  try {
    machine = buildMachine(definition as IssueTypeDefinition, { id: 'validation', type: typeKey });
  } catch (error) {
    return [{ path: '(root)', message: (error as Error).message }];
  }
  const walk = (node: AnyStateMachine['root'], path: string) => {
    try {
      void node.transitions;
      void node.after;
      void node.always;
      void node.initial;
    } catch (error) {
      fail(path, (error as Error).message);
    }
    for (const [name, child] of Object.entries(node.states)) walk(child, path ? `${path}.states.${name}` : `states.${name}`);
  };
  walk(machine.root, '');
  if (errors.length === 0) {
    const loop = eventlessLoop(machine);
    if (loop) fail(loop.path, loop.message);
  }
  return errors;
}

type StateNode = AnyStateMachine['root'];

/** A state's JSON path in the definition, e.g. `states.review.states.legal`. */
const jsonPath = (node: StateNode) => node.path.map((name) => `states.${name}`).join('.');

/** The states active once `node` is entered: its ancestors, itself, and what entering it enters below it. */
function activeAfterEntering(node: StateNode): StateNode[] {
  const active: StateNode[] = [];
  for (let at: StateNode | undefined = node.type === 'history' ? node.parent : node; at; at = at.parent) active.push(at);
  const enterBelow = (at: StateNode) => {
    const children = at.type === 'parallel' ? Object.values(at.states) : at.type === 'compound' ? at.initial.target : [];
    for (const child of children) {
      active.push(child);
      enterBelow(child);
    }
  };
  enterBelow(node.type === 'history' ? node.parent! : node);
  return active;
}

/**
 * The `onDone` transitions of the states active once a state is entered: a compound state is done when one of its final
 * children is active, a parallel one when every region is done. They follow without an event.
 */
function doneTransitions(machine: AnyStateMachine, active: StateNode[]): { owner: StateNode; targets: StateNode[] }[] {
  const isDone = (node: StateNode): boolean =>
    node.type === 'compound'
      ? active.some((child) => child.parent === node && child.type === 'final')
      : node.type === 'parallel' && Object.values(node.states).every(isDone);
  return active
    .filter((node) => node !== machine.root && isDone(node))
    .map((owner) => ({ owner, targets: (owner.transitions.get(`xstate.done.state.${owner.id}`) ?? []).flatMap((transition) => transition.target ?? []) }));
}

/**
 * Eventless (`always`, and `onDone` of a state that is done on entry) transitions that can lead back where they started without an event in between: the
 * machine would step forever. Guards do not count as a way out (they may all pass), and an `always` without a
 * target repeats in place unless a guard stops it.
 */
function eventlessLoop(machine: AnyStateMachine): DefinitionError | undefined {
  const all: StateNode[] = [];
  const collect = (node: StateNode) => {
    all.push(node);
    for (const child of Object.values(node.states)) collect(child);
  };
  collect(machine.root);
  for (const node of all) {
    for (const transition of node.always ?? []) {
      if (!transition.target?.length && !transition.guard) {
        return { path: `${jsonPath(node) ? `${jsonPath(node)}.` : ''}always`, message: 'an always transition without a target or a guard repeats forever' };
      }
    }
  }
  const next = (node: StateNode) => {
    const active = activeAfterEntering(node);
    const always = active.flatMap((at) => (at.always ?? []).flatMap((transition) => transition.target ?? []));
    return [...always, ...doneTransitions(machine, active).flatMap((done) => done.targets)];
  };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: StateNode, trail: StateNode[]): StateNode[] | undefined => {
    if (state.get(node.id) === 'visiting') return [...trail.slice(trail.indexOf(node)), node];
    if (state.get(node.id) === 'done') return undefined;
    state.set(node.id, 'visiting');
    for (const target of next(node)) {
      const loop = visit(target, [...trail, node]);
      if (loop) return loop;
    }
    state.set(node.id, 'done');
    return undefined;
  };
  for (const node of all) {
    const loop = visit(node, []);
    if (loop) {
      // Told from the state that comes first in the definition, as an author reads it.
      const cycle = loop.slice(0, -1);
      const first = cycle.reduce((best, at, index) => (all.indexOf(at) < all.indexOf(cycle[best]!) ? index : best), 0);
      const ordered = [...cycle.slice(first), ...cycle.slice(0, first)];
      loop.splice(0, loop.length, ...ordered, ordered[0]!);
      const names = loop.map((at) => at.path.join('.') || '(root)');
      // Named by the kind of transition that leaves the first state: its own `always`, or a done state's `onDone`.
      const [from, to] = [loop[0]!, loop[1]!];
      const byAlways = activeAfterEntering(from).some((at) => (at.always ?? []).some((transition) => transition.target?.includes(to)));
      const owner = byAlways ? from : (doneTransitions(machine, activeAfterEntering(from)).find((done) => done.targets.includes(to))?.owner ?? from);
      const kind = byAlways ? 'always' : 'onDone';
      return { path: `${jsonPath(owner) ? `${jsonPath(owner)}.` : ''}${kind}`, message: `${kind} transitions loop without an event: ${names.join(' → ')}` };
    }
  }
  return undefined;
}
