// Resolves the database and Temporal for a process: the configured ones, or embedded child processes.
import path from 'node:path';
import { ensureFirstAdmin } from './auth/first-admin.js';
import { openDatabase } from '../db/client.js';
import type { Config } from './config.js';
import { searchPath } from './config.js';
import { persistentSecret } from './data-dir.js';
import type { Logger } from './logger.js';
import { startEmbeddedPostgres } from './postgres-server.js';
import { migrateWithBuiltinTypes, toolsDir } from './stack.js';
import { findTemporalCli, startDevServer, startDownloadedDevServer } from './temporal-server.js';

export interface Resource<T> {
  value: T;
  stop(): Promise<void>;
}

const nothingToStop = async () => {};

export async function ensureDatabase(config: Config, log: Logger): Promise<Resource<string>> {
  if (config.database.url) return { value: config.database.url, stop: nothingToStop };
  const dataDir = path.join(config.dataDir, 'postgres');
  log.info(`starting embedded PostgreSQL (data in ${dataDir}, port ${config.database.embeddedPort})`);
  const server = await startEmbeddedPostgres({ dataDir, port: config.database.embeddedPort, log });
  return { value: server.url, stop: server.stop };
}

export async function ensureTemporal(config: Config, log: Logger): Promise<Resource<{ address: string; uiUrl?: string }>> {
  const { address, uiUrl, namespace, port, uiPort, cliPath } = config.temporal;
  if (address) return { value: { address, uiUrl }, stop: nothingToStop };
  const dbFile = path.join(config.dataDir, 'temporal.db');
  const cli = findTemporalCli({ cliPath, searchPath: searchPath(), toolsDir, log });
  log.info(`starting Temporal dev server${cli ? ` (${cli})` : ' (SDK download)'}, workflows kept in ${dbFile}`);
  const server = cli
    ? await startDevServer({ cli, port, uiPort, namespace, dbFile, log })
    : await startDownloadedDevServer({ port, uiPort, namespace, dbFile, log });
  return { value: { address: server.address, uiUrl: server.uiUrl }, stop: server.stop };
}

export function jwtSecret(config: Config): string {
  return config.jwt.secret ?? persistentSecret(config.dataDir, 'jwt-secret').value;
}

export interface PreparedDatabase {
  adminEmail: string;
  adminPassword: string;
  /** The admin was created by this start (its password is shown once). */
  createdAdmin: boolean;
  /** Where the admin password is kept: ADMIN_PASSWORD or a file under the data directory. */
  passwordSource: string;
}

/** Applies the migrations, adds the built-in issue types and creates the first admin, before any aTES process starts. */
export async function prepareDatabase(config: Config, databaseUrl: string): Promise<PreparedDatabase> {
  await migrateWithBuiltinTypes(databaseUrl);
  const adminEmail = config.admin.email ?? 'admin@ates.local';
  const adminPassword = config.admin.password ?? persistentSecret(config.dataDir, 'admin-password').value;
  const db = openDatabase(databaseUrl, { max: 1 });
  try {
    const createdAdmin = await ensureFirstAdmin(db.db, { email: adminEmail, password: adminPassword });
    const passwordSource = config.admin.password ? 'ADMIN_PASSWORD' : path.join(config.dataDir, 'admin-password');
    return { adminEmail, adminPassword, createdAdmin, passwordSource };
  } finally {
    await db.close();
  }
}

/**
 * Stops a script's processes and servers once, on SIGINT or SIGTERM or when the script gives up: `stop` runs, then
 * the process exits with `code` (1 when stopping failed). Answers that shutdown, for the script's own failures.
 */
export function shutdownOnSignals(log: Logger, order: string, stop: () => Promise<void>) {
  let stopping = false;
  const shutdown = async (reason: string, code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`${reason}: shutting down (${order})`);
    try {
      await stop();
    } catch (error) {
      log.error('shutdown failed', error);
      code = 1;
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return Object.defineProperty(shutdown, 'stopping', { get: () => stopping }) as typeof shutdown & { readonly stopping: boolean };
}
