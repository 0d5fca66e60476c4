// Prometheus metrics: the API's GET /metrics (requests by route template, latency, Node process metrics) for a
// scraper holding METRICS_TOKEN.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, name, labelText = '', value] = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)!;
      const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, text]) => [key!, text!]));
      return { name: name!, labels, value: Number(value) };
    });
}

/** The value of the first sample of that name whose labels include these. */
const valueOf = (scraped: Sample[], name: string, labels: Record<string, string>) =>
  scraped.find((sample) => sample.name === name && Object.entries(labels).every(([key, text]) => sample.labels[key] === text))?.value;

const metricsToken = randomBytes(24).toString('hex');
let h: Harness;
let manager: TestUser;

beforeAll(async () => {
  h = await startHarness({ env: { METRICS_TOKEN: metricsToken } });
  manager = await h.user('manager');
  await h.user('worker');
});
afterAll(() => h?.stop());

describe('GET /metrics of the API', () => {
  let scraped: Sample[];

  beforeAll(async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Count me' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await h.request('GET', `/issues/${randomUUID()}`, { token: manager.token })).status).toBe(404);
    expect((await h.request('POST', '/tasks', { token: manager.token, body: {} })).status).toBe(422);
    expect((await h.request('POST', '/tasks/not-a-uuid/complete', { token: manager.token })).status).toBe(422);
    // Paths no route matches share one label, whatever they are.
    for (const path of [`/no-such/${randomUUID()}`, `/wp-admin/${randomUUID()}.php`]) expect((await h.request('GET', path)).status).toBe(404);

    const res = await fetch(`${h.apiUrl}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    scraped = samples(await res.text());
  });

  const value = (name: string, labels: Record<string, string>) => valueOf(scraped, name, labels);

  it('counts requests by method, route template and status', () => {
    expect(value('http_requests_total', { method: 'POST', route: '/tasks', status: '201' })).toBe(1);
    expect(value('http_requests_total', { method: 'GET', route: '/issues/:id', status: '404' })).toBe(1);
    expect(value('http_requests_total', { method: 'POST', route: '/tasks', status: '422' })).toBe(1);
    expect(value('http_requests_total', { method: 'POST', route: '/tasks/:id/complete', status: '422' })).toBe(1);
    // Logins of the harness's users, through the route of POST /auth/login.
    expect(value('http_requests_total', { method: 'POST', route: '/auth/login', status: '200' })).toBeGreaterThanOrEqual(2);
  });

  it('labels requests no route matches "unmatched", never with their path', () => {
    expect(value('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
    const routes = new Set(scraped.filter((sample) => sample.name === 'http_requests_total').map((sample) => sample.labels.route));
    for (const route of routes) expect(route === 'unmatched' || !/[0-9a-f]{8}-/.test(route!), route).toBe(true);
    expect([...routes].some((route) => route?.includes('wp-admin') || route?.includes('not-a-uuid'))).toBe(false);
  });

  it('has a latency histogram per method, route template and status', () => {
    const labels = { method: 'POST', route: '/tasks', status: '201' };
    expect(value('http_request_duration_seconds_count', labels)).toBe(1);
    expect(value('http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
    expect(value('http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(1);
    expect(value('http_request_duration_seconds_bucket', { ...labels, le: '75' })).toBe(1);
  });

  it("has the Node process's default metrics", () => {
    const names = new Set(scraped.map((sample) => sample.name));
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(names.has(name), name).toBe(true);
    }
  });

  it('answers only the metrics token: 401 without a token, with a user token or a wrong one', async () => {
    for (const authorization of [undefined, `Bearer ${manager.token}`, `Bearer ${metricsToken}x`, metricsToken]) {
      const res = await fetch(`${h.apiUrl}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('is off (404) without METRICS_TOKEN', async () => {
    const { config } = h.services.deps;
    const app = createApp({ ...h.services.deps, config: { ...config, metrics: {} } });
    const res = await app.request('/metrics', { headers: { Authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ status: 404, detail: expect.stringContaining('METRICS_TOKEN') });
  });

  it('is documented with its own security scheme', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body;
    expect(doc.paths['/metrics'].get.security).toEqual([{ metricsToken: [] }]);
    expect(doc.components.securitySchemes.metricsToken).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});
