import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../activities/deps.js';
import { createNotificationActivities } from '../activities/notifications.js';
import { openNotificationStreams } from '../api/notifications.js';
import { domainEvents } from '../db/schema/platform.js';
import { emailDeliveries, notifications } from '../db/schema/notifications.js';
import { updateUser } from '../lib/auth/users.js';
import { MailServer } from './support/mail-server.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

interface SseEvent {
  event?: string;
  id?: string;
  data: string;
}

/** Reads a text/event-stream response with fetch's streaming body, as a client would. */
async function openStream(h: Harness, options: { token?: string; query?: string }) {
  const abort = new AbortController();
  const response = await fetch(`${h.apiUrl}/notifications/stream${options.query ?? ''}`, {
    headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
    signal: abort.signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const comments: string[] = [];
  const events: SseEvent[] = [];

  const readBlock = async (deadline: number): Promise<void> => {
    while (!buffer.includes('\n\n')) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('timed out waiting for the stream');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out waiting for the stream')), remaining);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('the stream ended');
      buffer += chunk.value;
    }
    const end = buffer.indexOf('\n\n');
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const event: SseEvent = { data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else if (line.startsWith('event: ')) event.event = line.slice(7);
      else if (line.startsWith('id: ')) event.id = line.slice(4);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ ...event, data: data.join('\n') });
  };

  return {
    response,
    comments,
    events,
    /** Waits for the first comment, which the server writes once the stream is subscribed. */
    async connected(): Promise<void> {
      const deadline = Date.now() + 5_000;
      while (comments.length === 0) await readBlock(deadline);
      expect(comments[0]).toBe('connected');
    },
    async nextEvent(timeoutMs: number): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs;
      const seen = events.length;
      while (events.length === seen) await readBlock(deadline);
      return events[seen]!;
    },
    close(): void {
      abort.abort();
    },
  };
}

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const mail = new MailServer();
let h: Harness;
let activities: ReturnType<typeof createNotificationActivities>;

beforeAll(async () => {
  await mail.start();
  h = await startHarness({ env: { SMTP_URL: `smtp://127.0.0.1:${mail.port}` } });
  activities = createNotificationActivities(h.services.deps as ActivityDeps);
});
afterAll(async () => {
  await h?.stop();
  await mail.stop();
});

const notice = (key: string, userIds: string[]) => ({
  key,
  userIds,
  kind: 'issue.assigned',
  title: `Assigned ${key}`,
  body: `You were assigned ${key}.`,
});

async function countRows(table: typeof notifications | typeof emailDeliveries | typeof domainEvents, where: ReturnType<typeof sql>) {
  const [row] = await h.database.db.select({ count: sql<number>`count(*)::int` }).from(table).where(where);
  return row!.count;
}

