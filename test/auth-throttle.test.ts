// Login throttling (lib/auth/login-throttle.ts): after 5 failed logins for an e-mail, or 20 from one address, each further
// failure blocks it for twice as long as the last; while blocked, POST /auth/login answers 429 with Retry-After and
// checks no password at all. Time passes here by moving `blocked_until` in the database, not by waiting.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type ApiResponse, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
});
afterAll(() => h?.stop());

// Every request of this file comes from the same loopback address: each test starts with its count at zero.
beforeEach(async () => {
  await h.database.sql`delete from login_throttles where key like 'address:%'`;
});

const wrong = 'not the password at all';
const login = (email: string, password: string) => h.request('POST', '/auth/login', { body: { email, password } });
const unknownEmail = () => `nobody-${randomUUID()}@test.local`;
const accountOf = (email: string) => `account:${email.toLowerCase()}`;

function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

/** A 429 problem; answers its Retry-After, which is whole seconds and at least one. */
function expectThrottled(res: ApiResponse): number {
  expectProblem(res, 429);
  expect(res.body).toMatchObject({ type: 'https://ates.dev/problems/too-many-requests', title: 'Too Many Requests' });
  const retryAfter = res.headers.get('retry-after');
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  return Number(retryAfter);
}

/** The stored count of a key, or undefined when it has none (never failed, or reset by a success). */
async function throttleOf(key: string): Promise<{ failures: number; blockedFor: number | null } | undefined> {
  const [row] = await h.database.sql<{ failures: number; blockedFor: number | null }[]>`
    select failures, extract(epoch from blocked_until - now())::float8 as "blockedFor" from login_throttles where key = ${key}`;
  return row;
}

async function addressKey(): Promise<string> {
  const rows = await h.database.sql<{ key: string }[]>`select key from login_throttles where key like 'address:%'`;
  expect(rows).toHaveLength(1);
  return rows[0]!.key;
}

/** Time passing: the key's block is over now. */
const endBlock = (key: string) => h.database.sql`update login_throttles set blocked_until = now() - interval '1 second' where key = ${key}`;
/** Time standing still: a slow machine cannot outlast a 2 s block between two requests. */
const holdBlock = (key: string) => h.database.sql`update login_throttles set blocked_until = now() + interval '1 minute' where key = ${key}`;

describe('per account', () => {
  it('answers 429 with Retry-After to the sixth wrong password, and then refuses even the right one', async () => {
    const worker = await h.user('worker');
    for (let i = 0; i < 5; i++) expectProblem(await login(worker.email, wrong), 401);
    const sixth = await login(worker.email, wrong);
    expect(expectThrottled(sixth)).toBeLessThanOrEqual(2);
    expect((await throttleOf(accountOf(worker.email)))?.failures).toBe(6);

    await holdBlock(accountOf(worker.email));
    const right = await login(worker.email, worker.password);
    expect(expectThrottled(right)).toBeGreaterThan(50);
    // One message for every throttled login, and the e-mail in another case is the same account.
    expect(right.body).toEqual(sixth.body);
    expectThrottled(await login(worker.email.toUpperCase(), worker.password));
    // Refused attempts check no password and count nothing.
    expect((await throttleOf(accountOf(worker.email)))?.failures).toBe(6);
  });

  it('backs off twice as long after each further failure, and a success after the block starts again from zero', async () => {
    const worker = await h.user('worker');
    const key = accountOf(worker.email);
    for (let i = 0; i < 5; i++) expectProblem(await login(worker.email, wrong), 401);
    const blocks: number[] = [];
    for (let i = 1; i <= 4; i++) {
      blocks.push(expectThrottled(await login(worker.email, wrong)));
      const { blockedFor } = (await throttleOf(key))!;
      expect(blockedFor).toBeGreaterThan(2 ** i - 1.5);
      expect(blockedFor).toBeLessThanOrEqual(2 ** i);
      await endBlock(key);
    }
    // Counted from the database's clock in the statement that sets the block: exactly 2 s, 4 s, 8 s, 16 s.
    expect(blocks).toEqual([2, 4, 8, 16]);

    const back = await login(worker.email, worker.password);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.user.id).toBe(worker.id);
    // The success resets the account; its address keeps counting (see the per-address test).
    expect(await throttleOf(key)).toBeUndefined();
    expect((await throttleOf(await addressKey()))?.failures).toBe(9);
    for (let i = 0; i < 5; i++) expectProblem(await login(worker.email, wrong), 401);
    expect(expectThrottled(await login(worker.email, wrong))).toBe(2);
  });

  it('throttles an unknown e-mail exactly like a known one', async () => {
    const worker = await h.user('worker');
    const nobody = unknownEmail();
    for (let i = 0; i < 5; i++) {
      const [known, unknown] = [await login(worker.email, wrong), await login(nobody, wrong)];
      expectProblem(unknown, 401);
      expect(unknown.body).toEqual(known.body);
    }
    const [known, unknown] = [await login(worker.email, wrong), await login(nobody, wrong)];
    expectThrottled(unknown);
    expect(unknown.body).toEqual(known.body);
    expect(unknown.headers.get('retry-after')).toBe(known.headers.get('retry-after'));
  });
});

