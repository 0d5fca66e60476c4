// Traces end to end (lib/tracing.ts): with tracing on, one `POST /tasks` is one trace, from its HTTP span through the
// update-with-start, the workflow's first steps and their local activity down to the SQL transaction and its
// queries, and the mail the step leaves, delivered by an activity of the notifications queue beside the issue; a
// `complete` likewise through its update. The API and the workers run in this process, their spans go to an
// in-memory exporter, and each trace is printed as a tree.
import { randomBytes } from 'node:crypto';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import { startTracing, type Tracing } from '../lib/tracing.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { MailServer } from './support/mail-server.js';
import { childrenOf, fromReadableSpans, renderTrace, rootsOf, type SpanRecord } from './support/trace-tree.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let h: Harness;
let manager: TestUser;
let worker: TestUser;
const mail = new MailServer();

beforeAll(async () => {
  tracing = (await startTracing(loadConfig({}), 'ates', { spanProcessor: new SimpleSpanProcessor(exporter) }))!;
  // With SMTP, a step's mails leave through the `deliverMails` activity (without it they are only logged in the step).
  await mail.start();
  h = await startHarness({ tracing, env: { SMTP_URL: `smtp://127.0.0.1:${mail.port}` } });
  manager = await h.user('manager');
  worker = await h.user('worker');
});
afterAll(async () => {
  await h?.stop();
  await tracing?.shutdown();
  await mail.stop();
});