describe('notify', () => {
  it('records, events and mails each recipient exactly once when retried with the same key', async () => {
    const worker = await h.user('worker');
    const key = `${randomUUID()}:1:assigned`;
    const issueId = randomUUID();
    const input = { ...notice(key, [worker.id]), issueId, data: { seq: 1 } };

    expect(await activities.notify(input)).toEqual({ recipients: [worker.id] });
    expect(await activities.notify(input)).toEqual({ recipients: [worker.id] });

    const rows = await h.database.db.select().from(notifications).where(eq(notifications.key, key));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ userId: worker.id, kind: 'issue.assigned', issueId, data: { seq: 1 }, readAt: null });
    expect(await countRows(domainEvents, sql`${domainEvents.name} = 'notification.sent' and ${domainEvents.data}->>'key' = ${key}`)).toBe(1);
    const [event] = await h.database.db.select().from(domainEvents).where(sql`${domainEvents.data}->>'key' = ${key}`);
    expect(event).toMatchObject({ version: 1, producer: 'notifications', data: { id: rows[0]!.id, userId: worker.id, issueId } });

    expect(mail.to(worker.email)).toHaveLength(1);
    expect(mail.to(worker.email)[0]!.raw).toContain(`Subject: Assigned ${key}`);
    const [delivery] = await h.database.db.select().from(emailDeliveries).where(eq(emailDeliveries.key, `notification:${key}:${worker.id}`));
    expect(delivery).toMatchObject({ status: 'sent', attempts: 1, recipients: [worker.email], error: null });
    expect(delivery!.sentAt).toBeInstanceOf(Date);
  });

  it('fans out to every active user of the roles, never to deactivated ones, once per person', async () => {
    const [active, deactivated, worker] = [await h.user('manager'), await h.user('manager'), await h.user('worker')];
    await updateUser(h.database.db, deactivated.id, { status: 'deactivated' });
    const key = `shuffle:${randomUUID()}`;

    const { recipients } = await activities.notify({ ...notice(key, [worker.id, active.id]), roles: ['manager'] });

    const activeManagers = await h.database.db.execute<{ id: string }>(
      sql`select id from users where role = 'manager' and status = 'active'`,
    );
    expect([...recipients].sort()).toEqual([...activeManagers.map((row) => row.id), worker.id].sort());
    expect(recipients).not.toContain(deactivated.id);
    expect(await countRows(notifications, sql`${notifications.key} = ${key}`)).toBe(recipients.length);
    expect(mail.to(active.email)).toHaveLength(1);
    expect(mail.to(deactivated.email)).toHaveLength(0);
  });

  it('takes a user id in any letter case, as a uuid', async () => {
    const worker = await h.user('worker');
    const key = `case:${randomUUID()}`;
    expect(await activities.notify(notice(key, [worker.id.toUpperCase()]))).toEqual({ recipients: [worker.id] });
    expect(await countRows(notifications, sql`${notifications.key} = ${key}`)).toBe(1);
  });

  it('skips unknown and deactivated users given by id', async () => {
    const gone = await h.user('worker');
    await updateUser(h.database.db, gone.id, { status: 'deactivated' });
    const key = `gone:${randomUUID()}`;
    expect(await activities.notify(notice(key, [gone.id, randomUUID()]))).toEqual({ recipients: [] });
    expect(await countRows(notifications, sql`${notifications.key} = ${key}`)).toBe(0);
  });

  it('refuses a malformed input as a non-retryable failure', async () => {
    const error = await activities.notify(notice('bad', ['not-a-uuid'])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'Notifications.InvalidInput', nonRetryable: true });
    expect((error as Error).message).toContain('userIds.0');
    const worker = await h.user('worker');
    const nul = await activities.notify({ ...notice('nul', [worker.id]), data: { note: 'a\u0000b' } }).catch((e: unknown) => e);
    expect(nul).toMatchObject({ type: 'Notifications.InvalidInput', nonRetryable: true });
  });
});

