// Pictures of issue types' statecharts: a type version's chart, and an issue's chart with the states it is in
// highlighted, as SVG or as Mermaid text.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { StateValue } from 'xstate';
import { activeStates, statechartGraph, type StatechartGraph } from '../lib/statechart-diagram/graph.js';
import { toMermaid } from '../lib/statechart-diagram/mermaid.js';
import { layoutStatechart, toSvg, type DiagramLayout } from '../lib/statechart-diagram/svg.js';
import { authResponses, createRouter, IdParam, validationResponses } from './common.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { pinnedType, stateValueOf } from './issue-machines.js';
import { issueService, TypeKey } from './issues.js';
import { problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

const svgType = 'image/svg+xml; charset=utf-8';
const mermaidType = 'text/vnd.mermaid; charset=utf-8';

const DiagramQuery = z.object({
  format: z
    .enum(['svg', 'mermaid'])
    .optional()
    .openapi({ description: 'Left out: Mermaid for an `Accept` of `text/vnd.mermaid` or `text/plain`, SVG otherwise.' }),
});

const diagramResponse = (description: string) => ({
  description,
  content: {
    [svgType]: { schema: z.string().openapi({ description: 'An SVG picture laid out by ELK (layered)', example: '<svg xmlns="http://www.w3.org/2000/svg" …>…</svg>' }) },
    [mermaidType]: { schema: z.string().openapi({ description: 'Mermaid `stateDiagram-v2` text', example: 'stateDiagram-v2\n  [*] --> open\n  open --> done : complete [isAssignee]\n' }) },
  },
});

/** Asked for by name, or else by the media types the caller accepts. */
function formatOf(c: Context<AppEnv>, format: 'svg' | 'mermaid' | undefined): 'svg' | 'mermaid' {
  if (format) return format;
  const accepted = (c.req.header('Accept') ?? '').split(',').map((type) => type.split(';')[0]!.trim().toLowerCase());
  return accepted.some((type) => type === 'text/vnd.mermaid' || type === 'text/plain') ? 'mermaid' : 'svg';
}

/** A type version's layout never changes, and ELK takes tens of milliseconds for one: each is laid out once. */
const layouts = new Map<string, Promise<DiagramLayout>>();
const maxLayouts = 200;

function layoutOf(cacheKey: string, graph: StatechartGraph): Promise<DiagramLayout> {
  let layout = layouts.get(cacheKey);
  if (!layout) {
    layout = layoutStatechart(graph);
    layout.catch(() => layouts.delete(cacheKey));
    // Oldest first out: the map keeps insertion order.
    if (layouts.size >= maxLayouts) layouts.delete(layouts.keys().next().value!);
    layouts.set(cacheKey, layout);
  }
  return layout;
}

export function issueDiagramRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;
  const issues = issueService(deps);

  /** The chart of a type version, drawn in the format asked for; `value` names the states to highlight. */
  async function answer(c: Context<AppEnv>, key: string, version: number, format: 'svg' | 'mermaid' | undefined, value?: StateValue) {
    const type = await pinnedType(db, key, version);
    if (!type) throw problems.notFound(`issue type ${key} version ${version}`);
    const graph = statechartGraph(type.machine());
    const active = value === undefined ? new Set<string>() : activeStates(graph, value);
    // The same URL answers in either format, chosen by Accept when not by name.
    const headers = { Vary: 'Accept' };
    if (formatOf(c, format) === 'mermaid') return c.body(toMermaid(graph, active), 200, { ...headers, 'Content-Type': mermaidType });
    return c.body(toSvg(await layoutOf(`${key}@${version}`, graph), active), 200, { ...headers, 'Content-Type': svgType });
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issue-types/{key}/versions/{version}/diagram',
      operationId: 'getIssueTypeDiagram',
      tags: ['issue types'],
      summary: 'A picture of a type version’s statechart: SVG, or Mermaid text',
      description:
        'States nest as in the definition (parallel regions dashed); transitions are labelled with their event, `after <delay>`, `always` or `done`, and their guard in brackets.',
      ...signedIn(deps),
      request: {
        params: z.object({
          key: TypeKey.openapi({ param: { name: 'key', in: 'path' }, example: 'task' }),
          version: z.coerce.number().int().min(1).openapi({ param: { name: 'version', in: 'path' }, example: 1 }),
        }),
        query: DiagramQuery,
      },
      responses: {
        200: diagramResponse('The chart'),
        401: authResponses[401],
        404: problemContent('No such type or version'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { key, version } = c.req.valid('param');
      return answer(c, key, version, c.req.valid('query').format);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issues/{id}/diagram',
      operationId: 'getIssueDiagram',
      tags: ['issues'],
      summary: 'A picture of an issue’s statechart with the states it is in highlighted: SVG, or Mermaid text',
      description: 'The chart of the type version the issue runs; every active state is highlighted, in each region of a parallel state.',
      ...signedIn(deps),
      request: { params: IdParam, query: DiagramQuery },
      responses: {
        200: diagramResponse('The chart, the issue’s states highlighted (in Mermaid, the class `active`)'),
        401: authResponses[401],
        404: problemContent('No such issue, or not yours to see'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const row = await issues.readable(c.get('user'), c.req.valid('param').id);
      return answer(c, row.typeKey, row.typeVersion, c.req.valid('query').format, stateValueOf(row));
    },
  );

  return app;
}
