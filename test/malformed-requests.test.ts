// Malformed requests to the auth and user endpoints are refused with a 4xx
// problem+json, never a 5xx, and leave every user row exactly as it was.
import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let worker: TestUser;
let target: TestUser;
let usersBefore: string[];
let eventCountBefore: number;

/** Every user row in its full text form, ordered by id: equal lists mean byte-identical rows. */
async function userRows(): Promise<string[]> {
  const rows = await h.database.sql<{ row: string }[]>`select u::text as row from users u order by u.id`;
  return rows.map(({ row }) => row);
}

async function eventCount(): Promise<number> {
  const [row] = await h.database.sql<{ n: number }[]>`select count(*)::int as n from domain_events`;
  return row!.n;
}

beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  admin = await h.user('admin');
  worker = await h.user('worker');
  target = await h.user('reviewer');
  usersBefore = await userRows();
  eventCountBefore = await eventCount();
});
afterAll(() => h?.stop());

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const secret = () => h.config.jwt.secret!;
const now = () => Math.floor(Date.now() / 1000);
const MB = 1_000_000;

type Token = 'admin' | 'worker' | (() => Promise<string> | string);
interface Case {
  name: string;
  method: string;
  path: string | (() => string);
  token?: Token;
  /** Sent as JSON with `Content-Type: application/json`; a function is called when the case runs. */
  json?: unknown;
  /** Sent as is; give the content type in `headers` (none is sent otherwise). */
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** Fields the problem's `errors` must name. */
  fields?: string[];
}

const validNewUser = () => ({ name: 'New Popug', email: `new-${randomUUID()}@test.local`, role: 'worker', password: 'long-enough-password' });
const targetPath = () => `/users/${target.id}`;

