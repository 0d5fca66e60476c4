// Diagrams of statecharts (lib/statechart-diagram): the Mermaid text of a small chart exactly, and for every built-in
// type both pictures hold every state and every transition; the SVG is well-formed XML laid out by ELK, with
// nested states inside their parents and no coordinate left undefined.
import { describe, expect, it } from 'vitest';
import { inventoryType } from '../../lib/inventory/issue-type.js';
import { serviceRequestType } from '../../lib/services/issue-type.js';
import { taskType } from '../../lib/tasks/issue-type.js';
import { activeStates, allStates, guardLabel, statechartGraph, type StatechartGraph } from '../../lib/statechart-diagram/graph.js';
import { toMermaid } from '../../lib/statechart-diagram/mermaid.js';
import { layoutStatechart, toSvg, type Box } from '../../lib/statechart-diagram/svg.js';
import { machineOf } from './statechart-support.js';

const graphOf = (definition: unknown, type: string): StatechartGraph => statechartGraph(machineOf(definition, type));

/** Nested, parallel, history, final, `after`, `always`, `onDone`, a guard combinator and a `#id.path` target. */
const ticket = {
  id: 'ticket',
  initial: 'triage',
  states: {
    triage: {
      on: { accept: { target: 'working', guard: 'isAssignee' }, spam: 'closed' },
      after: { '2h': { target: 'working', guard: { type: 'or', params: { guards: ['isAssignee', { type: 'hasRole', params: { roles: ['manager'] } }] } } } },
    },
    working: {
      type: 'parallel',
      onDone: 'closed',
      on: { pause: 'paused' },
      states: {
        code: { initial: 'writing', states: { writing: { on: { push: 'reviewed' } }, reviewed: { type: 'final' }, resume: { type: 'history', history: 'deep' } } },
        docs: {
          initial: 'drafting',
          states: { drafting: { always: { target: 'published', guard: { type: 'contextEquals', params: { field: 'docs', value: 'ready' } } } }, published: { type: 'final' } },
        },
      },
    },
    paused: { on: { resume: '#ticket.working.code.resume' } },
    closed: { type: 'final' },
  },
};
const ticketValue = { working: { code: 'writing', docs: 'published' } };

/**
 * Whether a text is well-formed XML as far as the SVG needs: one root element, every tag closed in order,
 * attributes quoted, and `&` only in the five predefined entities or character references.
 */
function xmlProblem(xml: string): string | undefined {
  const token = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const open: string[] = [];
  let roots = 0;
  for (const match of xml.matchAll(token)) {
    const [, closing, name, attributes, selfClosing, text, stray] = match;
    if (stray) return `a stray < at ${match.index}`;
    if (text !== undefined) {
      if (open.length === 0 && text.trim()) return `text outside the root: ${text.slice(0, 40)}`;
      if (entity.test(text)) return `a bare & in ${text.slice(0, 40)}`;
      continue;
    }
    if (!name) continue;
    if (entity.test(attributes ?? '')) return `a bare & in the attributes of <${name}>`;
    if (closing) {
      if (open.pop() !== name) return `</${name}> closes nothing open`;
    } else {
      if (open.length === 0 && ++roots > 1) return `a second root element <${name}>`;
      if (!selfClosing) open.push(name);
    }
  }
  if (open.length) return `unclosed <${open.join('>, <')}>`;
  return roots === 1 ? undefined : 'no root element';
}

/** The texts of every `<text>` element, entities decoded. */
const textsOf = (svg: string): string[] =>
  [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(([, text]) =>
    text!.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[name]!),
  );

const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;

describe('the XML check', () => {
  it('finds what is not well-formed', () => {
    expect(xmlProblem('<svg><g/><text x="1">a &amp; b</text></svg>')).toBeUndefined();
    expect(xmlProblem('<svg><g></svg>')).toMatch(/closes nothing/);
    expect(xmlProblem('<svg><text>a & b</text></svg>')).toMatch(/bare &/);
    expect(xmlProblem('<svg><rect x=1/></svg>')).toMatch(/stray </);
    expect(xmlProblem('<svg></svg><svg></svg>')).toMatch(/second root/);
    expect(xmlProblem('<svg>')).toMatch(/unclosed/);
  });
});

