import { createHash } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import type { ApiDeps } from '../api/deps.js';
import { openDatabase } from '../db/client.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
});
afterAll(() => h?.stop());

describe('GET /health', () => {
  it('is 200 with the API, the database and Temporal up', async () => {
    const res = await h.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'up', api: 'up', database: 'up', temporal: 'up' });
  });

  it('is 503 naming the database when PostgreSQL does not answer', async () => {
    const database = openDatabase('postgres://x:y@127.0.0.1:1/none', { max: 1 });
    const deps: ApiDeps = { ...h.services.deps, database };
    try {
      const res = await createApp(deps).request('/health');
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toMatchObject({ status: 'down', api: 'up', database: 'down', temporal: 'up' });
      expect(body.errors.database).toEqual(expect.any(String));
      expect(body.errors.temporal).toBeUndefined();
    } finally {
      await database.close();
    }
  });

  it('is 503 naming Temporal when the server does not answer', async () => {
    // No SDK retries: a retry it schedules runs on a timer that does not heed the call's deadline, and one that fires
    // after the `finally` below closed the connection throws there, unhandled (the probe's answer is the same).
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500, interceptors: [] });
    const deps: ApiDeps = { ...h.services.deps, temporal: new Client({ connection }) };
    try {
      const res = await createApp(deps).request('/health');
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toMatchObject({ status: 'down', api: 'up', database: 'up', temporal: 'down' });
      expect(body.errors.temporal).toEqual(expect.any(String));
    } finally {
      await connection.close();
    }
  });
});

describe('an outage of PostgreSQL or Temporal', () => {
  const expectUnavailable = async (res: Response, names: RegExp) => {
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 503, type: expect.stringMatching(/unavailable$/), detail: expect.stringMatching(names) });
  };

  it('answers 503 with Retry-After, not 500, when PostgreSQL cannot be reached', async () => {
    const user = await h.user('manager');
    const database = openDatabase('postgres://x:y@127.0.0.1:1/none', { max: 1 });
    try {
      const app = createApp({ ...h.services.deps, database });
      await expectUnavailable(await app.request('/tasks/mine', { headers: { Authorization: `Bearer ${user.token}` } }), /database/);
      await expectUnavailable(
        await app.request('/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: user.email, password: user.password }) }),
        /database/,
      );
    } finally {
      await database.close();
    }
  });

});

describe('API documents', () => {
  let doc: any;
  beforeAll(async () => {
    const res = await h.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = res.body;
  });

  it('/openapi.json is an OpenAPI 3.1 document of the auth, user, event and health endpoints', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.paths['/auth/login'].post).toBeDefined();
    expect(doc.paths['/me'].get).toBeDefined();
    expect(doc.paths['/users'].post).toBeDefined();
    expect(doc.paths['/users'].get).toBeDefined();
    expect(doc.paths['/users/{id}'].patch).toBeDefined();
    expect(doc.paths['/users/{id}'].delete).toBeDefined();
    expect(doc.paths['/events'].get).toBeDefined();
    expect(doc.paths['/health'].get).toBeDefined();
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('is well formed: operations with responses, declared path parameters, unique operation ids, resolvable $refs', () => {
    const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const method of Object.keys(item).filter((key) => methods.includes(key))) {
        const operation = item[method];
        const where = `${method.toUpperCase()} ${path}`;
        expect(Object.keys(operation.responses ?? {}).length, where).toBeGreaterThan(0);
        for (const [code, response] of Object.entries<any>(operation.responses)) {
          expect(code, where).toMatch(/^([1-5]\d\d|[1-5]XX|default)$/);
          expect(response.description, `${where} ${code}`).toEqual(expect.any(String));
        }
        const pathParams = (operation.parameters ?? []).filter((p: any) => p.in === 'path');
        expect(pathParams.map((p: any) => p.name).sort(), where).toEqual([...templated].sort());
        for (const param of pathParams) expect(param.required, where).toBe(true);
        if (operation.operationId) {
          expect(operationIds.has(operation.operationId), operation.operationId).toBe(false);
          operationIds.add(operation.operationId);
        }
        for (const requirement of operation.security ?? []) {
          for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes[scheme], where).toBeDefined();
        }
      }
    }
    const refs: string[] = [];
    const collect = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref' && typeof value === 'string') refs.push(value);
          else collect(value);
        }
      }
    };
    collect(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\//);
      const target = ref
        .slice(2)
        .split('/')
        .reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it('documents the request and problem schemas the API validates with', () => {
    const login = doc.paths['/auth/login'].post;
    const body = login.requestBody.content['application/json'].schema;
    expect(body.$ref).toBe('#/components/schemas/LoginRequest');
    expect(doc.components.schemas.LoginRequest.required.sort()).toEqual(['email', 'password']);
    expect(doc.components.schemas.CreateUserRequest.properties.role.enum).toEqual(
      expect.arrayContaining(['admin', 'manager', 'accountant', 'worker', 'reviewer', 'client']),
    );
    expect(login.responses['422'].content['application/problem+json'].schema.$ref).toBe('#/components/schemas/Problem');
  });

  it('/docs answers an HTML page that loads the document', async () => {
    const res = await fetch(`${h.apiUrl}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).toContain('/openapi.json');
    // Its policy admits the page's own scripts (the inline start by hash), nothing injected beside them.
    const policy = res.headers.get('content-security-policy') ?? '';
    const scriptSrc = policy.split('; ').find((directive) => directive.startsWith('script-src ')) ?? '';
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(([, body]) => body!);
    expect(inline.length).toBeGreaterThan(0);
    for (const body of inline) expect(scriptSrc).toContain(`'sha256-${createHash('sha256').update(body).digest('base64')}'`);
    expect(scriptSrc).not.toContain('unsafe-inline');
    expect(policy).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('JSON answers carry a policy that loads nothing', async () => {
    const res = await fetch(`${h.apiUrl}/health`);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