describe('e-mail', () => {
  it('sends one e-mail per key to all its recipients', async () => {
    const key = `payout:${randomUUID()}`;
    const to = [`a-${randomUUID()}@test.local`, `b-${randomUUID()}@test.local`];
    await activities.sendEmail({ key, to, subject: 'Your payout', text: 'You were paid $12.00.' });
    await activities.sendEmail({ key, to, subject: 'Your payout', text: 'You were paid $12.00.' });
    expect(mail.to(to[0]!)).toHaveLength(1);
    expect(mail.to(to[0]!)[0]!.to.sort()).toEqual([...to].sort());
    expect(mail.to(to[0]!)[0]!.raw).toContain('You were paid $12.00.');
  });

  it('throws a retryable error while the SMTP server is down, marks nothing sent, and sends on the retry', async () => {
    const worker = await h.user('worker');
    const key = `outage:${randomUUID()}`;
    const deliveryKey = `notification:${key}:${worker.id}`;
    await mail.stop();
    try {
      const error = await activities.notify(notice(key, [worker.id])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ApplicationFailure);
      const [failed] = await h.database.db.select().from(emailDeliveries).where(eq(emailDeliveries.key, deliveryKey));
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, sentAt: null });
      expect(failed!.error).toMatch(/ECONNREFUSED|connect/i);
      // The in-app notification does not wait for the mail.
      expect(await countRows(notifications, sql`${notifications.key} = ${key}`)).toBe(1);
    } finally {
      await mail.start();
    }

    // What Temporal's retry does: the same call again.
    expect(await activities.notify(notice(key, [worker.id]))).toEqual({ recipients: [worker.id] });
    const [sent] = await h.database.db.select().from(emailDeliveries).where(eq(emailDeliveries.key, deliveryKey));
    expect(sent).toMatchObject({ status: 'sent', attempts: 2 });
    expect(mail.to(worker.email)).toHaveLength(1);
    expect(await countRows(notifications, sql`${notifications.key} = ${key}`)).toBe(1);
    expect(await countRows(domainEvents, sql`${domainEvents.data}->>'key' = ${key}`)).toBe(1);
  });

  it('records the mail as logged, and sends nothing, without SMTP_URL', async () => {
    const deps = h.services.deps;
    const withoutSmtp = createNotificationActivities({ ...deps, config: { ...deps.config, mail: { ...deps.config.mail, smtpUrl: undefined } } });
    const worker = await h.user('worker');
    const key = `logged:${randomUUID()}`;
    await withoutSmtp.notify(notice(key, [worker.id]));
    await withoutSmtp.sendEmail({ key, to: [worker.email], subject: 'Daily report', text: 'Earnings: $0.00' });

    const deliveries = await h.database.db
      .select()
      .from(emailDeliveries)
      .where(sql`${emailDeliveries.key} in (${key}, ${`notification:${key}:${worker.id}`})`);
    expect(deliveries).toHaveLength(2);
    for (const delivery of deliveries) expect(delivery).toMatchObject({ status: 'logged', recipients: [worker.email] });
    expect(mail.to(worker.email)).toHaveLength(0);
  });
});

describe('GET /notifications/stream', () => {
  it('pushes a new notification to the recipient’s open stream within 2 s, and only to theirs', async () => {
    const [alice, bob] = [await h.user('worker'), await h.user('worker')];
    const aliceStream = await openStream(h, { token: alice.token });
    const bobStream = await openStream(h, { token: bob.token });
    try {
      expect(aliceStream.response.status).toBe(200);
      expect(aliceStream.response.headers.get('content-type')).toContain('text/event-stream');
      await Promise.all([aliceStream.connected(), bobStream.connected()]);

      const key = `push:${randomUUID()}`;
      await activities.notify({ ...notice(key, [alice.id]), data: { fee: 1500 } });
      const event = await aliceStream.nextEvent(2_000);
      expect(event.event).toBe('notification');
      const pushed = JSON.parse(event.data);
      expect(pushed).toMatchObject({ kind: 'issue.assigned', title: `Assigned ${key}`, data: { fee: 1500 }, readAt: null });
      expect(event.id).toBe(pushed.id);

      // Bob's stream is in order: his first event is his own notification, not Alice's.
      await activities.notify(notice(`push:${randomUUID()}`, [bob.id]));
      const bobEvent = JSON.parse((await bobStream.nextEvent(2_000)).data);
      const [bobRow] = await h.database.db.select().from(notifications).where(eq(notifications.id, bobEvent.id));
      expect(bobRow!.userId).toBe(bob.id);
    } finally {
      aliceStream.close();
      bobStream.close();
    }
  });

  it('accepts ?access_token= on the stream (EventSource) and nowhere else', async () => {
    const worker = await h.user('worker');
    const stream = await openStream(h, { query: `?access_token=${encodeURIComponent(worker.token)}` });
    try {
      expect(stream.response.status).toBe(200);
      await stream.connected();
      await activities.notify(notice(`query-token:${randomUUID()}`, [worker.id]));
      expect((await stream.nextEvent(2_000)).event).toBe('notification');
    } finally {
      stream.close();
    }

    const forged = await h.request('GET', `/notifications/stream?access_token=${worker.token}x`);
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toBe('application/problem+json');
    const list = await h.request('GET', `/notifications?access_token=${encodeURIComponent(worker.token)}`);
    expect(list.status).toBe(401);
    expect((await h.request('GET', '/notifications/stream')).status).toBe(401);

    await updateUser(h.database.db, worker.id, { status: 'deactivated' });
    const deactivated = await h.request('GET', `/notifications/stream?access_token=${encodeURIComponent(worker.token)}`);
    expect(deactivated.status).toBe(401);
  });

  it('forgets a stream as soon as its client disconnects', async () => {
    const worker = await h.user('worker');
    const database = h.services.deps.database;
    const before = openNotificationStreams(database);
    const stream = await openStream(h, { token: worker.token });
    await stream.connected();
    expect(openNotificationStreams(database)).toBe(before + 1);

    stream.close();
    await waitFor(() => openNotificationStreams(database) === before, 2_000);
    // A notification for the gone stream is simply not pushed; it stays readable in the list.
    await activities.notify(notice(`after-close:${randomUUID()}`, [worker.id]));
    const list = await h.request('GET', '/notifications', { token: worker.token });
    expect(list.body.items).toHaveLength(1);
  });

  it('is documented as text/event-stream', async () => {
    const doc = await h.request('GET', '/openapi.json');
    const stream = doc.body.paths['/notifications/stream'].get;
    expect(Object.keys(stream.responses['200'].content)).toEqual(['text/event-stream']);
    expect(stream.parameters.map((p: { name: string }) => p.name)).toContain('access_token');
  });
});

