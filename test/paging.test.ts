// Keyset paging over rows that share a created_at, or only its millisecond: every page size returns each
// row exactly once, in the list's order. A cursor that kept a JavaScript Date (milliseconds) skipped rows.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let worker: TestUser;

beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
  [admin, worker] = await Promise.all([h.user('admin'), h.user('worker')]);
});
afterAll(async () => h?.stop());

const pageSizes = [1, 2, 3, 4, 5];

/**
 * created_at values: seven rows on one microsecond-bearing instant, five more in the same millisecond with
 * other microseconds, two more sharing another microsecond of it, and rows just around that millisecond.
 */
const instants = [
  ...Array(7).fill('2024-05-01 12:00:00.123456+00'),
  '2024-05-01 12:00:00.123001+00',
  '2024-05-01 12:00:00.123250+00',
  '2024-05-01 12:00:00.123500+00',
  '2024-05-01 12:00:00.123750+00',
  '2024-05-01 12:00:00.123999+00',
  '2024-05-01 12:00:00.123000+00',
  '2024-05-01 12:00:00.123000+00',
  '2024-05-01 12:00:00.122999+00',
  '2024-05-01 12:00:00.124000+00',
  '2024-05-01 12:00:00.124001+00',
] as string[];

const ids = async (query: ReturnType<typeof sql>): Promise<string[]> =>
  (await h.database.db.execute<{ id: string }>(query)).map((row) => String(row.id));

/** Follows `nextCursor` from the first page to the last; `items` of each page mapped by `idOf`. */
async function pageThrough(
  path: string,
  token: string,
  limit: number,
  options: { items?: (body: any) => { items: any[]; nextCursor: string | null }; idOf?: (item: any) => string } = {},
): Promise<string[]> {
  const { items = (body) => body, idOf = (item) => item.id } = options;
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const separator = path.includes('?') ? '&' : '?';
    const response = await h.request('GET', `${path}${separator}limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`, { token });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const page = items(response.body);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items.map(idOf));
    if (page.nextCursor === null) return seen;
    after = page.nextCursor;
  }
  throw new Error(`${path}: still paging after 200 pages`);
}

/** Pages with every size and compares each walk with the expected ids; the counts make a failure readable. */
async function expectEveryPageSize(label: string, expected: string[], walk: (limit: number) => Promise<string[]>) {
  const walks = new Map<number, string[]>();
  for (const limit of pageSizes) walks.set(limit, await walk(limit));
  const counts = Object.fromEntries([...walks].map(([limit, got]) => [limit, got.length]));
  // Soft: a failure still runs the test's other lists, so it reports all their counts.
  expect.soft(counts, `${label}: rows returned per page size, of ${expected.length}`).toEqual(Object.fromEntries(pageSizes.map((limit) => [limit, expected.length])));
  for (const [limit, got] of walks) expect.soft(got, `${label}: limit ${limit}`).toEqual(expected);
}