describe('per address', () => {
  it('blocks the address after 20 failures across accounts, for everyone behind it; a success does not reset it, time does', async () => {
    const worker = await h.user('worker');
    for (let i = 0; i < 20; i++) expectProblem(await login(unknownEmail(), wrong), 401);
    const key = await addressKey();
    expect((await throttleOf(key))?.failures).toBe(20);
    // The 21st failure, on yet another e-mail that has never failed, blocks the address.
    expect(expectThrottled(await login(unknownEmail(), wrong))).toBe(2);

    await holdBlock(key);
    // An account that never failed, with its right password: refused while its address is blocked, and not counted.
    expectThrottled(await login(worker.email, worker.password));
    expect(await throttleOf(accountOf(worker.email))).toBeUndefined();

    await endBlock(key);
    expect((await login(worker.email, worker.password)).status).toBe(200);
    // Logging into an account of one's own between guesses at others' buys nothing: the next failure blocks again.
    expect((await throttleOf(key))?.failures).toBe(21);
    expect(expectThrottled(await login(unknownEmail(), wrong))).toBe(4);

    // A quarter of an hour after its last failure, the address starts counting from one again.
    await endBlock(key);
    await h.database.sql`update login_throttles set updated_at = now() - interval '16 minutes' where key = ${key}`;
    expectProblem(await login(unknownEmail(), wrong), 401);
    expect((await throttleOf(key))?.failures).toBe(1);
  });
});

describe('under concurrency', () => {
  it('counts 20 parallel wrong logins from one address, each exactly once', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => login(unknownEmail(), wrong)));
    for (const res of answers) expectProblem(res, 401);
    expect((await throttleOf(await addressKey()))?.failures).toBe(20);
    expectThrottled(await login(unknownEmail(), wrong));
  });

  it('checks only six of 20 parallel wrong passwords for one account: the rest are refused uncounted', async () => {
    const worker = await h.user('worker');
    const answers = await Promise.all(Array.from({ length: 20 }, () => login(worker.email, wrong)));
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses).toEqual([...Array<number>(5).fill(401), ...Array<number>(15).fill(429)]);
    for (const res of answers.filter((res) => res.status === 429)) expectThrottled(res);
    // Each attempt is counted before its password is checked, so the sixth already blocks the other fourteen.
    expect((await throttleOf(accountOf(worker.email)))?.failures).toBe(6);
  });
});

describe('the OpenAPI document', () => {
  it('documents the 429 of POST /auth/login with its Retry-After header', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body;
    const throttled = doc.paths['/auth/login'].post.responses['429'];
    expect(throttled.content['application/problem+json'].schema.$ref).toBe('#/components/schemas/Problem');
    expect(throttled.headers['Retry-After'].schema).toMatchObject({ type: 'integer', minimum: 1 });
  });
});
