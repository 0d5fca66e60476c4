// An unknown e-mail costs the same password work as a known one: answer times do not tell which accounts exist.
// Counted, not timed: one scrypt hash per refused login, whoever the e-mail belongs to.
import * as crypto from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ workerContexts: [] });
});
afterAll(() => h?.stop());

it('spends one password hash on an unknown e-mail, as on a wrong password', async () => {
  const worker = await h.user('worker');
  const hashesFor = async (email: string) => {
    // The first refusal may also prepare the hash an unknown e-mail is checked against.
    await h.request('POST', '/auth/login', { body: { email, password: 'not the password at all' } });
    vi.mocked(crypto.scrypt).mockClear();
    const res = await h.request('POST', '/auth/login', { body: { email, password: 'not the password at all' } });
    expect(res.status).toBe(401);
    return vi.mocked(crypto.scrypt).mock.calls.length;
  };
  const known = await hashesFor(worker.email);
  expect(known).toBe(1);
  expect(await hashesFor(`nobody-${randomUUID()}@test.local`)).toBe(known);
});