const cases: Case[] = [
  // POST /auth/login
  { name: 'login: empty object', method: 'POST', path: '/auth/login', json: {}, status: 422, fields: ['body.email', 'body.password'] },
  { name: 'login: no password', method: 'POST', path: '/auth/login', json: { email: 'a@b.io' }, status: 422, fields: ['body.password'] },
  { name: 'login: no email', method: 'POST', path: '/auth/login', json: { password: 'x' }, status: 422, fields: ['body.email'] },
  { name: 'login: email is a number', method: 'POST', path: '/auth/login', json: { email: 42, password: 'x' }, status: 422, fields: ['body.email'] },
  { name: 'login: email is null', method: 'POST', path: '/auth/login', json: { email: null, password: 'x' }, status: 422, fields: ['body.email'] },
  { name: 'login: email is not an e-mail', method: 'POST', path: '/auth/login', json: { email: 'popug', password: 'x' }, status: 422, fields: ['body.email'] },
  { name: 'login: password is an object', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: { $ne: '' } }, status: 422, fields: ['body.password'] },
  { name: 'login: password is a boolean', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: true }, status: 422, fields: ['body.password'] },
  { name: 'login: empty password', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: '' }, status: 422, fields: ['body.password'] },
  { name: 'login: extra field', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: 'x', role: 'admin' }, status: 422, fields: ['body.role'] },
  { name: 'login: 1 MB e-mail', method: 'POST', path: '/auth/login', json: { email: `${'a'.repeat(MB)}@b.io`, password: 'x' }, status: 422, fields: ['body.email'] },
  { name: 'login: 1 MB password', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: 'p'.repeat(MB) }, status: 422, fields: ['body.password'] },
  { name: 'login: body over 1 MiB', method: 'POST', path: '/auth/login', json: { email: 'a@b.io', password: 'p'.repeat(2 * MB) }, status: 413 },
  { name: 'login: truncated JSON', method: 'POST', path: '/auth/login', raw: '{"email":', headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'login: single quotes', method: 'POST', path: '/auth/login', raw: "{'email':'a@b.io'}", headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'login: empty body', method: 'POST', path: '/auth/login', raw: '', headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'login: text/plain', method: 'POST', path: '/auth/login', raw: JSON.stringify({ email: 'a@b.io', password: 'x' }), headers: { 'Content-Type': 'text/plain' }, status: 415 },
  { name: 'login: form-urlencoded', method: 'POST', path: '/auth/login', raw: 'email=a%40b.io&password=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, status: 415 },
  { name: 'login: no content type', method: 'POST', path: '/auth/login', raw: '', status: 422, fields: ['body.email', 'body.password'] },
  { name: 'login: array instead of object', method: 'POST', path: '/auth/login', json: [{ email: 'a@b.io', password: 'x' }], status: 422, fields: ['body'] },
  { name: 'login: JSON null', method: 'POST', path: '/auth/login', json: null, status: 422, fields: ['body'] },
  { name: 'login: JSON string', method: 'POST', path: '/auth/login', json: 'a@b.io', status: 422, fields: ['body'] },
  { name: 'login: deeply nested arrays', method: 'POST', path: '/auth/login', raw: '['.repeat(100_000) + ']'.repeat(100_000), headers: { 'Content-Type': 'application/json' }, status: 422, fields: [`body${'.0'.repeat(64)}`] },
  { name: 'login: __proto__ key', method: 'POST', path: '/auth/login', raw: '{"email":"a@b.io","password":"x","__proto__":{"role":"admin"}}', headers: { 'Content-Type': 'application/json' }, status: 422, fields: ['body.__proto__'] },

  // Bad tokens, on GET /me
  { name: 'me: no Authorization header', method: 'GET', path: '/me', status: 401 },
  { name: 'me: garbage token', method: 'GET', path: '/me', token: () => 'garbage', status: 401 },
  { name: 'me: three garbage segments', method: 'GET', path: '/me', token: () => 'a.b.c', status: 401 },
  { name: 'me: Basic scheme', method: 'GET', path: '/me', headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' }, status: 401 },
  { name: 'me: Bearer with nothing', method: 'GET', path: '/me', headers: { Authorization: 'Bearer ' }, status: 401 },
  { name: 'me: 8 KB token', method: 'GET', path: '/me', token: () => 'x'.repeat(8000), status: 401 },
  { name: 'me: token signed with another secret', method: 'GET', path: '/me', token: () => sign({ sub: admin.id, role: 'admin', exp: now() + 600 }, 'another-secret-another-secret-xx', 'HS256'), status: 401 },
  { name: 'me: expired token', method: 'GET', path: '/me', token: () => sign({ sub: admin.id, role: 'admin', exp: now() - 10 }, secret(), 'HS256'), status: 401 },
  { name: 'me: token from the future (iat)', method: 'GET', path: '/me', token: () => sign({ sub: admin.id, role: 'admin', iat: now() + 3600 }, secret(), 'HS256'), status: 401 },
  { name: 'me: alg none', method: 'GET', path: '/me', token: () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: admin.id, role: 'admin' })}.`, status: 401 },
  { name: 'me: HS512 with the right secret', method: 'GET', path: '/me', token: () => sign({ sub: admin.id, role: 'admin' }, secret(), 'HS512'), status: 401 },
  { name: 'me: payload swapped to the admin', method: 'GET', path: '/me', token: () => { const [head, , sig] = worker.token.split('.'); return `${head}.${b64url({ sub: admin.id, role: 'admin' })}.${sig}`; }, status: 401 },
  { name: 'me: token without sub', method: 'GET', path: '/me', token: () => sign({ role: 'admin' }, secret(), 'HS256'), status: 401 },
  { name: 'me: token whose sub is not a uuid', method: 'GET', path: '/me', token: () => sign({ sub: '-'.repeat(36), role: 'admin' }, secret(), 'HS256'), status: 401 },
  { name: 'me: token whose sub is a number', method: 'GET', path: '/me', token: () => sign({ sub: 42, role: 'admin' }, secret(), 'HS256'), status: 401 },
  { name: 'me: token of an unknown user', method: 'GET', path: '/me', token: () => sign({ sub: randomUUID(), role: 'admin' }, secret(), 'HS256'), status: 401 },

  // POST /users
  { name: 'create: no token', method: 'POST', path: '/users', json: validNewUser(), status: 401 },
  { name: 'create: worker token', method: 'POST', path: '/users', token: 'worker', json: validNewUser(), status: 403 },
  { name: 'create: empty object', method: 'POST', path: '/users', token: 'admin', json: {}, status: 422, fields: ['body.name', 'body.email', 'body.role', 'body.password'] },
  { name: 'create: unknown role', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), role: 'superuser' }, status: 422, fields: ['body.role'] },
  { name: 'create: role in upper case', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), role: 'ADMIN' }, status: 422, fields: ['body.role'] },
  { name: 'create: role is an array', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), role: ['admin'] }, status: 422, fields: ['body.role'] },
  { name: 'create: name of spaces', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), name: '   ' }, status: 422, fields: ['body.name'] },
  { name: 'create: name is a number', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), name: 7 }, status: 422, fields: ['body.name'] },
  { name: 'create: 1 MB name', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), name: 'n'.repeat(MB) }, status: 422, fields: ['body.name'] },
  { name: 'create: NUL in the name', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), name: 'Pop\u0000ug' }, status: 422, fields: ['body.name'] },
  { name: 'create: short password', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), password: 'short' }, status: 422, fields: ['body.password'] },
  { name: 'create: bad e-mail', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), email: 'popug@' }, status: 422, fields: ['body.email'] },
  { name: 'create: e-mail taken (other case)', method: 'POST', path: '/users', token: 'admin', json: () => ({ ...validNewUser(), email: worker.email.toUpperCase() }), status: 409 },
  { name: 'create: extra id field', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), id: randomUUID() }, status: 422, fields: ['body.id'] },
  { name: 'create: extra status field', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), status: 'deactivated' }, status: 422, fields: ['body.status'] },
  { name: 'create: array instead of object', method: 'POST', path: '/users', token: 'admin', json: [validNewUser()], status: 422, fields: ['body'] },
  { name: 'create: bad JSON', method: 'POST', path: '/users', token: 'admin', raw: '{"name": "x",}', headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'create: empty body', method: 'POST', path: '/users', token: 'admin', raw: '', headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'create: text/plain', method: 'POST', path: '/users', token: 'admin', raw: JSON.stringify(validNewUser()), headers: { 'Content-Type': 'text/plain' }, status: 415 },
  { name: 'create: body over 1 MiB', method: 'POST', path: '/users', token: 'admin', json: { ...validNewUser(), name: 'n'.repeat(2 * MB) }, status: 413 },
  { name: 'create: Idempotency-Key too long', method: 'POST', path: '/users', token: 'admin', headers: { 'Idempotency-Key': 'k'.repeat(201) }, json: validNewUser(), status: 422, fields: ['header.idempotency-key'] },

  // GET /users
  { name: 'list: limit is a word', method: 'GET', path: '/users?limit=abc', token: 'admin', status: 422, fields: ['query.limit'] },
  { name: 'list: limit 0', method: 'GET', path: '/users?limit=0', token: 'admin', status: 422, fields: ['query.limit'] },
  { name: 'list: limit too large', method: 'GET', path: '/users?limit=100000', token: 'admin', status: 422, fields: ['query.limit'] },
  { name: 'list: limit a fraction', method: 'GET', path: '/users?limit=1.5', token: 'admin', status: 422, fields: ['query.limit'] },
  { name: 'list: limit twice', method: 'GET', path: '/users?limit=1&limit=2', token: 'admin', status: 422, fields: ['query.limit'] },
  { name: 'list: unknown role', method: 'GET', path: '/users?role=superuser', token: 'admin', status: 422, fields: ['query.role'] },
  { name: 'list: unknown status', method: 'GET', path: '/users?status=deleted', token: 'admin', status: 422, fields: ['query.status'] },
  { name: 'list: cursor not base64 JSON', method: 'GET', path: '/users?after=not-a-cursor', token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'list: cursor of the wrong shape', method: 'GET', path: () => `/users?after=${b64url({ seq: 1 })}`, token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'list: cursor with a bad id', method: 'GET', path: () => `/users?after=${b64url({ createdAt: '2024-01-01T00:00:00Z', id: "1' or '1'='1" })}`, token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'list: cursor of year zero', method: 'GET', path: () => `/users?after=${b64url({ createdAt: '0000-01-01T00:00:00Z', id: randomUUID() })}`, token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'list: cursor too long', method: 'GET', path: `/users?after=${'a'.repeat(300)}`, token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'list: worker token', method: 'GET', path: '/users', token: 'worker', status: 403 },

  // PATCH /users/:id, DELETE /users/:id
  { name: 'patch: id not a uuid', method: 'PATCH', path: '/users/not-a-uuid', token: 'admin', json: { name: 'x' }, status: 422, fields: ['path.id'] },
  { name: 'patch: id with a bad hex digit', method: 'PATCH', path: '/users/00000000-0000-4000-8000-00000000000g', token: 'admin', json: { name: 'x' }, status: 422, fields: ['path.id'] },
  { name: 'patch: id with SQL in it', method: 'PATCH', path: `/users/${encodeURIComponent("1' or '1'='1")}`, token: 'admin', json: { name: 'x' }, status: 422, fields: ['path.id'] },
  { name: 'patch: unknown id', method: 'PATCH', path: () => `/users/${randomUUID()}`, token: 'admin', json: { name: 'x' }, status: 404 },
  { name: 'patch: empty object', method: 'PATCH', path: targetPath, token: 'admin', json: {}, status: 422, fields: ['body'] },
  { name: 'patch: unknown status', method: 'PATCH', path: targetPath, token: 'admin', json: { status: 'deleted' }, status: 422, fields: ['body.status'] },
  { name: 'patch: unknown role', method: 'PATCH', path: targetPath, token: 'admin', json: { role: 'root' }, status: 422, fields: ['body.role'] },
  { name: 'patch: name is null', method: 'PATCH', path: targetPath, token: 'admin', json: { name: null }, status: 422, fields: ['body.name'] },
  { name: 'patch: NUL in the name', method: 'PATCH', path: targetPath, token: 'admin', json: { name: '\u0000' }, status: 422, fields: ['body.name'] },
  { name: 'patch: 1 MB name', method: 'PATCH', path: targetPath, token: 'admin', json: { name: 'n'.repeat(MB) }, status: 422, fields: ['body.name'] },
  { name: 'patch: e-mail is not changeable', method: 'PATCH', path: targetPath, token: 'admin', json: { email: 'new@test.local' }, status: 422, fields: ['body.email'] },
  { name: 'patch: password is not changeable here', method: 'PATCH', path: targetPath, token: 'admin', json: { password: 'new-password-123' }, status: 422, fields: ['body.password'] },
  { name: 'patch: array instead of object', method: 'PATCH', path: targetPath, token: 'admin', json: [{ name: 'x' }], status: 422, fields: ['body'] },
  { name: 'patch: bad JSON', method: 'PATCH', path: targetPath, token: 'admin', raw: '{name: x}', headers: { 'Content-Type': 'application/json' }, status: 400 },
  { name: 'patch: text/plain', method: 'PATCH', path: targetPath, token: 'admin', raw: '{"name":"x"}', headers: { 'Content-Type': 'text/plain' }, status: 415 },
  { name: 'patch: worker token', method: 'PATCH', path: targetPath, token: 'worker', json: { role: 'admin' }, status: 403 },
  { name: 'patch: no token', method: 'PATCH', path: targetPath, json: { status: 'deactivated' }, status: 401 },
  { name: 'patch: admin deactivates themselves', method: 'PATCH', path: () => `/users/${admin.id}`, token: 'admin', json: { status: 'deactivated' }, status: 409 },
  { name: 'delete: never allowed', method: 'DELETE', path: targetPath, token: 'admin', status: 405 },
  { name: 'put: a method the path does not serve', method: 'PUT', path: targetPath, token: 'admin', json: { name: 'x' }, status: 405 },

  // GET /events
  { name: 'events: negative cursor', method: 'GET', path: '/events?after=-1', token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'events: cursor is a word', method: 'GET', path: '/events?after=abc', token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'events: cursor beyond bigint', method: 'GET', path: '/events?after=1e30', token: 'admin', status: 422, fields: ['query.after'] },
  { name: 'events: NUL in the name filter', method: 'GET', path: '/events?name=user%00created', token: 'admin', status: 422, fields: ['query.name'] },
  { name: 'events: worker token', method: 'GET', path: '/events', token: 'worker', status: 403 },
];

async function send(c: Case): Promise<Response> {
  const headers: Record<string, string> = {};
  if (c.token === 'admin') headers.Authorization = `Bearer ${admin.token}`;
  else if (c.token === 'worker') headers.Authorization = `Bearer ${worker.token}`;
  else if (c.token) headers.Authorization = `Bearer ${await c.token()}`;
  let body: RequestInit['body'];
  if (c.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(typeof c.json === 'function' ? c.json() : c.json);
  } else if (c.raw !== undefined) {
    // Bytes, so fetch adds no content type of its own.
    body = new TextEncoder().encode(c.raw);
  }
  Object.assign(headers, c.headers);
  const path = typeof c.path === 'function' ? c.path() : c.path;
  return fetch(`${h.apiUrl}${path}`, { method: c.method, headers, body });
}

describe('malformed requests to the auth and user endpoints', () => {
  it('has at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const res = await send(c);
    const text = await res.text();
    expect(res.status, text.slice(0, 500)).toBe(c.status);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = JSON.parse(text);
    expect(problem).toMatchObject({ status: c.status, type: expect.any(String), title: expect.any(String) });
    expect(problem.detail).toEqual(expect.any(String));
    expect(problem.detail.length).toBeGreaterThan(0);
    // A refusal never echoes a megabyte back.
    expect(text.length).toBeLessThan(10_000);
    // The unread rest of an oversized body makes the connection unusable for another request.
    if (c.status === 413) expect(res.headers.get('connection')).toBe('close');
    if (c.fields) {
      const named = (problem.errors ?? []).map((e: { field: string }) => e.field);
      expect(named).toEqual(expect.arrayContaining(c.fields));
    }
  });

  it('changed no user row and wrote no event', async () => {
    expect(await userRows()).toEqual(usersBefore);
    expect(await eventCount()).toBe(eventCountBefore);
  });
});