describe('GET /notifications and POST /notifications/{id}/read', () => {
  let reader: TestUser;
  let ids: string[];

  beforeAll(async () => {
    reader = await h.user('reviewer');
    ids = [];
    for (let n = 0; n < 5; n++) {
      await activities.notify(notice(`list:${randomUUID()}:${n}`, [reader.id]));
      const [row] = await h.database.db
        .select({ id: notifications.id })
        .from(notifications)
        .where(and(eq(notifications.userId, reader.id), sql`${notifications.key} like ${`list:%:${n}`}`));
      ids.push(row!.id);
      // Distinct creation times, so newest-first is the reverse of this loop.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  it('pages through the caller’s notifications, newest first, without gaps or repeats', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const query: string = after ? `?limit=2&after=${after}` : '?limit=2';
      const res = await h.request('GET', `/notifications${query}`, { token: reader.token });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((item: { id: string }) => item.id));
      after = res.body.nextCursor;
      pages++;
    } while (after);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('refuses a forged cursor with 422', async () => {
    const res = await h.request('GET', '/notifications?after=bm90LWEtY3Vyc29y', { token: reader.token });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('query.after');
  });

  it('marks the caller’s own notification read, once, and filters unread', async () => {
    const read = await h.request('POST', `/notifications/${ids[0]}/read`, { token: reader.token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: ids[0], readAt: expect.any(String) });
    const again = await h.request('POST', `/notifications/${ids[0]}/read`, { token: reader.token });
    expect(again.body.readAt).toBe(read.body.readAt);

    const unread = await h.request('GET', '/notifications?unread=true', { token: reader.token });
    expect(unread.body.items.map((item: { id: string }) => item.id)).toEqual(ids.slice(1).reverse());
    const all = await h.request('GET', '/notifications?unread=false', { token: reader.token });
    expect(all.body.items).toHaveLength(5);
  });

  it('shows nobody else’s notifications, and answers 404 for marking one', async () => {
    const other = await h.user('reviewer');
    const list = await h.request('GET', '/notifications', { token: other.token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [], nextCursor: null });

    const res = await h.request('POST', `/notifications/${ids[1]}/read`, { token: other.token });
    expect(res.status).toBe(404);
    const [row] = await h.database.db.select().from(notifications).where(eq(notifications.id, ids[1]!));
    expect(row!.readAt).toBeNull();
    expect((await h.request('POST', `/notifications/${randomUUID()}/read`, { token: reader.token })).status).toBe(404);
  });

  it('needs a token', async () => {
    expect((await h.request('GET', '/notifications')).status).toBe(401);
    expect((await h.request('POST', `/notifications/${ids[0]}/read`)).status).toBe(401);
  });
});