describe('guard labels', () => {
  it('name catalog guards and spell combinators out, nested and/or in parentheses', () => {
    expect(guardLabel('isAssignee')).toBe('isAssignee');
    expect(guardLabel({ type: 'hasRole', params: { roles: ['manager'] } } as never)).toBe('hasRole');
    expect(guardLabel({ type: 'or', params: { guards: ['isAssignee', { type: 'hasRole' }] } })).toBe('isAssignee or hasRole');
    expect(guardLabel({ type: 'not', params: { guards: [{ type: 'and', params: { guards: ['isAssignee', 'isUser'] } }] } })).toBe('not (isAssignee and isUser)');
  });
});

describe('Mermaid', () => {
  it('writes a nested, parallel chart with history, final states, delays, eventless and done transitions', () => {
    const graph = graphOf(ticket, 'ticket');
    expect(toMermaid(graph, activeStates(graph, ticketValue))).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> triage',
        '  triage',
        '  state working {',
        '    state code {',
        '      [*] --> writing',
        '      writing',
        '      reviewed',
        '      state "H*" as resume',
        '      writing --> reviewed : push',
        '      reviewed --> [*]',
        '    }',
        '    --',
        '    state docs {',
        '      [*] --> drafting',
        '      drafting',
        '      published',
        '      drafting --> published : always [contextEquals]',
        '      published --> [*]',
        '    }',
        '  }',
        '  paused',
        '  closed',
        '  triage --> working : accept [isAssignee]',
        '  triage --> closed : spam',
        '  triage --> working : after 2h [isAssignee or hasRole]',
        '  working --> paused : pause',
        '  working --> closed : done',
        '  paused --> resume : resume',
        '  closed --> [*]',
        '  classDef active fill:#fbbf24,stroke:#b45309,stroke-width:2px,color:#111827',
        '  class working,code,writing,docs,published active',
        '',
      ].join('\n'),
    );
  });

  it('gives states whose keys repeat ids of their paths, and draws the root when transitions leave it', () => {
    const graph = graphOf({ id: 'twice', initial: 'a', on: { reset: '.a' }, states: { a: { initial: 'end', states: { end: {} } }, b: { initial: 'end', states: { end: {} } } } }, 'twice');
    const mermaid = toMermaid(graph);
    expect(mermaid).toContain('state "end" as twice_a_end');
    expect(mermaid).toContain('state "end" as twice_b_end');
    expect(mermaid).toContain('  state twice {');
    expect(mermaid).toContain('  twice --> a : reset');
    expect(mermaid).not.toContain('classDef');
  });

  it('draws a parallel root as a state of its own: Mermaid splits regions only inside one', () => {
    const graph = graphOf({ id: 'both', type: 'parallel', states: { left: { initial: 'l', states: { l: {} } }, right: { initial: 'r', states: { r: {} } } } }, 'both');
    expect(toMermaid(graph)).toBe(
      ['stateDiagram-v2', '  state both {', '    state left {', '      [*] --> l', '      l', '    }', '    --', '    state right {', '      [*] --> r', '      r', '    }', '  }', ''].join('\n'),
    );
  });
});

describe('SVG', () => {
  it('draws regions dashed, a history state as H*, final states with a double border, and highlights the active states', async () => {
    const graph = graphOf(ticket, 'ticket');
    const svg = toSvg(await layoutStatechart(graph), activeStates(graph, ticketValue));
    expect(xmlProblem(svg)).toBeUndefined();
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(2);
    expect(textsOf(svg)).toContain('H*');
    expect(textsOf(svg)).toContain('working (parallel)');
    // Three final states, two borders each; five states highlighted (the leaves filled, the containers around them tinted).
    expect(svg.match(/rx="5" fill="none"/g)).toHaveLength(3);
    expect(svg.match(/fill="#fbbf24"/g)).toHaveLength(2);
    expect(svg.match(/fill="#fef3c7"/g)).toHaveLength(3);
    expect([...svg.matchAll(/<g class="state active" data-state="([^"]+)">/g)].map(([, id]) => id)).toEqual([
      'ticket.working',
      'ticket.working.code',
      'ticket.working.docs',
      'ticket.working.code.writing',
      'ticket.working.docs.published',
    ]);
    expect(toSvg(await layoutStatechart(graph))).not.toContain('#fbbf24');
  });

  it('escapes every text for XML', async () => {
    const graph = graphOf({ id: `<a & "b">'`, initial: 'x', states: { x: {} } }, 'odd');
    const svg = toSvg(await layoutStatechart(graph));
    expect(xmlProblem(svg)).toBeUndefined();
    expect(textsOf(svg)).toContain(`<a & "b">'`);
  });
});

