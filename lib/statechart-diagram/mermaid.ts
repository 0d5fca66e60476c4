// A statechart as Mermaid `stateDiagram-v2` text: compound states as composite states, parallel regions split by
// `--`, final states leading to `[*]`, and the active states in the `active` class.
import { allStates, type DiagramState, type StatechartGraph } from './graph.js';

/** Words Mermaid's state grammar reads as its own: a state of that name gets another id. */
const mermaidWords = new Set(['state', 'note', 'direction', 'class', 'classDef', 'style', 'click', 'end', 'as']);

/**
 * Mermaid ids are global in a diagram and words only: a state keeps its key where that is unique, else its path
 * joined by `_`; a number makes the rest distinct.
 */
function mermaidIds(graph: StatechartGraph): Map<string, string> {
  const all = allStates(graph);
  const word = (text: string) => text.replace(/\W/g, '_');
  const keyCount = new Map<string, number>();
  for (const state of all) keyCount.set(word(state.name), (keyCount.get(word(state.name)) ?? 0) + 1);
  const taken = new Set<string>();
  const ids = new Map<string, string>();
  for (const state of all) {
    const key = word(state.name);
    const base = keyCount.get(key) === 1 && !mermaidWords.has(key) ? key : word(state.id);
    let id = base;
    for (let n = 2; taken.has(id) || mermaidWords.has(id); n++) id = `${base}_${n}`;
    taken.add(id);
    ids.set(state.id, id);
  }
  return ids;
}

/** Mermaid's entity codes for what would end a label or a quoted name early. */
const mermaidText = (text: string) => text.replace(/[#;"]/g, (c) => `#${c.charCodeAt(0)};`);

export function toMermaid(graph: StatechartGraph, active: ReadonlySet<string> = new Set()): string {
  const ids = mermaidIds(graph);
  const id = (state: DiagramState | string) => ids.get(typeof state === 'string' ? state : state.id)!;
  const byId = new Map(allStates(graph).map((state) => [state.id, state]));
  const parentOf = new Map<string, DiagramState>();
  for (const state of byId.values()) for (const child of state.children) parentOf.set(child.id, state);
  /** The states around one, innermost first, then `outside` (the diagram itself, around the root). */
  const outside = '';
  const around = (stateId: string): string[] => {
    const chain: string[] = [];
    for (let at = parentOf.get(stateId); at; at = parentOf.get(at.id)) chain.push(at.id);
    return [...chain, outside];
  };
  /**
   * A transition is written inside the innermost composite state around both its ends (never in one of them,
   * which Mermaid would draw anew): between the `--` sections of a parallel state it would belong to one region
   * only, so there it goes one level out.
   */
  const scopeOf = (source: string, target: string): string => {
    const aroundTarget = new Set(around(target));
    let scope = around(source).find((candidate) => aroundTarget.has(candidate))!;
    while (byId.get(scope)?.kind === 'parallel') scope = parentOf.get(scope)?.id ?? outside;
    return scope;
  };
  const transitionsIn = new Map<string, string[]>();
  for (const transition of graph.transitions) {
    const scope = scopeOf(transition.source, transition.target);
    const lines = transitionsIn.get(scope) ?? [];
    lines.push(`${id(transition.source)} --> ${id(transition.target)} : ${mermaidText(transition.label)}`);
    transitionsIn.set(scope, lines);
  }

  const lines = ['stateDiagram-v2'];
  const write = (depth: number, line: string) => lines.push(`${'  '.repeat(depth)}${line}`);
  /** A state's declaration, a composite one with its body. */
  const declare = (state: DiagramState, depth: number) => {
    const name = state.kind === 'history' ? (state.history === 'deep' ? 'H*' : 'H') : state.name;
    const head = name === id(state) ? id(state) : `state "${mermaidText(name)}" as ${id(state)}`;
    if (state.children.length === 0) return write(depth, head);
    if (name !== id(state)) write(depth, head);
    write(depth, `state ${id(state)} {`);
    body(state, depth + 1);
    write(depth, '}');
  };
  /** What a composite state holds: its initial arrow, its children (regions apart), its transitions, its ends. */
  const body = (state: DiagramState, depth: number) => {
    if (state.initial) write(depth, `[*] --> ${id(state.initial)}`);
    state.children.forEach((child, index) => {
      if (state.kind === 'parallel' && index > 0) write(depth, '--');
      declare(child, depth);
    });
    for (const line of transitionsIn.get(state.id) ?? []) write(depth, line);
    for (const child of state.children) if (child.kind === 'final') write(depth, `${id(child)} --> [*]`);
  };
  // The root is the diagram itself, unless transitions leave or enter it, or it is parallel (Mermaid splits regions
  // only inside a composite state): then it is drawn as a state of its own.
  if (transitionsIn.has(outside) || graph.root.kind === 'parallel') {
    declare(graph.root, 1);
    for (const line of transitionsIn.get(outside) ?? []) write(1, line);
  } else {
    body(graph.root, 1);
  }
  if (active.size) {
    write(1, 'classDef active fill:#fbbf24,stroke:#b45309,stroke-width:2px,color:#111827');
    write(1, `class ${[...active].map((stateId) => id(stateId)).join(',')} active`);
  }
  return `${lines.join('\n')}\n`;
}
