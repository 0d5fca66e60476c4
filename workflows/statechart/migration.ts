// Moving an issue to another version of its type: the state paths an issue occupies and where a migration's
// mapping puts them. A state path is the dot-joined keys from the root (`review.legal.ok`); an issue in parallel
// states occupies one leaf path per region. Pure: the API checks a migration with these before anything moves,
// and the issue workflow applies it with them.
import type { StateValue } from 'xstate';

export interface StateInfo {
  final: boolean;
  parallel: boolean;
}

/** Every state of a definition by path; `''` is the root. */
export function statesOf(definition: unknown): Map<string, StateInfo> {
  const found = new Map<string, StateInfo>();
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return;
    const state = node as { type?: unknown; states?: Record<string, unknown> };
    found.set(path, { final: state.type === 'final', parallel: state.type === 'parallel' });
    for (const [key, child] of Object.entries(state.states ?? {})) walk(child, path ? `${path}.${key}` : key);
  };
  walk(definition, '');
  return found;
}

export type MappedValue = { value: StateValue } | { unmapped: string[] } | { conflict: string };

/**
 * The value in the target chart that `mapping` makes of an issue's active leaf `paths`: each replaced by its
 * target, merged. Answers the paths without a mapping instead, or the first state whose targets cannot be active
 * together (two children of a state that is not parallel).
 */
export function mappedValue(paths: string[], mapping: Record<string, string>, target: Map<string, StateInfo>): MappedValue {
  const unmapped = paths.filter((path) => !Object.hasOwn(mapping, path));
  if (unmapped.length > 0) return { unmapped };
  interface Node {
    [key: string]: Node;
  }
  const root: Node = {};
  for (const path of paths) {
    let node = root;
    for (const key of mapping[path]!.split('.')) node = Object.hasOwn(node, key) ? node[key]! : (node[key] = {});
  }
  const check = (node: Node, path: string): string | undefined => {
    const keys = Object.keys(node);
    if (keys.length > 1 && !target.get(path)?.parallel) return path || '(root)';
    for (const key of keys) {
      const clash = check(node[key]!, path ? `${path}.${key}` : key);
      if (clash) return clash;
    }
    return undefined;
  };
  const conflict = check(root, '');
  if (conflict) return { conflict };
  const toValue = (node: Node): StateValue => {
    const keys = Object.keys(node);
    if (keys.length === 1 && Object.keys(node[keys[0]!]!).length === 0) return keys[0]!;
    return Object.fromEntries(keys.map((key) => [key, Object.keys(node[key]!).length === 0 ? {} : toValue(node[key]!)]));
  };
  return { value: toValue(root) };
}