describe('keyset paging over equal and same-millisecond timestamps', () => {
  it('GET /issues and GET /tasks/mine return every issue once, newest first', async () => {
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into issues (id, type_key, type_version, title, state, status, context, assignee_id, creator_id, step, created_at, updated_at)
        values (${randomUUID()}, 'paging', 1, ${`paging ${i}`}, 'open', 'active', '{}'::jsonb, ${worker.id}, ${admin.id}, 1, ${at}::timestamptz, now()),
               (${randomUUID()}, 'task', 1, ${`task ${i}`}, 'open', 'active', '{}'::jsonb, ${worker.id}, ${admin.id}, 1, ${at}::timestamptz, now())`);
    }
    const paging = await ids(sql`select id from issues where type_key = 'paging' order by created_at desc, id desc`);
    const tasks = await ids(sql`select id from issues where type_key = 'task' and assignee_id = ${worker.id} order by created_at desc, id desc`);
    expect(paging).toHaveLength(instants.length);
    expect(new Set(paging).size).toBe(instants.length);

    await expectEveryPageSize('GET /issues (admin)', paging, (limit) => pageThrough('/issues?type=paging', admin.token, limit));
    // The worker sees them as assignee: the same list through the visibility filter.
    await expectEveryPageSize('GET /issues (assignee)', paging, (limit) => pageThrough('/issues?type=paging', worker.token, limit));
    await expectEveryPageSize('GET /tasks/mine', tasks, (limit) => pageThrough('/tasks/mine', worker.token, limit));
  });

  it('GET /notifications returns every notification once, newest first', async () => {
    const user = await h.user('worker');
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into notifications (user_id, kind, title, body, key, created_at)
        values (${user.id}, 'test', ${`n ${i}`}, '', ${`paging-${i}`}, ${at}::timestamptz)`);
    }
    const expected = await ids(sql`select id from notifications where user_id = ${user.id} order by created_at desc, id desc`);
    expect(expected).toHaveLength(instants.length);
    await expectEveryPageSize('GET /notifications', expected, (limit) => pageThrough('/notifications', user.token, limit));
  });

  it('GET /webhooks and GET /webhooks/{id}/deliveries return every subscription and attempt once, newest first', async () => {
    const [subscription] = await ids(sql`
      insert into webhook_subscriptions (url, event_types, secret, cursor_tx_id, cursor_seq)
      values ('http://127.0.0.1:9/paging', '{user.created}', 'whsec_x', '1', 0) returning id`);
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into webhook_subscriptions (url, event_types, secret, cursor_tx_id, cursor_seq, created_at)
        values (${`http://127.0.0.1:9/paging-${i}`}, '{user.created}', 'whsec_x', '1', 0, ${at}::timestamptz)`);
      await h.database.db.execute(sql`
        insert into webhook_deliveries (subscription_id, event_id, event_seq, message_id, attempt, outcome, http_status, duration_ms, attempted_at)
        values (${subscription}, ${randomUUID()}, ${i + 1}, ${`msg_${i}`}, 1, 'succeeded', 204, 3, ${at}::timestamptz)`);
    }
    // Subscriptions are created without their workflow here: the lists are what is tested.
    const subscriptions = await ids(sql`select id from webhook_subscriptions order by created_at desc, id desc`);
    const deliveries = await ids(sql`select id from webhook_deliveries where subscription_id = ${subscription} order by attempted_at desc, id desc`);
    expect(deliveries).toHaveLength(instants.length);
    await expectEveryPageSize('GET /webhooks', subscriptions, (limit) => pageThrough('/webhooks', admin.token, limit));
    await expectEveryPageSize('GET /webhooks/{id}/deliveries', deliveries, (limit) => pageThrough(`/webhooks/${subscription}/deliveries`, admin.token, limit));
  });

  it('GET /users returns every user once, oldest first', async () => {
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into users (name, email, role, password_hash, created_at)
        values (${`reviewer ${i}`}, ${`paging-${i}@test.local`}, 'reviewer', 'not-a-hash', ${at}::timestamptz)`);
    }
    const expected = await ids(sql`select id from users where role = 'reviewer' order by created_at, id`);
    expect(expected).toHaveLength(instants.length);
    await expectEveryPageSize('GET /users', expected, (limit) => pageThrough('/users?role=reviewer', admin.token, limit));
  });

  it('GET /worker-applications returns every application once, oldest first', async () => {
    for (const at of instants) {
      await h.database.db.execute(sql`insert into worker_applications (worker_id, created_at) values (${randomUUID()}, ${at}::timestamptz)`);
    }
    const expected = await ids(sql`select id from worker_applications order by created_at, id`);
    expect(expected).toHaveLength(instants.length);
    await expectEveryPageSize('GET /worker-applications', expected, (limit) => pageThrough('/worker-applications', admin.token, limit));
  });

  it('GET /billing/me and GET /billing/accounts return every entry and account once', async () => {
    const user = await h.user('worker');
    await h.database.db.execute(sql`insert into billing_days (date, status) values ('2024-05-01', 'closed') on conflict do nothing`);
    await h.database.db.execute(sql`insert into accounts (user_id, balance_cents) values (${user.id}, 0)`);
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into ledger_entries (key, user_id, kind, amount_cents, description, billing_date, created_at)
        values (${`paging-${i}`}, ${user.id}, 'adjustment', ${i + 1}, 'paging', '2024-05-01', ${at}::timestamptz)`);
      await h.database.db.execute(sql`insert into accounts (user_id, created_at) values (${randomUUID()}, ${at}::timestamptz)`);
    }
    const entries = await ids(sql`select id from ledger_entries where user_id = ${user.id} order by id desc`);
    const accounts = await ids(sql`select user_id as id from accounts order by user_id`);
    expect(entries).toHaveLength(instants.length);
    await expectEveryPageSize('GET /billing/me', entries, (limit) =>
      pageThrough('/billing/me', user.token, limit, { items: (body) => body.entries, idOf: (entry) => String(entry.id) }),
    );
    await expectEveryPageSize('GET /billing/accounts', accounts, (limit) => pageThrough('/billing/accounts', admin.token, limit, { idOf: (account) => account.userId }));
  });

  it('GET /events returns every event once, in sequence order', async () => {
    for (const [i, at] of instants.entries()) {
      await h.database.db.execute(sql`
        insert into domain_events (name, version, producer, data, occurred_at)
        values ('paging.test', 1, 'test', ${JSON.stringify({ i })}::jsonb, ${at}::timestamptz)`);
    }
    const expected = await ids(sql`select seq as id from domain_events where name = 'paging.test' order by seq`);
    expect(expected).toHaveLength(instants.length);
    // The feed holds back events while any older transaction of the server may still commit (another test file's
    // open transaction, on the same PostgreSQL, counts): wait until it shows them all before paging.
    for (let waited = 0; ; waited += 100) {
      const shown = await h.request('GET', '/events?name=paging.test&limit=1000', { token: admin.token });
      if (shown.body.items.length === expected.length) break;
      if (waited > 30_000) throw new Error(`the feed shows ${shown.body.items.length} of ${expected.length} events after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A feed: `nextCursor` is the last seq seen, and null once a page comes back empty.
    const walk = async (limit: number) => {
      const seen: string[] = [];
      let after = 0;
      for (let pages = 0; pages < 200; pages++) {
        const response = await h.request('GET', `/events?name=paging.test&limit=${limit}&after=${after}`, { token: admin.token });
        expect(response.status).toBe(200);
        seen.push(...response.body.items.map((event: { seq: number }) => String(event.seq)));
        if (response.body.nextCursor === null) return seen;
        after = response.body.nextCursor;
      }
      throw new Error('still paging after 200 pages');
    };
    await expectEveryPageSize('GET /events', expected, walk);
  });

  it('GET /issue-types returns every type once, by key, as a summary of its latest version', async () => {
    const keys = Array.from({ length: 9 }, (_, i) => `paging_${i}`);
    const definition = { id: 'paging', initial: 'a', states: { a: {} } };
    for (const key of keys) {
      for (const version of [1, 2]) {
        await h.database.db.execute(sql`
          insert into issue_types (key, version, name, description, definition)
          values (${key}, ${version}, ${`${key} v${version}`}, '', ${JSON.stringify(definition)}::jsonb)`);
      }
    }
    const expected = await ids(sql`select distinct key as id from issue_types order by key`);
    await expectEveryPageSize('GET /issue-types', expected, (limit) => pageThrough('/issue-types', worker.token, limit, { idOf: (type) => type.key }));
    const first = await h.request('GET', '/issue-types?limit=200', { token: worker.token });
    const summary = first.body.items.find((type: { key: string }) => type.key === 'paging_0');
    // The summary leaves the definition and the input out: 500 types must not mean megabytes.
    expect(summary).toEqual({ key: 'paging_0', version: 2, name: 'paging_0 v2', description: '', createdAt: expect.any(String) });
  });

  it('a cursor the API did not hand out is a 422 naming query.after', async () => {
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cursors = [
      'not-a-cursor',
      forged(['2024-02-30T12:00:00.123456Z', randomUUID()]),
      forged(['2024-05-01T12:00:00.123456Z']),
      forged(['2024-05-01T12:00:00.123456Z', 'not-a-uuid']),
      forged(['2024-05-01 12:00:00.123456+00', randomUUID()]),
    ];
    for (const path of ['/issues', '/notifications', '/users', '/worker-applications', '/billing/accounts', '/webhooks']) {
      for (const after of cursors) {
        const response = await h.request('GET', `${path}?after=${encodeURIComponent(after)}`, { token: admin.token });
        expect(response.status, `${path} ${after}`).toBe(422);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        expect(response.body.errors).toEqual([{ field: 'query.after', message: 'not a cursor this API returned' }]);
      }
    }
    // A type key is any text: only what is not a cursor at all is refused.
    for (const after of ['not-a-cursor', forged([1]), forged(['a', 'b'])]) {
      const types = await h.request('GET', `/issue-types?after=${encodeURIComponent(after)}`, { token: admin.token });
      expect(types.status, after).toBe(422);
      expect(types.body.errors).toEqual([{ field: 'query.after', message: 'not a cursor this API returned' }]);
    }
    const entries = await h.request('GET', `/billing/me?after=${forged(['1.5'])}`, { token: admin.token });
    expect(entries.status).toBe(422);
    expect(entries.body.errors).toEqual([{ field: 'query.after', message: 'not a cursor this API returned' }]);
  });
});

