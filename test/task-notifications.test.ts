import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailServer } from './support/mail-server.js';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

const mail = new MailServer();

let h: Harness;
let manager: TestUser;
let worker: TestUser;
beforeAll(async () => {
  await mail.start();
  h = await startHarness({ env: { SMTP_URL: `smtp://127.0.0.1:${mail.port}` } });
  manager = await h.user('manager');
  // The only worker, so every task is theirs.
  worker = await h.user('worker');
});
afterAll(async () => {
  await h?.stop();
  await mail.stop();
});

/** Reads server-sent events from `GET /notifications/stream` with fetch, as a browser client would. */
async function openStream(token: string) {
  const abort = new AbortController();
  const response = await fetch(`${h.apiUrl}/notifications/stream`, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
  expect(response.status).toBe(200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';

  /** The next block (up to a blank line), as its `field: value` lines; comment lines are kept with their leading `:`. */
  const nextBlock = async (deadline: number): Promise<string[]> => {
    while (!buffer.includes('\n\n')) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out waiting for the stream')), Math.max(0, deadline - Date.now()));
      });
      const chunk = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('the stream ended');
      buffer += chunk.value;
    }
    const end = buffer.indexOf('\n\n');
    const block = buffer.slice(0, end).split('\n');
    buffer = buffer.slice(end + 2);
    return block;
  };

  return {
    /** The server writes a `: connected` comment once the stream is subscribed. */
    async connected() {
      expect(await nextBlock(Date.now() + 5_000)).toEqual([': connected']);
    },
    async nextEvent(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = await nextBlock(deadline);
        const field = (name: string) => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        const data = field('data');
        if (data !== undefined) return { event: field('event'), id: field('id'), data: JSON.parse(data) };
      }
    },
    close: () => abort.abort(),
  };
}

describe('notifications of a new task', () => {
  it('pushes task.assigned to the assignee’s open stream, lists it, and mails it once', async () => {
    const stream = await openStream(worker.token);
    try {
      await stream.connected();
      const created = await h.request('POST', '/tasks', { token: manager.token, body: { title: 'Count the parrots', jiraId: 'POPUG-7' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.assigneeId).toBe(worker.id);
      const taskId: string = created.body.id;

      const pushed = await stream.nextEvent(5_000);
      expect(pushed.event).toBe('notification');
      expect(pushed.data).toMatchObject({ kind: 'task.assigned', issueId: taskId, title: 'New task: Count the parrots', readAt: null });
      expect(pushed.id).toBe(pushed.data.id);

      const list = await h.request('GET', '/notifications', { token: worker.token });
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([pushed.data]);
      // Nobody else was told.
      expect((await h.request('GET', '/notifications', { token: manager.token })).body.items).toEqual([]);
    } finally {
      stream.close();
    }

    // The mail goes out beside the in-app notification; give it a moment, then make sure it came only once.
    const deadline = Date.now() + 5_000;
    while (!mail.received.some((m) => m.to.includes(worker.email)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const mails = mail.received.filter((m) => m.to.includes(worker.email));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.raw).toContain('Subject: New task: Count the parrots');
    expect(mail.received).toHaveLength(1);
  });
});
