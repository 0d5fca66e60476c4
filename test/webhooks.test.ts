// Webhooks end to end: real Temporal and PostgreSQL, the product's workers, and a real HTTP receiver that checks
// every delivery with the standardwebhooks library, as a subscriber would.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookWorkflowId } from '../workflows/messages.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

interface Delivery {
  webhookId: string;
  type: string;
  timestamp: string;
  data: Record<string, any>;
  at: number;
}

/**
 * A subscriber's endpoint. Every request is verified with `Webhook.verify`; one that does not verify is answered 400
 * and counted in `unverified`. `answer` decides the status of a verified one: 2xx requests are `delivered`.
 */
class Receiver {
  readonly delivered: Delivery[] = [];
  readonly refused: Delivery[] = [];
  readonly unverified: string[] = [];
  verified = 0;
  answer: (delivery: Delivery) => number = () => 204;
  secret = '';
  port = 0;
  private server: Server | undefined;

  get url() {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let payload: { type: string; timestamp: string; data: Record<string, unknown> };
        try {
          payload = new Webhook(this.secret).verify(body, headersOf(request.headers)) as typeof payload;
        } catch (error) {
          this.unverified.push(`${String(error)}: ${body}`);
          response.writeHead(400).end();
          return;
        }
        this.verified++;
        const delivery = { webhookId: String(request.headers['webhook-id']), ...payload, at: Date.now() };
        const status = this.answer(delivery);
        (status < 300 ? this.delivered : this.refused).push(delivery);
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Down: the port refuses connections until `start` again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

const headersOf = (headers: IncomingHttpHeaders) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));

async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 45_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Every event of the log (as `GET /events` pages it) of the types, after `afterSeq`. */
async function logEvents(h: Harness, admin: TestUser, types: string[], afterSeq: number) {
  const events: any[] = [];
  for (let after = afterSeq; ; ) {
    const page = await h.request('GET', `/events?after=${after}&limit=1000`, { token: admin.token });
    expect(page.status).toBe(200);
    events.push(...page.body.items);
    if (page.body.items.length < 1000) break;
    after = page.body.nextCursor;
  }
  return events.filter((event) => types.includes(event.name));
}

/** The log's last position now. */
const lastSeq = async (h: Harness) => {
  const [row] = await h.database.sql`select coalesce(max(seq), 0)::int as seq from domain_events`;
  return row!.seq as number;
};

async function allDeliveries(h: Harness, admin: TestUser, subscriptionId: string) {
  const items: any[] = [];
  let after: string | null = null;
  do {
    const page: any = await h.request('GET', `/webhooks/${subscriptionId}/deliveries?limit=200${after ? `&after=${after}` : ''}`, { token: admin.token });
    expect(page.status).toBe(200);
    items.push(...page.body.items);
    after = page.body.nextCursor;
  } while (after);
  return items.reverse(); // oldest first
}