/** The spans of a trace once `ready` holds for them (workflow spans arrive through the worker's sink, a little later). */
async function traceOf(traceId: string, ready: (spans: SpanRecord[]) => boolean): Promise<SpanRecord[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const spans = fromReadableSpans(exporter.getFinishedSpans()).filter((span) => span.traceId === traceId);
    if (ready(spans)) return spans;
    if (Date.now() > deadline) throw new Error(`trace ${traceId} is not complete:\n${renderTrace(spans)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const named = (name: string) => (spans: SpanRecord[]) => spans.some((span) => span.name === name);

/** The one child of `parent` named `name` (asserted), to walk a trace by its parent links. */
function child(spans: SpanRecord[], parent: SpanRecord, name: string | RegExp): SpanRecord {
  const matches = childrenOf(spans, parent).filter((span) => (typeof name === 'string' ? span.name === name : name.test(span.name)));
  expect(matches.map((span) => span.name), `children of ${parent.name}: ${childrenOf(spans, parent).map((span) => span.name).join(', ')}`).toHaveLength(1);
  return matches[0]!;
}

/** A W3C traceparent of a caller's span, as a load balancer or another service would send it. */
function callerContext() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

describe('traces', () => {
  let taskId = '';
  let createTrace = '';
  let createUpdate: SpanRecord;

  it('makes one POST /tasks one trace: HTTP → update-with-start → the first steps → their local activity → SQL', async () => {
    const caller = callerContext();
    const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Trace me' }, headers: { traceparent: caller.traceparent } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    taskId = created.body.id;
    createTrace = caller.traceId;

    const spans = await traceOf(
      caller.traceId,
      (s) => named('RunActivity:deliverMails')(s) && named('StartActivity:deliverMails')(s) && s.filter((span) => span.name === 'db.transaction issue.step').length >= 2,
    );
    console.log(`POST /tasks, one trace (${spans.length} spans):\n${renderTrace(spans)}\n`);

    // The HTTP span continues the caller's trace, and every other span hangs under it: nothing is left over.
    const [http, ...others] = rootsOf(spans);
    expect(others.map((span) => span.name)).toEqual([]);
    expect(http).toMatchObject({ name: 'POST /tasks', parentSpanId: caller.spanId });
    expect(http!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/tasks', 'http.response.status_code': 201, 'enduser.id': manager.id });

    createUpdate = child(spans, http!, 'UpdateWithStartWorkflow:settled');
    expect(createUpdate.attributes).toMatchObject({ temporalWorkflowId: `issue-${taskId}` });
    // The workflow's side: the update's handler, and the first step (then the answer of its effect).
    child(spans, createUpdate, 'HandleUpdate:settled');
    for (const event of ['issue.created', 'assignee.assigned']) {
      const settle = child(spans, createUpdate, `issue.settle ${event}`);
      expect(settle.attributes).toMatchObject({ workflowId: `issue-${taskId}`, workflowType: 'issueWorkflow' });
      const scheduled = child(spans, settle, 'StartActivity:commitStep');
      const ran = child(spans, scheduled, 'RunActivity:commitStep');
      const transaction = child(spans, ran, 'db.transaction issue.step');
      expect(transaction.attributes).toMatchObject({ 'db.system': 'postgresql', 'db.namespace': new URL(h.databaseUrl).pathname.slice(1) });
      const queries = childrenOf(spans, transaction);
      // The step recorded once: the row locked, the transition claimed, the read model and the events, in one statement.
      expect(queries.map((query) => query.name)).toContain('INSERT issue_transitions issues domain_events');
      for (const query of queries) expect(query.attributes).toMatchObject({ 'db.system': 'postgresql', 'db.query.text': expect.any(String) });
      // Nested in time as in the tree: the transaction within the activity within the workflow's span that scheduled
      // it, which is timed by the host's clock too, not the workflow's (that stands still while a workflow task runs).
      const within = (inner: SpanRecord, outer: SpanRecord) => {
        expect(inner.startMs, `${inner.name} starts within ${outer.name}`).toBeGreaterThanOrEqual(outer.startMs - 1);
        expect(inner.startMs + inner.durationMs, `${inner.name} ends within ${outer.name}`).toBeLessThanOrEqual(outer.startMs + outer.durationMs + 1);
      };
      within(transaction, ran);
      within(ran, scheduled);
      within(scheduled, settle);
    }
    // The assignee's mail, delivered beside the issue by an activity of the notifications queue, in the same trace.
    const mailed = child(spans, child(spans, child(spans, createUpdate, 'issue.settle assignee.assigned'), 'StartActivity:deliverMails'), 'RunActivity:deliverMails');
    expect(childrenOf(spans, mailed).map((span) => span.name)).toContain('db.transaction notifications.mail.deliver');
    expect(mailed.attributes).toMatchObject({ temporalWorkflowId: `issue-${taskId}` });
    // The API's own reads before the update (the issue type), as query spans of the HTTP span.
    expect(childrenOf(spans, http!).map((span) => span.name)).toContain('SELECT issue_types');
  });

  it('makes one complete one trace: HTTP → update → its handler → the step → its local activity → SQL', async () => {
    const caller = callerContext();
    const done = await h.request('POST', `/tasks/${taskId}/complete`, { token: worker.token, headers: { traceparent: caller.traceparent } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);

    const spans = await traceOf(caller.traceId, (s) => named('issue.settle complete')(s) && named('db.transaction issue.step')(s));
    console.log(`POST /tasks/:id/complete, one trace (${spans.length} spans):\n${renderTrace(spans)}\n`);

    const [http, ...others] = rootsOf(spans);
    expect(others.map((span) => span.name)).toEqual([]);
    expect(http).toMatchObject({ name: 'POST /tasks/:id/complete', parentSpanId: caller.spanId });
    expect(http!.attributes).toMatchObject({ 'http.route': '/tasks/:id/complete', 'http.response.status_code': 200 });
    const update = child(spans, http!, 'StartWorkflowUpdate:sendEvent');
    const handler = child(spans, update, 'HandleUpdate:sendEvent');
    // The main loop settles the event in the update's trace, though it runs outside the handler.
    const settle = child(spans, handler, 'issue.settle complete');
    const ran = child(spans, child(spans, settle, 'StartActivity:commitStep'), 'RunActivity:commitStep');
    const transaction = child(spans, ran, 'db.transaction issue.step');
    // The reward: the entry, the balance and its event in one statement.
    expect(childrenOf(spans, transaction).map((query) => query.name)).toContain('INSERT ledger_entries accounts domain_events');
  });

  it('ends the run’s span when the issue ends, under the call that started it', async () => {
    // The run lasts as long as the task, so its span comes last; the first steps did not wait for it.
    const spans = await traceOf(createTrace, named('RunWorkflow:issueWorkflow'));
    const run = spans.find((span) => span.name === 'RunWorkflow:issueWorkflow')!;
    expect(run.parentSpanId).toBe(createUpdate.spanId);
  });

  it('names a request no route matches by its method alone, and leaves a 404 unmarked (the caller’s error, not the server’s)', async () => {
    exporter.reset();
    const caller = callerContext();
    expect((await h.request('GET', '/no-such-route', { headers: { traceparent: caller.traceparent } })).status).toBe(404);
    const [http] = await traceOf(caller.traceId, (s) => s.length > 0);
    expect(http).toMatchObject({ name: 'GET', attributes: expect.objectContaining({ 'http.response.status_code': 404 }) });
    expect(http!.attributes['http.route']).toBeUndefined();
    const failed = exporter.getFinishedSpans().find((span) => span.spanContext().traceId === caller.traceId)!;
    expect(failed.status.code).toBe(0); // 404 is the caller's error, not the server's
  });
});
