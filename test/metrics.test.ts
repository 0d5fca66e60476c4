// Prometheus metrics: the API's GET /metrics (requests by route template, latency, Node process metrics) for a
// scraper holding METRICS_TOKEN, and the Temporal SDK's own exporter in a worker process (WORKER_METRICS_ADDRESS).
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { freePort } from '../lib/ports.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
let workers: WorkerProcess | undefined;
let workerMetricsUrl: string;
let manager: TestUser;

beforeAll(async () => {
  // Every worker runs in a child process with the SDK's exporter; the test process installs no runtime of its own.
  h = await startHarness({ workerContexts: [], env: { METRICS_TOKEN: metricsToken } });
  const address = `127.0.0.1:${await freePort()}`;
  workerMetricsUrl = `http://${address}/metrics`;
  workers = await spawnWorkerProcess(h, undefined, { WORKER_METRICS_ADDRESS: address });
  manager = await h.user('manager');
  await h.user('worker');
});
afterAll(async () => {
  await workers?.stop();
  await h?.stop();
});

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

describe("a worker process's Temporal SDK metrics", () => {
  it('are served at WORKER_METRICS_ADDRESS once the worker has run tasks', async () => {
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Measure me' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const wanted = [
      'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
      'temporal_workflow_task_execution_latency_seconds_bucket',
      // Each step of an issue is a local activity of its workflow.
      'temporal_local_activity_execution_latency_seconds_bucket',
      'temporal_workflow_task_queue_poll_succeed_total',
      'temporal_sticky_cache_size',
      'temporal_worker_task_slots_available',
      'temporal_num_pollers',
    ];
    let names = new Set<string>();
    let text = '';
    for (let attempt = 0; attempt < 40; attempt++) {
      const res = await fetch(workerMetricsUrl);
      expect(res.status).toBe(200);
      text = await res.text();
      names = new Set(samples(text).map((sample) => sample.name));
      if (wanted.every((name) => names.has(name))) break;
      await sleep(250);
    }
    expect(wanted.filter((name) => !names.has(name)), [...names].sort().join('\n')).toEqual([]);
    // Per task queue and namespace: the issues queue's workflow tasks are told apart from the other queues'.
    const issues = { namespace: h.namespace, task_queue: 'ates-issues' };
    const of = (name: string, labels: Record<string, string>) => valueOf(samples(text), name, labels);
    expect(of('temporal_workflow_task_schedule_to_start_latency_seconds_count', issues)).toBeGreaterThanOrEqual(1);
    expect(of('temporal_sticky_cache_size', issues)).toBeGreaterThanOrEqual(1);
    expect(of('temporal_num_pollers', { ...issues, poller_type: 'workflow_task' })).toBeGreaterThan(0);
    expect(of('temporal_worker_task_slots_available', { ...issues, worker_type: 'WorkflowWorker' })).toBeGreaterThan(0);
  });
});