async function subscribe(h: Harness, admin: TestUser, receiver: Receiver, eventTypes: string[]) {
  const created = await h.request('POST', '/webhooks', { token: admin.token, body: { url: receiver.url, eventTypes } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  receiver.secret = created.body.secret;
  return created.body as { id: string; secret: string };
}

const asPayload = (event: any) => ({ type: event.name, timestamp: event.occurredAt, data: event.data });
const payloadOf = ({ type, timestamp, data }: Delivery) => ({ type, timestamp, data });

describe('webhooks on the production schedule shortened to seconds', () => {
  let h: Harness;
  let admin: TestUser;
  let manager: TestUser;
  let worker: TestUser;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = new Receiver();
    await r.start();
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    h = await startHarness({ env: { WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms', WEBHOOK_RETRY_MAX_INTERVAL: '1s', WEBHOOK_RETRY_GIVE_UP_AFTER: '2m' } });
    [admin, manager, worker] = [await h.user('admin'), await h.user('manager'), await h.user('worker')];
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await h?.stop();
  });

  it('delivers the events of a task lifecycle in order, each signed so Webhook.verify accepts it', async () => {
    const r = await receiver();
    const subscription = await subscribe(h, admin, r, ['task.created', 'task.assigned', 'issue.transitioned', 'task.completed']);

    const task = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Feed the parrots' } });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const done = await h.request('POST', `/tasks/${task.body.id}/complete`, { token: worker.token });
    expect(done.status, JSON.stringify(done.body)).toBe(200);

    const expected = (await logEvents(h, admin, ['task.created', 'task.assigned', 'issue.transitioned', 'task.completed'], 0)).map(asPayload);
    expect(expected.map((event) => event.type)).toEqual([
      'issue.transitioned',
      'task.created',
      'issue.transitioned',
      'task.assigned',
      'issue.transitioned',
      'task.completed',
    ]);
    await eventually('the lifecycle at the receiver', () => (r.delivered.length >= expected.length ? true : undefined));
    await sleep(1500); // nothing more comes
    expect(r.unverified).toEqual([]);
    expect(r.verified).toBe(expected.length);
    expect(r.delivered.map(payloadOf)).toEqual(expected);
    expect(new Set(r.delivered.map((d) => d.webhookId)).size).toBe(expected.length);

    const deliveries = await allDeliveries(h, admin, subscription.id);
    expect(deliveries.map((d) => [d.messageId, d.attempt, d.outcome, d.httpStatus])).toEqual(r.delivered.map((d) => [d.webhookId, 1, 'succeeded', 204]));
    for (const d of deliveries) expect(d.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('loses nothing while the receiver fails and is down: each event arrives once, in order, after it is back', async () => {
    const types = ['user.created', 'task.created', 'task.assigned', 'task.completed'];
    const r = await receiver();
    const before = await lastSeq(h);
    const subscription = await subscribe(h, admin, r, types);
    const started = Date.now();

    // First it answers 500 to everything…
    r.answer = () => 500;
    const users = [await h.user('worker'), await h.user('client')];
    const task = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'While the receiver is down' } });
    expect(task.status).toBe(201);
    await eventually('failed attempts', async () => ((await allDeliveries(h, admin, subscription.id)).filter((d) => d.outcome === 'failed').length >= 3 ? true : undefined));

    // …then it is not there at all…
    await r.stop();
    const whileDown = [await h.user('manager')];
    const assignee = [worker, ...users].find((u) => u.id === task.body.assigneeId)!;
    expect((await h.request('POST', `/tasks/${task.body.id}/complete`, { token: assignee.token })).status).toBe(200);
    await eventually('refused connections', async () =>
      (await allDeliveries(h, admin, subscription.id)).some((d) => d.outcome === 'failed' && d.httpStatus === null) ? true : undefined,
    );

    // …and then it is back.
    r.answer = () => 200;
    await r.start();
    const after = [await h.user('accountant')];

    const expected = (await logEvents(h, admin, types, before)).map(asPayload);
    expect(expected.filter((e) => e.type === 'user.created').map((e) => e.data.id)).toEqual([...users, ...whileDown, ...after].map((u) => u.id));
    expect(expected.map((e) => e.type)).toContain('task.completed');
    await eventually('every event at the receiver', () => (r.delivered.length >= expected.length ? true : undefined));
    await sleep(1500); // and no more

    const ids = r.delivered.map((d) => d.webhookId);
    expect(new Set(ids).size, 'no webhook-id twice among successful deliveries').toBe(ids.length);
    expect(r.delivered.map(payloadOf), 'every event once, in the order of the log').toEqual(expected);
    expect(r.unverified).toEqual([]);
    expect(r.refused.length).toBeGreaterThanOrEqual(3);
    expect(r.refused.every((d) => d.webhookId === r.delivered[0]!.webhookId), 'only the first event is tried while it fails').toBe(true);

    const deliveries = await allDeliveries(h, admin, subscription.id);
    const first = deliveries.filter((d) => d.messageId === r.delivered[0]!.webhookId);
    expect(first.map((d) => d.attempt)).toEqual(first.map((_, i) => i + 1));
    expect(first.at(-1)).toMatchObject({ outcome: 'succeeded', httpStatus: 200, error: null });
    expect(first.filter((d) => d.httpStatus === 500).length).toBeGreaterThanOrEqual(3);
    expect(first.some((d) => d.outcome === 'failed' && d.httpStatus === null && d.error)).toBe(true);
    expect(deliveries.filter((d) => d.outcome === 'succeeded').map((d) => d.messageId)).toEqual(ids);
    console.log(
      `receiver failed then was down ${((Date.now() - started) / 1000).toFixed(1)} s in all: ${first.length - 1} failed attempts ` +
        `(${first.filter((d) => d.httpStatus === 500).length} answered 500, ${first.filter((d) => d.httpStatus === null).length} refused), ` +
        `then ${ids.length} of ${expected.length} events delivered once each, in order, ${r.verified} signatures verified by Webhook.verify`,
    );
  });

  it('does not skip an event whose transaction commits after a later event’s', async () => {
    const r = await receiver();
    const subscription = await subscribe(h, admin, r, ['user.updated']);
    const sql = h.database.sql;
    const insert = (tx: typeof sql, probe: string) =>
      tx`insert into domain_events (name, version, producer, data) values ('user.updated', 1, 'test', ${JSON.stringify({ probe })}::jsonb)`;
    let earlyInserted!: () => void;
    const inserted = new Promise<void>((resolve) => (earlyInserted = resolve));
    let commitEarly!: () => void;
    const committed = new Promise<void>((resolve) => (commitEarly = resolve));
    // `late` takes its transaction id first; `early` then writes its event (the lower seq) and stays open while
    // `late` writes its own (the higher seq) and commits.
    const late = sql.begin(async (tx) => {
      await tx`select pg_current_xact_id()`;
      const early = sql.begin(async (tx2) => {
        await insert(tx2 as unknown as typeof sql, 'early');
        earlyInserted();
        await committed;
      });
      await inserted;
      await insert(tx as unknown as typeof sql, 'late');
      // Wrapped: a promise returned as such would be awaited before `late` commits.
      return { early };
    });
    const { early } = await late;
    await eventually('the event committed first', () => (r.delivered.some((d) => d.data.probe === 'late') ? true : undefined));
    commitEarly();
    await early;
    await eventually('the event committed last', () => (r.delivered.some((d) => d.data.probe === 'early') ? true : undefined), 15_000);
    expect(r.delivered.map((d) => d.data.probe)).toEqual(['late', 'early']);
    const [seqs] = await sql`select array_agg(seq order by seq)::int[] as seqs, array_agg(data->>'probe' order by seq) as probes from domain_events where producer = 'test'`;
    expect(seqs!.probes, 'the event committed last has the lower seq').toEqual(['early', 'late']);
    expect((await allDeliveries(h, admin, subscription.id)).map((d) => d.outcome)).toEqual(['succeeded', 'succeeded']);
  });

  it('refuses bad subscriptions naming the field, and non-admins', async () => {
    const bad = [
      [{ url: 'ftp://example.com/hook', eventTypes: ['user.created'] }, 'body.url'],
      [{ url: 'not a url', eventTypes: ['user.created'] }, 'body.url'],
      [{ url: 'https://example.com/hook', eventTypes: [] }, 'body.eventTypes'],
      [{ url: 'https://example.com/hook' }, 'body.eventTypes'],
      [{ url: 'https://example.com/hook', eventTypes: ['user.created', 'task.exploded'] }, 'body.eventTypes.1'],
      [{ url: 'https://example.com/hook', eventTypes: ['user.created', 'user.created'] }, 'body.eventTypes'],
    ] as const;
    for (const [body, field] of bad) {
      const answer = await h.request('POST', '/webhooks', { token: admin.token, body });
      expect(answer.status, JSON.stringify(body)).toBe(422);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(answer.body.errors.map((e: any) => e.field), JSON.stringify(body)).toContain(field);
    }
    // An event an issue type of one's own emits is known once the type is saved.
    const bookingEvent = { url: 'https://example.com/hook', eventTypes: ['booking.confirmed'] };
    expect((await h.request('POST', '/webhooks', { token: admin.token, body: bookingEvent })).body.errors?.[0].field).toBe('body.eventTypes.0');
    const type = await h.request('POST', '/issue-types', {
      token: admin.token,
      body: {
        key: 'booking',
        name: 'Booking',
        definition: {
          initial: 'open',
          states: { open: { on: { confirm: { target: 'confirmed', actions: [{ type: 'emit', params: { name: 'booking.confirmed', version: 1 } }] } } }, confirmed: { type: 'final' } },
        },
      },
    });
    expect(type.status, JSON.stringify(type.body)).toBe(201);
    const booking = await h.request('POST', '/webhooks', { token: admin.token, body: bookingEvent });
    expect(booking.status, JSON.stringify(booking.body)).toBe(201);
    expect((await h.request('DELETE', `/webhooks/${booking.body.id}`, { token: admin.token })).status).toBe(204);

    for (const user of [manager, worker]) {
      expect((await h.request('POST', '/webhooks', { token: user.token, body: { url: 'https://example.com/hook', eventTypes: ['user.created'] } })).status).toBe(403);
      expect((await h.request('GET', '/webhooks', { token: user.token })).status).toBe(403);
    }
    expect((await h.request('GET', '/webhooks')).status).toBe(401);
    const list = await h.request('GET', '/webhooks?limit=1', { token: admin.token });
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).not.toHaveProperty('secret');
    const next = await h.request('GET', `/webhooks?limit=1&after=${list.body.nextCursor}`, { token: admin.token });
    expect(next.body.items[0].id).not.toBe(list.body.items[0].id);
    expect((await h.request('GET', '/webhooks?after=bogus', { token: admin.token })).body.errors[0].field).toBe('query.after');
  });

  it('stops delivering when the subscription is deleted', async () => {
    const r = await receiver();
    const subscription = await subscribe(h, admin, r, ['user.created']);
    const first = await h.user('worker');
    await eventually('the first event', () => (r.delivered.some((d) => d.data.id === first.id) ? true : undefined));

    expect((await h.request('DELETE', `/webhooks/${subscription.id}`, { token: manager.token })).status).toBe(403);
    expect((await h.request('DELETE', `/webhooks/${subscription.id}`, { token: admin.token })).status).toBe(204);
    expect((await h.request('GET', `/webhooks/${subscription.id}`, { token: admin.token })).status).toBe(404);
    expect((await h.request('GET', `/webhooks/${subscription.id}/deliveries`, { token: admin.token })).status).toBe(404);
    expect((await h.request('DELETE', `/webhooks/${subscription.id}`, { token: admin.token })).status).toBe(404);
    const description = await h.services.deps.temporal.workflow.getHandle(webhookWorkflowId(subscription.id)).describe();
    expect(description.status.name).toBe('TERMINATED');

    await h.user('worker');
    await sleep(3000);
    expect(r.delivered.map((d) => d.data.id)).toEqual([first.id]);
  });
});

describe('webhooks giving up an event after a short retry window', () => {
  let h: Harness;
  let admin: TestUser;
  const r = new Receiver();

  beforeAll(async () => {
    h = await startHarness({
      env: { WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms', WEBHOOK_RETRY_MAX_INTERVAL: '500ms', WEBHOOK_RETRY_GIVE_UP_AFTER: '3s' },
      workerContexts: ['notifications'],
    });
    admin = await h.user('admin');
    await r.start();
  });
  afterAll(async () => {
    await r.stop();
    await h?.stop();
  });

  it('records the failure when the window closes, and the events after it still go out, in order', async () => {
    const subscription = await subscribe(h, admin, r, ['user.created']);
    r.answer = (delivery) => (delivery.data.name === 'Poison' ? 500 : 204);
    const poison = await h.user('worker', 'Poison');
    const later = [await h.user('worker'), await h.user('client')];

    await eventually('the events after the poison', () => (r.delivered.length >= 2 ? true : undefined), 30_000);
    expect(r.delivered.map((d) => d.data.id)).toEqual(later.map((u) => u.id));
    expect(r.unverified).toEqual([]);

    const deliveries = await allDeliveries(h, admin, subscription.id);
    const poisoned = deliveries.filter((d) => d.outcome !== 'succeeded');
    expect(new Set(poisoned.map((d) => d.messageId)).size).toBe(1);
    const gaveUp = poisoned.at(-1);
    expect(gaveUp).toMatchObject({ outcome: 'gave_up', httpStatus: null, attempt: poisoned.length });
    expect(gaveUp.error).toMatch(/retries ended/);
    expect(poisoned.slice(0, -1).every((d) => d.outcome === 'failed' && d.httpStatus === 500)).toBe(true);
    expect(poisoned.length).toBeGreaterThanOrEqual(4);
    const firstFailure = Date.parse(poisoned[0].attemptedAt);
    // Held up for the whole window, and nothing later went out before the give-up.
    expect(Date.parse(gaveUp.attemptedAt) - firstFailure).toBeGreaterThanOrEqual(2900);
    for (const d of deliveries.filter((d) => d.outcome === 'succeeded')) expect(Date.parse(d.attemptedAt)).toBeGreaterThan(Date.parse(gaveUp.attemptedAt));
    expect(r.refused.every((d) => d.data.id === poison.id)).toBe(true);

    // The subscription keeps going.
    r.answer = () => 204;
    const next = await h.user('manager');
    await eventually('an event after the give-up', () => (r.delivered.some((d) => d.data.id === next.id) ? true : undefined));
    expect(r.delivered.filter((d) => d.data.id === poison.id)).toEqual([]);
  });
});
