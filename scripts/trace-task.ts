// `npm run trace:task [-- --samples 5] [--database-url URL] [--temporal-address host:port]`
// Where one task's time goes. Starts aTES the way the bench does (bench/env.ts, bench/stack.ts: embedded PostgreSQL
// and Temporal dev server, the API and the workers as child processes) with tracing on, exporting to an OTLP/HTTP
// receiver in this process. After a warm-up it sends `POST /tasks` and `POST /tasks/:id/complete` a few times, each
// with its own W3C traceparent, and prints the trace of the median call of each as a tree with each span's start and
// duration, then where the time went. For scale, the minimal workflow of the bench (bench/minimal-workflow.ts) runs
// beside it (the same writes with the fewest Temporal round trips, no HTTP, no tracing), and afterwards the same
// calls go to a second deployment without tracing, to show what tracing itself costs.
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startBenchEnv, type BenchEnv } from '../bench/env.js';
import { percentile, since } from '../bench/measure.js';
import { startMinimal, type Minimal } from '../bench/minimal.js';
import { killAllChildren } from '../bench/processes.js';
import { startProductStack, type ProductStack } from '../bench/stack.js';
import { createLogger } from '../lib/logger.js';
import { writeWorkflowBundle } from '../lib/stack.js';
import { childrenOf, fromOtlpJson, renderTrace, rootsOf, type OtlpTraceRequest, type SpanRecord } from '../test/support/trace-tree.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '5' },
    'warm-up': { type: 'string', default: '5' },
    'database-url': { type: 'string' },
    'temporal-address': { type: 'string' },
  },
});
const samples = Math.max(1, Number(values.samples));
const warmUp = Math.max(0, Number(values['warm-up']));
const log = createLogger('warn', 'trace-task');

/** An OTLP/HTTP receiver: every span the API and worker processes export. */
async function startCollector() {
  const spans: SpanRecord[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url === '/v1/traces') spans.push(...fromOtlpJson(JSON.parse(body) as OtlpTraceRequest));
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => server.close() };
}
type Collector = Awaited<ReturnType<typeof startCollector>>;

