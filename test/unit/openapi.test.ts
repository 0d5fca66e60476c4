// The OpenAPI document GET /openapi.json serves (through the app's own route, scripts/openapi-document.ts): Redocly's
// `recommended` lint finds nothing in it (redocly.yaml names each exception and why), every operation has an id a
// generated client can name its method after, and the committed client types are what openapi-typescript makes of it.
import { readFileSync } from 'node:fs';
import type { OpenAPI3, OperationObject } from 'openapi-typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientTypesPath, describeProblems, generateClientTypes, lintDocument, servedDocument } from '../../scripts/openapi-document.js';

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

let document: OpenAPI3;
beforeAll(async () => {
  document = await servedDocument();
}, 60_000);

const operations = () =>
  Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    methods.flatMap((method) => {
      const operation = (item as Partial<Record<(typeof methods)[number], OperationObject>>)[method];
      return operation ? [{ route: `${method.toUpperCase()} ${path}`, operation }] : [];
    }),
  );

describe('the OpenAPI document', () => {
  it('lints clean: no error and no warning under Redocly’s recommended rules', () => {
    const { totals, problems } = lintDocument(document);
    expect(describeProblems(problems)).toEqual([]);
    expect(totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('fails the lint where a problem is: the check can see one', () => {
    const broken = structuredClone(document);
    const paths = broken.paths as Record<string, Record<string, OperationObject>>;
    delete paths['/tasks']!.post!.operationId;
    delete paths['/health']!.get!.security;
    const { totals, problems } = lintDocument(broken);
    expect(problems.map((problem) => problem.ruleId).sort()).toEqual(['operation-operationId', 'security-defined']);
    expect(totals.errors + totals.warnings).toBe(2);
  }, 60_000);

  it('names every operation with a unique camelCase operationId and declares its security, empty where public', () => {
    const seen = new Map<string, string>();
    const problems: string[] = [];
    for (const { route, operation } of operations()) {
      const id = operation.operationId ?? '';
      if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) problems.push(`${route}: operationId ${JSON.stringify(id)} is not camelCase`);
      if (seen.has(id)) problems.push(`${route}: operationId ${id} is also ${seen.get(id)}'s`);
      seen.set(id, route);
      if (!Array.isArray(operation.security)) problems.push(`${route}: no security declared`);
    }
    expect(problems).toEqual([]);
    const publicRoutes = operations().filter(({ operation }) => operation.security?.length === 0).map(({ route }) => route);
    expect(publicRoutes.sort()).toEqual([
      'DELETE /users/{id}',
      'GET /auth/oidc/callback',
      'GET /auth/oidc/login',
      'GET /docs',
      'GET /health',
      'GET /openapi.json',
      'POST /auth/login',
    ]);
    expect(document.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('is what the committed client types were generated from (npm run generate:client rewrites them)', async () => {
    const committed = readFileSync(clientTypesPath, 'utf8');
    expect(committed === (await generateClientTypes(document)), `${clientTypesPath} is stale: run npm run generate:client`).toBe(true);
  }, 60_000);
});
