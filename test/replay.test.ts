// Committed histories must replay against today's workflow code: a change that would break running issues
// (a task done and one left open after a shuffle, an inventory returned then approved, a service request declined,
// accepted, done and reviewed), shuffles or billing days fails here. After a deliberate, versioned change:
// `npm run record-histories`.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const folder = path.resolve('test/histories');
const histories = readdirSync(folder).filter((file) => file.endsWith('.json'));

describe('replay of committed workflow histories', () => {
  it('has the histories scripts/record-histories.ts records', () => {
    expect(histories).toEqual(
      expect.arrayContaining([
        'task-lifecycle.json',
        'task-shuffled-open.json',
        'shuffle.json',
        'inventory-returned-approved.json',
        'service-request-reviewed.json',
        'billing-day.json',
      ]),
    );
  });

  it.each(histories)('%s replays without nondeterminism', async (file) => {
    const history = JSON.parse(readFileSync(path.join(folder, file), 'utf8'));
    const workflowBundle = { code: readFileSync(inject('workflowBundlePath'), 'utf8') };
    await expect(Worker.runReplayHistory({ workflowBundle }, history, file)).resolves.toBeUndefined();
  });
});