describe.each([
  ['task', taskType.definition],
  ['service_request', serviceRequestType.definition],
  ['inventory', inventoryType.definition],
])('the built-in type %s', (key, definition) => {
  const graph = graphOf(definition, key);
  const states = allStates(graph);

  /** Every state and every transition the definition declares, read from the JSON: [source key, what takes it, target key]. */
  const declaredStates: string[] = [];
  const declared: [string, string, string][] = [];
  const walk = (name: string, node: Record<string, any>) => {
    declaredStates.push(name);
    const add = (on: string, value: any) => {
      for (const transition of [value].flat()) {
        const target = typeof transition === 'string' ? transition : transition.target;
        declared.push([name, on, (target ?? name).split('.').at(-1)]);
      }
    };
    for (const [event, value] of Object.entries(node.on ?? {})) add(event, value);
    for (const [delay, value] of Object.entries(node.after ?? {})) add(`after ${delay}`, value);
    if (node.always) add('always', node.always);
    for (const [child, state] of Object.entries(node.states ?? {})) walk(child, state as Record<string, any>);
  };
  walk(key, definition);

  it('has a state for every state of the definition and a transition for every one it declares', () => {
    expect(states.map((state) => state.name).sort()).toEqual(declaredStates.sort());
    expect(graph.transitions).toHaveLength(declared.length);
  });

  it('writes every state and every transition in Mermaid', () => {
    const mermaid = toMermaid(graph);
    const lines = mermaid.split('\n').map((line) => line.trim());
    for (const state of states.slice(1)) expect(lines.some((line) => line === state.name || line === `state ${state.name} {`), state.name).toBe(true);
    for (const [source, on, target] of declared) {
      const line = lines.find((candidate) => candidate.startsWith(`${source} --> ${target} : ${on}`));
      expect(line, `${source} --> ${target} : ${on}`).toBeDefined();
    }
    expect(lines.filter((line) => / --> \w+ : /.test(line))).toHaveLength(declared.length);
    for (const state of states.filter((candidate) => candidate.kind === 'final')) expect(lines).toContain(`${state.name} --> [*]`);
  });

  it('draws every state and every transition in a well-formed SVG laid out by ELK', async () => {
    const layout = await layoutStatechart(graph);
    const svg = toSvg(layout);
    expect(xmlProblem(svg)).toBeUndefined();
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    const texts = textsOf(svg);
    for (const state of states) expect(texts, state.name).toContain(state.name);
    for (const transition of graph.transitions) expect(texts, transition.label).toContain(transition.label);
    // One arrow per transition and one per initial state.
    const initials = states.filter((state) => state.initial).length;
    expect(svg.match(/marker-end="url\(#arrow\)"/g)).toHaveLength(graph.transitions.length + initials);
    expect(layout.edges.every((edge) => edge.points.length >= 2)).toBe(true);
  });

  it('lays nested states inside their parents, and everything inside the picture', async () => {
    const layout = await layoutStatechart(graph);
    const picture = { x: 0, y: 0, width: layout.width, height: layout.height };
    const numbers = [...layout.states.values(), ...layout.initials.values(), ...layout.edges.flatMap((edge) => [...edge.points, ...(edge.label ? [edge.label.box] : [])])]
      .flatMap((shape) => Object.values(shape) as number[]);
    expect(numbers.every(Number.isFinite)).toBe(true);
    for (const state of states) {
      const box = layout.states.get(state.id)!;
      expect(inside(box, picture), state.id).toBe(true);
      for (const child of state.children) expect(inside(layout.states.get(child.id)!, box), `${child.id} in ${state.id}`).toBe(true);
      if (state.initial) expect(inside(layout.initials.get(state.id)!, box), `the initial dot of ${state.id}`).toBe(true);
    }
    for (const edge of layout.edges) if (edge.label) expect(inside(edge.label.box, picture), edge.label.text).toBe(true);
  });

  it('highlights the states a value names, with their ancestors', () => {
    const [first] = graph.root.children;
    expect([...activeStates(graph, first!.name)]).toEqual([first!.id]);
    expect(toMermaid(graph, activeStates(graph, first!.name))).toContain(`class ${first!.name} active`);
  });
});
