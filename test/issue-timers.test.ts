// Delayed transitions are durable Temporal timers: one fires although the worker process was killed and
// restarted meanwhile, and a left state's timer never fires. Topics deliver published events to subscribers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishToTopic } from '../lib/issues/topics.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let h: Harness;
let workers: WorkerProcess | undefined;
let creator: TestUser;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  creator = await h.user('worker');
  workers = await spawnWorkerProcess(h);
});
afterAll(async () => {
  await workers?.stop();
  await h?.stop();
});

async function saveType(key: string, definition: Record<string, unknown>, input?: Record<string, unknown>) {
  const admin = await h.user('admin');
  const saved = await h.request('POST', '/issue-types', { token: admin.token, body: { key, name: key, definition, input } });
  expect(saved.status, JSON.stringify(saved.body)).toBe(201);
}

async function startIssue(type: string, context: Record<string, unknown> = {}) {
  const created = await h.request('POST', '/issues', { token: creator.token, body: { type, title: `${type} issue`, context } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; state: string };
}

const history = async (issueId: string): Promise<[string | null, string, string][]> => {
  const answer = await h.request('GET', `/issues/${issueId}/history`, { token: creator.token });
  expect(answer.status).toBe(200);
  return answer.body.items.map((t: any) => [t.from, t.event, t.to]);
};

/** Polls the issue's history until its last transition enters `state`, for at most `withinMs`; answers how long that took. */
async function reaches(issueId: string, state: string, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const last = (await history(issueId)).at(-1);
    if (last?.[2] === state) return Date.now() - started;
    if (Date.now() - started > withinMs) throw new Error(`issue ${issueId} is still ${last?.[2]} after ${withinMs} ms`);
    await sleep(250);
  }
}

describe('delayed transitions', () => {
  // waiting --(3 s)--> late;  waiting --hurry--> quick (no timers)
  const sla = {
    initial: 'waiting',
    states: {
      waiting: { after: { '3s': 'late' }, on: { hurry: 'quick' } },
      late: { on: { hurry: 'quick' } },
      quick: { on: { relax: 'waiting' } },
    },
  };
  beforeAll(() => saveType('sla', sla));

  it('fires after the worker process was SIGKILLed and a new one started', async () => {
    const issue = await startIssue('sla');
    expect(issue.state).toBe('waiting');
    await workers!.kill();
    workers = undefined;
    // The timer comes due while no worker runs at all.
    await sleep(4000);
    workers = await spawnWorkerProcess(h);
    const tookMs = await reaches(issue.id, 'late', 20_000);
    console.info(`timer transition recorded ${tookMs} ms after the new worker process started`);
    expect(await history(issue.id)).toEqual([
      [null, 'issue.created', 'waiting'],
      ['waiting', 'xstate.after.3s.sla.waiting', 'late'],
    ]);
  }, 60_000);

  it('never fires the timer of a state that was left', async () => {
    const issue = await startIssue('sla');
    const hurried = await h.request('POST', `/issues/${issue.id}/events`, { token: creator.token, body: { type: 'hurry' } });
    expect(hurried.status, JSON.stringify(hurried.body)).toBe(200);
    expect(hurried.body.state).toBe('quick');
    // Meanwhile a second issue left alone shows the timer would have fired by now.
    const control = await startIssue('sla');
    await reaches(control.id, 'late', 10_000);
    await sleep(1500);
    expect((await h.request('GET', `/issues/${issue.id}`, { token: creator.token })).body.state).toBe('quick');
    expect(await history(issue.id)).toEqual([
      [null, 'issue.created', 'waiting'],
      ['waiting', 'hurry', 'quick'],
    ]);
  }, 30_000);
});

describe('topics', () => {
  it('delivers what is published to a topic to the issues subscribed to it', async () => {
    // Subscribes to demo/<room> on entry; a `worker.available` published there moves it on.
    await saveType('pingable', {
      initial: 'listening',
      states: {
        listening: {
          entry: [{ type: 'subscribe', params: { topic: 'demo/{{context.room}}' } }],
          on: { 'worker.available': { target: 'pinged', actions: [{ type: 'set', params: { pingedBy: '$event.data.userId' } }] } },
        },
        pinged: { exit: [{ type: 'unsubscribe', params: { topic: 'demo/{{context.room}}' } }], on: { reset: 'listening' } },
      },
    }, { context: { type: 'object', properties: { room: { type: 'string', enum: ['red', 'blue'] } }, required: ['room'] } });
    const [red, blue] = [await startIssue('pingable', { room: 'red' }), await startIssue('pingable', { room: 'blue' })];
    expect([red.state, blue.state]).toEqual(['listening', 'listening']);

    const sent = await publishToTopic(h.services.deps, { topic: 'demo/red', type: 'worker.available', data: { userId: 'tester' } });
    expect(sent).toEqual({ delivered: 1 });
    await reaches(red.id, 'pinged', 10_000);
    expect((await h.request('GET', `/issues/${red.id}`, { token: creator.token })).body.context.pingedBy).toBe('tester');
    expect(await history(red.id)).toEqual([
      [null, 'issue.created', 'listening'],
      ['listening', 'worker.available', 'pinged'],
    ]);
    // Nothing published on demo/blue: the other issue still listens, and a user cannot send the system event.
    expect((await h.request('GET', `/issues/${blue.id}`, { token: creator.token })).body.state).toBe('listening');
    const forged = await h.request('POST', `/issues/${blue.id}/events`, { token: creator.token, body: { type: 'worker.available' } });
    expect(forged.status).toBe(422);
  });
});
