// Committed histories must replay against today's workflow code: a change that would break running issues
// (a task done and one left open after a shuffle, an inventory returned then approved, a service request declined,
// accepted, done and reviewed), shuffles, billing days or webhook deliveries fails here. After a deliberate, versioned change:
// `npm run record-histories`. Histories recorded by earlier code stay in a folder named for the change that
// followed them (before-step-transaction/: steps recorded first, effects as activities of their own;
// before-shuffle-in-sets/: a shuffle sent each task an update that its own workflow committed; before-migrations/:
// issues that could not be migrated, workflows instantiated per issue rather than preloaded), so the issues and
// shuffles such code started keep replaying until the old path is removed.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const folder = path.resolve('test/histories');
const recordedBefore = ['task-lifecycle.json', 'task-shuffled-open.json', 'shuffle.json', 'inventory-returned-approved.json', 'service-request-reviewed.json', 'billing-day.json'];
/** What scripts/record-histories.ts records today: the older generations hold what it recorded then. */
const recorded = [...recordedBefore, 'contract-review-joined.json', 'task-migrated.json', 'task-after-migration.json', 'issue-migration.json', 'webhook-delivery.json'];
const generations = ['.', 'before-migrations', 'before-shuffle-in-sets', 'before-step-transaction'];
const histories = generations.flatMap((generation) =>
  readdirSync(path.join(folder, generation))
    .filter((file) => file.endsWith('.json'))
    .map((file) => path.join(generation, file)),
);

describe('replay of committed workflow histories', () => {
  it.each(generations)('has in %s every history scripts/record-histories.ts records', (generation) => {
    expect(histories.filter((file) => path.dirname(file) === generation).map((file) => path.basename(file))).toEqual(
      expect.arrayContaining(generation === '.' ? recorded : recordedBefore),
    );
  });

  it.each(histories)('%s replays without nondeterminism', async (file) => {
    const history = JSON.parse(readFileSync(path.join(folder, file), 'utf8'));
    const workflowBundle = { code: readFileSync(inject('workflowBundlePath'), 'utf8') };
    await expect(Worker.runReplayHistory({ workflowBundle }, history, file)).resolves.toBeUndefined();
  });

  // Workers with tracing on run the traced bundle (OpenTelemetry's workflow interceptors, workflows/trace-context.ts):
  // the issues they take over must replay the same. Its spans go to a sink that replays do not call.
  it.each(histories)('%s replays without nondeterminism on the traced bundle', async (file) => {
    const history = JSON.parse(readFileSync(path.join(folder, file), 'utf8'));
    const workflowBundle = { code: readFileSync(inject('tracedWorkflowBundlePath'), 'utf8') };
    const sinks = { exporter: { export: { fn: () => undefined } } };
    await expect(Worker.runReplayHistory({ workflowBundle, sinks }, history, file)).resolves.toBeUndefined();
  });
});
