// A statechart as an SVG picture. ELK's layered algorithm places everything: compound and parallel states are
// containers laid out together with what they hold (one layout over the whole hierarchy), so edges may cross
// their borders. Every coordinate drawn comes from ELK's result; only sizes are chosen here, from text lengths.
import elkBundled, { type ElkExtendedEdge, type ElkNode, type ElkShape } from 'elkjs/lib/elk.bundled.js';
import { allStates, type DiagramState, type StatechartGraph } from './graph.js';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface LaidEdge {
  /** From its source's border to its target's, bends included. */
  points: Point[];
  label?: { text: string; box: Box };
}

export interface DiagramLayout {
  width: number;
  height: number;
  graph: StatechartGraph;
  /** Every state's box, the root's included, by state id. */
  states: Map<string, Box>;
  /** The initial-state dot of each compound state, by the compound state's id. */
  initials: Map<string, Box>;
  edges: LaidEdge[];
}

const font = {
  family: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', 'DejaVu Sans', Arial, sans-serif",
  state: 14,
  title: 13,
  label: 12,
};

/**
 * A text's width in a sans-serif font, estimated from its characters (no font metrics on a server). Erring wide:
 * the factors fit DejaVu Sans, wider than most system fonts.
 */
export function textWidth(text: string, size: number): number {
  let em = 0;
  for (const c of text) {
    if (/[ijl.,:;!|'`]/.test(c)) em += 0.32;
    else if (/[ftrI()[\] ]/.test(c)) em += 0.42;
    else if (/[mw]/.test(c)) em += 0.92;
    else if (/[MW@]/.test(c)) em += 1;
    else if (/[A-Z]/.test(c)) em += 0.74;
    else em += 0.64;
  }
  return Math.ceil(em * size);
}

const sizes = {
  statePadX: 16,
  stateHeight: 38,
  /** The inner border of a final state sits this far inside the outer one. */
  finalInset: 4,
  historyDiameter: 30,
  initialDiameter: 14,
  /** Room above a container's children for its name. */
  titleHeight: 26,
  containerPad: 14,
  labelPadX: 4,
  labelHeight: 16,
};

/** What a container says at its top. */
const titleOf = (state: DiagramState) => (state.kind === 'parallel' ? `${state.name} (parallel)` : state.name);
/** Titles are semibold: wider than the regular text the estimate is for. */
const titleWidth = (state: DiagramState) => Math.ceil(textWidth(titleOf(state), font.title) * 1.1);


// The bundled build runs ELK in this thread (no web worker); its module is the constructor, also as `default`.
const elk = new elkBundled.default();

export async function layoutStatechart(graph: StatechartGraph): Promise<DiagramLayout> {
  // ELK's ids are numbered here: any string may be a state's id, so none could be set apart for the initial dots.
  const elkIds = new Map<string, string>();
  const elkIdOf = (stateId: string) => elkIds.get(stateId)!;
  const stateOfElkId = new Map<string, string>();
  const initialOfElkId = new Map<string, string>();
  for (const state of allStates(graph)) {
    elkIds.set(state.id, `s${elkIds.size}`);
    stateOfElkId.set(elkIdOf(state.id), state.id);
  }
  const elkNodes = new Map<string, ElkNode>();
  const parentOf = new Map<string, string>();
  const toElk = (state: DiagramState): ElkNode => {
    const id = elkIdOf(state.id);
    let node: ElkNode;
    if (state.kind === 'history') {
      node = { id, width: sizes.historyDiameter, height: sizes.historyDiameter };
    } else if (state.children.length === 0) {
      const inset = state.kind === 'final' ? 2 * sizes.finalInset : 0;
      node = { id, width: Math.max(64, textWidth(state.name, font.state) + 2 * sizes.statePadX) + inset, height: sizes.stateHeight + inset };
    } else {
      const children = state.children.map((child) => {
        parentOf.set(child.id, state.id);
        return toElk(child);
      });
      const edges: ElkExtendedEdge[] = [];
      if (state.initial) {
        const dot = `i${id}`;
        initialOfElkId.set(dot, state.id);
        children.unshift({ id: dot, width: sizes.initialDiameter, height: sizes.initialDiameter });
        edges.push({ id: dot, sources: [dot], targets: [elkIdOf(state.initial)] });
      }
      const pad = sizes.containerPad;
      node = {
        id,
        children,
        edges,
        layoutOptions: {
          'elk.padding': `[top=${sizes.titleHeight + pad},left=${pad},bottom=${pad},right=${pad}]`,
          // Wide enough for its name, however narrow what it holds.
          'elk.nodeSize.constraints': 'MINIMUM_SIZE',
          'elk.nodeSize.minimum': `(${titleWidth(state) + 2 * pad}, ${sizes.titleHeight + 2 * pad})`,
        },
      };
    }
    elkNodes.set(state.id, node);
    return node;
  };
  const canvas: ElkNode = {
    id: 'canvas',
    children: [toElk(graph.root)],
    edges: [],
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.padding': '[top=12,left=12,bottom=12,right=12]',
      'elk.spacing.nodeNode': '28',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeNode': '16',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.spacing.edgeEdge': '12',
      'elk.layered.spacing.edgeEdgeBetweenLayers': '12',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      // Every shape and edge in the canvas's coordinates, whatever it sits in.
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
    },
  };

  /** The states around one, innermost first; `undefined` stands for the canvas, around the root. */
  const ancestors = (stateId: string): (string | undefined)[] => {
    const chain: (string | undefined)[] = [];
    for (let at = parentOf.get(stateId); at; at = parentOf.get(at)) chain.push(at);
    return [...chain, undefined];
  };
  /** ELK wants an edge in the node that holds both ends: one end itself if it holds the other, else their nearest common ancestor. */
  const containerOf = (source: string, target: string): ElkNode => {
    const aroundTarget = ancestors(target);
    const aroundSource = ancestors(source);
    const container =
      source !== target && aroundTarget.includes(source) ? source
      : source !== target && aroundSource.includes(target) ? target
      : aroundSource.find((candidate) => aroundTarget.includes(candidate));
    return container === undefined ? canvas : elkNodes.get(container)!;
  };
  graph.transitions.forEach((transition, index) => {
    (containerOf(transition.source, transition.target).edges ??= []).push({
      id: `t${index}`,
      sources: [elkIdOf(transition.source)],
      targets: [elkIdOf(transition.target)],
      labels: [{ text: transition.label, width: textWidth(transition.label, font.label) + 2 * sizes.labelPadX, height: sizes.labelHeight, layoutOptions: { 'elk.edgeLabels.inline': 'true' } }],
    });
  });

  const laid = await elk.layout(canvas);
  const states = new Map<string, Box>();
  const initials = new Map<string, Box>();
  const edges: LaidEdge[] = [];
  const boxOf = (node: ElkShape): Box => ({ x: node.x ?? 0, y: node.y ?? 0, width: node.width ?? 0, height: node.height ?? 0 });
  const read = (node: ElkNode) => {
    for (const child of node.children ?? []) {
      const initialOf = initialOfElkId.get(child.id);
      if (initialOf) initials.set(initialOf, boxOf(child));
      else states.set(stateOfElkId.get(child.id)!, boxOf(child));
      read(child);
    }
    for (const edge of node.edges ?? []) {
      const points = (edge.sections ?? []).flatMap((section) => [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]);
      const label = edge.labels?.[0];
      edges.push({ points, ...(label ? { label: { text: label.text ?? '', box: boxOf(label) } } : {}) });
    }
  };
  read(laid);
  return { width: laid.width ?? 0, height: laid.height ?? 0, graph, states, initials, edges };
}

const colors = {
  text: '#0f172a',
  state: { fill: '#eff6ff', stroke: '#2563eb' },
  /** The chart itself is white; the compound states in it a shade darker. */
  frame: { fill: '#ffffff', stroke: '#64748b' },
  container: { fill: '#f1f5f9', stroke: '#64748b' },
  region: { fill: '#ffffff', stroke: '#94a3b8' },
  /** The states an issue is in: leaves filled strongly, the containers around them tinted. */
  active: { fill: '#fbbf24', stroke: '#b45309', containerFill: '#fef3c7' },
  edge: '#475569',
  label: '#1e293b',
  pseudo: '#1e293b',
};

/** Text for XML: element content and attribute values alike. */
export const xmlText = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

const num = (value: number) => String(Math.round(value * 10) / 10);

/**
 * The SVG of a laid-out chart, the states in `active` highlighted. Styling is presentation attributes only: the
 * API's answers forbid inline styles (Content-Security-Policy), which would leave a `<style>` element unapplied.
 */
export function toSvg(layout: DiagramLayout, active: ReadonlySet<string> = new Set()): string {
  const out: string[] = [];
  const rect = (box: Box, attributes: string) =>
    out.push(`<rect x="${num(box.x)}" y="${num(box.y)}" width="${num(box.width)}" height="${num(box.height)}" ${attributes}/>`);
  const text = (x: number, y: number, content: string, attributes: string) =>
    out.push(`<text x="${num(x)}" y="${num(y)}" ${attributes}>${xmlText(content)}</text>`);
  const centre = (box: Box): Point => ({ x: box.x + box.width / 2, y: box.y + box.height / 2 });
  // Middle of the text's x-height on the centre line: `dy` works in every SVG renderer, `dominant-baseline` not.
  const centred = `text-anchor="middle" dy="0.35em"`;

  const drawContainer = (state: DiagramState, box: Box) => {
    const on = active.has(state.id);
    const { fill, stroke } = state.region ? colors.region : state === layout.graph.root ? colors.frame : colors.container;
    const dashed = state.region ? ' stroke-dasharray="6 4"' : '';
    rect(box, `rx="10" fill="${on ? colors.active.containerFill : fill}" stroke="${on ? colors.active.stroke : stroke}" stroke-width="${on ? 2.5 : 1.5}"${dashed}`);
    text(box.x + sizes.containerPad, box.y + sizes.titleHeight / 2 + sizes.containerPad / 2, titleOf(state), `font-size="${font.title}" font-weight="600" dy="0.35em" fill="${colors.text}"`);
  };
  const drawLeaf = (state: DiagramState, box: Box) => {
    const on = active.has(state.id);
    const fill = on ? colors.active.fill : colors.state.fill;
    const stroke = on ? colors.active.stroke : colors.state.stroke;
    const width = on ? 2.5 : 1.5;
    const { x, y } = centre(box);
    if (state.kind === 'history') {
      out.push(`<circle cx="${num(x)}" cy="${num(y)}" r="${num(box.width / 2)}" fill="${fill}" stroke="${stroke}" stroke-width="${width}"/>`);
      text(x, y, state.history === 'deep' ? 'H*' : 'H', `${centred} font-size="${font.state}" font-weight="600" fill="${colors.text}"`);
      return;
    }
    rect(box, `rx="8" fill="${fill}" stroke="${stroke}" stroke-width="${width}"`);
    if (state.kind === 'final') {
      const inset = sizes.finalInset;
      rect({ x: box.x + inset, y: box.y + inset, width: box.width - 2 * inset, height: box.height - 2 * inset }, `rx="5" fill="none" stroke="${stroke}" stroke-width="${width}"`);
    }
    text(x, y, state.name, `${centred} font-size="${font.state}" fill="${colors.text}"`);
  };

  // Containers outside in, then edges over them, then the states and labels on top.
  const containers: DiagramState[] = [];
  const leaves: DiagramState[] = [];
  const sort = (state: DiagramState) => {
    (state.children.length ? containers : leaves).push(state);
    state.children.forEach(sort);
  };
  sort(layout.graph.root);
  /** Each state in a group naming it, so a page embedding the picture can find and style it. */
  const draw = (state: DiagramState, drawState: (state: DiagramState, box: Box) => void) => {
    out.push(`<g class="${active.has(state.id) ? 'state active' : 'state'}" data-state="${xmlText(state.id)}">`);
    drawState(state, layout.states.get(state.id)!);
    out.push('</g>');
  };
  for (const state of containers) draw(state, drawContainer);
  for (const [, box] of layout.initials) {
    const { x, y } = centre(box);
    out.push(`<circle cx="${num(x)}" cy="${num(y)}" r="${num(box.width / 2)}" fill="${colors.pseudo}"/>`);
  }
  for (const edge of layout.edges) {
    const path = edge.points.map((point, index) => `${index ? 'L' : 'M'}${num(point.x)} ${num(point.y)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${colors.edge}" stroke-width="1.4" marker-end="url(#arrow)"/>`);
  }
  for (const state of leaves) draw(state, drawLeaf);
  for (const { label } of layout.edges) {
    if (!label) continue;
    rect(label.box, `rx="3" fill="#ffffff" fill-opacity="0.9"`);
    const { x, y } = centre(label.box);
    text(x, y, label.text, `${centred} font-size="${font.label}" fill="${colors.label}"`);
  }

  const width = num(layout.width);
  const height = num(layout.height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="${xmlText(font.family)}">`,
    `<title>${xmlText(`Statechart ${layout.graph.root.name}`)}</title>`,
    '<defs>',
    `<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="${colors.edge}"/></marker>`,
    '</defs>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
