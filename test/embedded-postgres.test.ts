// The embedded PostgreSQL is reachable with a generated password only, kept beside its data directory; a data
// directory from before (the well-known postgres/postgres) gets a generated one on its next start.
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { startEmbeddedPostgres } from '../lib/postgres-server.js';
import { freePort } from '../lib/ports.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'ates-pg-password-'));
// The server runs as its own OS user when we are root: it must be able to enter this folder.
chmodSync(scratch, 0o755);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const log = createLogger('warn', 'test');

/** Whether the server lets `postgres` in with this password. */
async function admits(port: number, password: string): Promise<boolean> {
  const client = postgres(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await client`select 1`;
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') return false;
    throw error;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL credentials', () => {
  it('generates a password kept in a file only its owner reads, and refuses postgres/postgres', async () => {
    const dataDir = path.join(scratch, 'fresh');
    const port = await freePort();
    const server = await startEmbeddedPostgres({ dataDir, port, log });
    try {
      const file = path.join(scratch, 'fresh-password');
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o077).toBe(0);
      const password = new URL(server.url).password;
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(await admits(port, password)).toBe(true);
      expect(await admits(port, 'postgres')).toBe(false);
    } finally {
      await server.stop();
    }
    // The next start reads the same password.
    const again = await startEmbeddedPostgres({ dataDir, port, log });
    try {
      expect(await admits(port, new URL(again.url).password)).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it('replaces the well-known password of a data directory initialised before', async () => {
    const dataDir = path.join(scratch, 'legacy');
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, log });
    // Make it what older versions left behind: postgres/postgres, and no password file.
    const admin = postgres(first.urlFor('postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`alter role postgres password 'postgres'`);
    await admin.end();
    await first.stop();
    await unlink(path.join(scratch, 'legacy-password'));

    const upgraded = await startEmbeddedPostgres({ dataDir, port, log });
    try {
      const password = new URL(upgraded.url).password;
      expect(password).not.toBe('postgres');
      expect(await admits(port, password)).toBe(true);
      expect(await admits(port, 'postgres')).toBe(false);
    } finally {
      await upgraded.stop();
    }
  });
});