async function traceOf(collector: Collector, traceId: string, complete: (spans: SpanRecord[]) => boolean): Promise<SpanRecord[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const spans = collector.spans.filter((span) => span.traceId === traceId);
    if (complete(spans)) return spans;
    if (Date.now() > deadline) throw new Error(`the trace ${traceId} did not arrive whole:\n${renderTrace(spans)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const has = (...names: string[]) => (spans: SpanRecord[]) => names.every((name) => spans.some((span) => span.name === name));
const ms = (value: number) => `${value.toFixed(1)} ms`;

/** The time of a call split into the API's own work, the Temporal call, and within it the activities' and Temporal's. */
function breakdown(spans: SpanRecord[]): string {
  const [http] = rootsOf(spans);
  const call = childrenOf(spans, http!).find((span) => /^(UpdateWithStartWorkflow|StartWorkflowUpdate):/.test(span.name));
  if (!http || !call) return '';
  const sum = (list: SpanRecord[]) => list.reduce((total, span) => total + span.durationMs, 0);
  const apiSql = sum(childrenOf(spans, http).filter((span) => span !== call));
  const activities = spans.filter((span) => span.name.startsWith('RunActivity:') && span.startMs >= call.startMs && span.startMs <= call.startMs + call.durationMs);
  const transactions = activities.flatMap((activity) => childrenOf(spans, activity).filter((span) => span.name.startsWith('db.transaction ')));
  const statements = transactions.reduce((count, transaction) => count + childrenOf(spans, transaction).length, 0);
  const lines = [
    `  ${http.name}: ${ms(http.durationMs)} in the API process`,
    `    API before and after the Temporal call: ${ms(http.durationMs - call.durationMs)} (its SQL: ${ms(apiSql)})`,
    `    ${call.name}: ${ms(call.durationMs)}`,
    `      activities running (${activities.map((a) => a.name.replace('RunActivity:', '')).join(', ')}): ${ms(sum(activities))}` +
      ` (their ${transactions.length} transactions: ${ms(sum(transactions))}, ${statements} statements)`,
    `      Temporal around them (server round trips, workflow tasks, local-activity hand-offs): ${ms(call.durationMs - sum(activities))}`,
  ];
  return lines.join('\n');
}

function callerContext() {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

let env: BenchEnv | undefined;
let stack: ProductStack | undefined;
let minimal: Minimal | undefined;
let collector: Collector | undefined;
process.on('exit', killAllChildren);
try {
  collector = await startCollector();
  env = await startBenchEnv({ databaseUrl: values['database-url'], temporalAddress: values['temporal-address'], log });
  // Workers with tracing on load the traced bundle from beside the plain one.
  await writeWorkflowBundle(env.workflowBundlePath, { traced: true });
  stack = await startProductStack(env, {
    workers: true,
    // Batches leave every 100 ms rather than every 5 s, so the script need not wait.
    processEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '100' },
  });
  minimal = await startMinimal(env, stack.namespace, stack.databaseUrl);
  const manager = await stack.user('manager');
  const worker = await stack.user('worker'); // the only worker: every task is theirs

  for (let i = 0; i < warmUp; i++) {
    const task = await stack.call('POST', '/tasks', 201, { token: manager.token, body: { title: `Warm-up ${i}` } });
    await stack.call('POST', `/tasks/${task.id}/complete`, 200, { token: worker.token });
    const id = randomUUID();
    await minimal.create(id, `Warm-up ${i}`);
    await minimal.complete(id);
  }

  const runs: { create: { traceId: string; ms: number }; complete: { traceId: string; ms: number } }[] = [];
  const minimalTimes = { create: [] as number[], complete: [] as number[] };
  for (let i = 0; i < samples; i++) {
    const create = callerContext();
    let start = performance.now();
    const task = await stack.call('POST', '/tasks', 201, { token: manager.token, body: { title: `Traced ${i}` }, headers: { traceparent: create.traceparent } });
    const createMs = since(start);
    const complete = callerContext();
    start = performance.now();
    await stack.call('POST', `/tasks/${task.id}/complete`, 200, { token: worker.token, headers: { traceparent: complete.traceparent } });
    runs.push({ create: { traceId: create.traceId, ms: createMs }, complete: { traceId: complete.traceId, ms: since(start) } });
    const id = randomUUID();
    start = performance.now();
    await minimal.create(id, `Minimal ${i}`);
    minimalTimes.create.push(since(start));
    start = performance.now();
    await minimal.complete(id);
    minimalTimes.complete.push(since(start));
  }

  const median = <T extends { ms: number }>(calls: T[]): T => [...calls].sort((a, b) => a.ms - b.ms)[Math.floor((calls.length - 1) / 2)]!;
  const createRun = median(runs.map((run) => run.create));
  const completeRun = median(runs.map((run) => run.complete));
  // The run's span ends with the issue, after its complete: then the create's trace is whole.
  const created = await traceOf(collector, createRun.traceId, has('POST /tasks', 'RunWorkflow:issueWorkflow', 'issue.settle assignee.assigned'));
  const completed = await traceOf(collector, completeRun.traceId, has('POST /tasks/:id/complete', 'issue.settle complete', 'db.transaction issue.step'));

  // The same calls to a deployment without tracing (the traced one stopped first: they do not share the machine).
  await minimal.stop();
  minimal = undefined;
  await stack.stop();
  stack = await startProductStack(env, { workers: true });
  const untraced = { create: [] as number[], complete: [] as number[] };
  {
    const manager = await stack.user('manager');
    const worker = await stack.user('worker');
    for (let i = 0; i < warmUp + samples; i++) {
      let start = performance.now();
      const task = await stack.call('POST', '/tasks', 201, { token: manager.token, body: { title: `Untraced ${i}` } });
      if (i >= warmUp) untraced.create.push(since(start));
      start = performance.now();
      await stack.call('POST', `/tasks/${task.id}/complete`, 200, { token: worker.token });
      if (i >= warmUp) untraced.complete.push(since(start));
    }
  }

  const p50 = (list: number[]) => ms(percentile(list, 50));
  console.log(
    [
      '',
      `aTES with tracing on (API and workers as child processes, as the bench runs them); ${warmUp} warm-up lifecycles, then ${samples} traced ones.`,
      `Client-side median: POST /tasks ${ms(createRun.ms)}, POST /tasks/:id/complete ${ms(completeRun.ms)}.`,
      `Minimal workflow in the same run (Temporal client, no HTTP, no tracing), median of ${samples}: update-with-start ${p50(minimalTimes.create)}, complete ${p50(minimalTimes.complete)}.`,
      `aTES without tracing (a second deployment afterwards, the same calls), median of ${samples}: POST /tasks ${p50(untraced.create)}, complete ${p50(untraced.complete)}.`,
      '',
      `POST /tasks, the median of ${samples} (${created.length} spans; start and duration in ms):`,
      renderTrace(created),
      '',
      breakdown(created),
      '',
      `POST /tasks/:id/complete, the median of ${samples} (${completed.length} spans):`,
      renderTrace(completed),
      '',
      breakdown(completed),
      '',
      'Spans in the workflow (RunWorkflow, HandleUpdate, issue.settle, StartActivity) are timed by the worker host\'s clock;',
      'RunWorkflow lasts the whole task, so it ends after the complete.',
      '',
    ].join('\n'),
  );
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await minimal?.stop().catch(() => {});
  await stack?.stop().catch(() => {});
  await env?.stop().catch(() => {});
  collector?.close();
}
