// Workers with and without tracing take over each other's issues unchanged. Tracing makes spans inside the workflow,
// and span ids are random: drawn from the workflow's own seeded `Math.random`, they would shift the task's random
// prices (`setRandomInt`) between the run that drew them and a replay on the other kind of worker. The traced
// bundle draws them from a stream of its own (workflows/tracing-interceptors.ts); this checks the prices a fresh
// worker of the other kind replays against the ones the first worker stored.
import { readFileSync } from 'node:fs';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { issues } from '../db/schema/issues.js';
import { contexts, loadConfig } from '../lib/config.js';
import { startTracing, type Tracing } from '../lib/tracing.js';
import { startWorkers, type RunningWorkers } from '../workers/run.js';
import { issueQuery, issueWorkflowId } from '../workflows/messages.js';
import { systemActor } from '../workflows/statechart/catalog.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let h: Harness;
let manager: TestUser;
let running: RunningWorkers | undefined;

beforeAll(async () => {
  tracing = (await startTracing(loadConfig({}), 'ates', { spanProcessor: new SimpleSpanProcessor(exporter) }))!;
  // The API traces; the workers are started below, one kind at a time.
  h = await startHarness({ tracing, workerContexts: [] });
  manager = await h.user('manager');
  await h.user('worker');
});
afterAll(async () => {
  await running?.shutdown();
  await h?.stop();
  await tracing?.shutdown();
});

/** Only workers of this kind run from now on, with an empty cache: the next task of each issue replays its history. */
async function switchTo(kind: 'traced' | 'plain') {
  await running?.shutdown();
  const bundle = { code: readFileSync(inject(kind === 'traced' ? 'tracedWorkflowBundlePath' : 'workflowBundlePath'), 'utf8') };
  running = await startWorkers({
    deps: h.services.deps,
    address: h.config.temporal.address!,
    contexts,
    bundle,
    tracing: kind === 'traced' ? tracing : undefined,
  });
}

const prices = (context: Record<string, unknown>) => ({ assignFeeCents: context.assignFeeCents, rewardCents: context.rewardCents });

/** The prices the issue's workflow holds now (a query: the worker replays the history first) and those it stored. */
async function pricesOf(issueId: string) {
  const view = await h.services.deps.temporal.workflow.getHandle(issueWorkflowId(issueId)).query(issueQuery, systemActor);
  const [row] = await h.database.db.select().from(issues).where(eq(issues.id, issueId));
  return { replayed: prices(view.context), stored: prices(row!.context as Record<string, unknown>) };
}

async function createTask(title: string): Promise<string> {
  const created = await h.request('POST', '/tasks', { token: manager.token, body: { title } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id;
}

describe('workers with and without tracing', () => {
  it('replay each other’s issues with the same random prices', async () => {
    await switchTo('traced');
    const tracedTask = await createTask('Started by a traced worker');
    // Spans were made in that workflow: the run's, the update's, the steps' and their activities'.
    expect(exporter.getFinishedSpans().some((span) => span.name === 'StartActivity:commitStep')).toBe(true);

    await switchTo('plain');
    const first = await pricesOf(tracedTask);
    expect(first.replayed).toEqual(first.stored);
    const plainTask = await createTask('Started by a worker without tracing');

    await switchTo('traced');
    const second = await pricesOf(plainTask);
    expect(second.replayed).toEqual(second.stored);
    const again = await pricesOf(tracedTask);
    expect(again.replayed).toEqual(again.stored);
  });
});