describe('GET /events with a transaction that commits its event behind a later one', () => {
  it('passes over no event: the feed goes by transaction, then seq', async () => {
    const events = (after: number) => h.request('GET', `/events?after=${after}&limit=1000`, { token: admin.token });
    const feed = async (after: number) => {
      const res = await events(after);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body as { items: { seq: number; name: string }[]; nextCursor: number | null };
    };
    // Where the log ends now (the feed shows an event once no older transaction on the server is open: wait).
    let start = 0;
    for (let page = await feed(0); page.nextCursor !== null; page = await feed(start)) start = page.nextCursor;

    const insert = (tx: postgres.TransactionSql, name: string) =>
      tx`insert into domain_events (id, name, version, producer, data) values (${randomUUID()}, ${name}, 1, 'test', '{}')`;
    const early = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    const late = postgres(h.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      // `late` takes its transaction id first, `early` then writes the lower seq, `late` the higher one and commits.
      let commitEarly!: () => void;
      const earlyCommitted = new Promise<void>((resolve) => (commitEarly = resolve));
      let earlyWrote!: () => void;
      const earlyHasWritten = new Promise<void>((resolve) => (earlyWrote = resolve));
      const lateDone = late.begin(async (tx) => {
        await tx`select pg_current_xact_id()`;
        const earlyDone = early.begin(async (etx) => {
          await insert(etx, 'test.early');
          earlyWrote();
          await earlyCommitted;
        });
        await earlyHasWritten;
        await insert(tx, 'test.late');
        // Wrapped: a promise answered from the callback would hold `late`'s commit until `early` commits.
        return { earlyDone };
      });
      const { earlyDone } = await lateDone;

      // `late` is committed, `early` is open: a reader sees `late` first and moves its cursor past `early`'s seq.
      let seen: { seq: number; name: string }[] = [];
      for (const deadline = Date.now() + 10_000; !seen.some((e) => e.name === 'test.late') && Date.now() < deadline; ) seen = (await feed(start)).items;
      expect(seen.map((e) => e.name)).toEqual(['test.late']);
      const cursor = seen.at(-1)!.seq;
      commitEarly();
      await earlyDone;
      let next: { seq: number; name: string }[] = [];
      for (const deadline = Date.now() + 10_000; next.length === 0 && Date.now() < deadline; ) next = (await feed(cursor)).items;
      expect(next.map((e) => e.name)).toEqual(['test.early']);
      expect(next[0]!.seq).toBeLessThan(cursor);
    } finally {
      await Promise.all([early.end(), late.end()]);
    }
  });

  it('refuses a cursor naming no event with 422 on query.after', async () => {
    const res = await h.request('GET', '/events?after=999999999', { token: admin.token });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['query.after']);
  });
});
