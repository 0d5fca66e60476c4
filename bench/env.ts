// The servers a bench run needs: PostgreSQL and a Temporal server (embedded child processes under a temp dir,
// unless the run was pointed at existing ones), a migrated template database, and the product's workflow bundle.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import postgres from 'postgres';
import { migrateDatabase, openDatabase } from '../db/client.js';
import { ensureBuiltinIssueTypes } from '../lib/issues/builtin-types.js';
import { loadConfig, searchPath } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { startEmbeddedPostgres } from '../lib/postgres-server.js';
import { ensureTemporalServerBinaries, postgresEndpoint, setUpTemporalSchema, startTemporalCluster } from '../lib/temporal-cluster.js';
import { createNamespace, findTemporalCli, startDevServer } from '../lib/temporal-server.js';
import { bundleWorkflows } from '../workers/run.js';
import { freePort } from '../test/support/ports.js';

export interface BenchEnv {
  temporalAddress: string;
  /** Product workflow bundle on disk, for the worker processes (WORKFLOW_BUNDLE_PATH). */
  workflowBundlePath: string;
  /** Scratch folder of this run (removed on stop). */
  scratch: string;
  /** A fresh database cloned from the migrated template (built-in issue types seeded); dropped on stop. */
  createDatabase(): Promise<string>;
  /** A copy of a database made by createDatabase (nobody may be connected to it meanwhile). */
  cloneDatabase(url: string): Promise<string>;
  /** Drops a database made by createDatabase now, to free its disk before the next case. */
  dropDatabase(url: string): Promise<void>;
  /** A fresh Temporal namespace with the product's search attributes. */
  createNamespace(): Promise<string>;
  stop(): Promise<void>;
}

/** `cluster`: without `temporalAddress`, a Temporal server of four processes on the bench's PostgreSQL (as `npm run cluster`) instead of the dev server. */
export async function startBenchEnv(options: { databaseUrl?: string; temporalAddress?: string; cluster?: boolean; log: Logger }): Promise<BenchEnv> {
  const { log } = options;
  const scratch = mkdtempSync(path.join(tmpdir(), 'ates-bench-'));
  // The embedded server runs as its own OS user when we are root: it must be able to enter this folder.
  chmodSync(scratch, 0o755);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step().catch((error) => log.warn(`bench clean-up: ${String(error)}`));
    rmSync(scratch, { recursive: true, force: true });
  };

  try {
    let serverUrl: string;
    if (options.databaseUrl) {
      serverUrl = options.databaseUrl;
    } else {
      log.info('starting embedded PostgreSQL');
      // pg_stat_statements: the lifecycle cost case counts the statements and WAL bytes of each database.
      const server = await startEmbeddedPostgres({
        dataDir: path.join(scratch, 'pg'),
        port: await freePort(),
        database: 'postgres',
        persistent: false,
        settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' },
        log,
      });
      stops.push(server.stop);
      serverUrl = server.urlFor('postgres');
    }
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    stops.push(() => admin.end({ timeout: 5 }));
    const created: string[] = [];
    stops.push(async () => {
      for (const name of created.splice(0)) await admin.unsafe(`drop database if exists "${name}" with (force)`);
    });
    const urlOf = (name: string) => {
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    };
    const newName = () => `bench_${randomBytes(5).toString('hex')}`;

    const template = newName();
    await admin.unsafe(`create database "${template}"`);
    created.push(template);

    let temporalAddress: string;
    const migrated = migrateDatabase(urlOf(template)).then(async () => {
      const database = openDatabase(urlOf(template), { max: 1 });
      await ensureBuiltinIssueTypes(database.db);
      await database.close();
    });
    if (options.temporalAddress) {
      temporalAddress = options.temporalAddress;
      await migrated;
    } else if (options.cluster) {
      const binaries = ensureTemporalServerBinaries(path.resolve('.tools', 'temporal-server', 'bin'), log);
      await setUpTemporalSchema({ sqlTool: binaries.sqlTool, anyDatabaseUrl: serverUrl, log });
      log.info('starting a Temporal cluster (frontend, history, matching, worker)');
      const logDir = path.join(scratch, 'temporal');
      const [cluster] = await Promise.all([
        startTemporalCluster({ binaries, postgres: postgresEndpoint(serverUrl), logDir, namespace: 'default', ports: 'free', log }),
        migrated,
      ]);
      stops.push(cluster.stop);
      temporalAddress = cluster.address;
    } else {
      const cli = findTemporalCli({ cliPath: loadConfig().temporal.cliPath, searchPath: searchPath(), toolsDir: path.resolve('.tools'), log });
      if (!cli) throw new Error('the bench needs the Temporal CLI: set TEMPORAL_CLI_PATH or install python3 (see README), or pass --temporal-address');
      log.info('starting Temporal dev server');
      const [server] = await Promise.all([startDevServer({ cli, port: await freePort(), uiPort: await freePort(), namespace: 'default', log }), migrated]);
      stops.push(server.stop);
      temporalAddress = server.address;
    }

    const bundle = await bundleWorkflows(quietBundlerLogger);
    const workflowBundlePath = path.join(scratch, 'workflow-bundle.js');
    writeFileSync(workflowBundlePath, bundle.code);

    return {
      temporalAddress,
      workflowBundlePath,
      scratch,
      async createDatabase() {
        const name = newName();
        await admin.unsafe(`create database "${name}" template "${template}"`);
        created.push(name);
        return urlOf(name);
      },
      async cloneDatabase(url) {
        const name = newName();
        // A file copy: much faster than the default WAL-logged copy for a database of millions of rows.
        await admin.unsafe(`create database "${name}" template "${new URL(url).pathname.slice(1)}" strategy file_copy`);
        created.push(name);
        return urlOf(name);
      },
      async dropDatabase(url) {
        const name = new URL(url).pathname.slice(1);
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
        if (created.includes(name)) created.splice(created.indexOf(name), 1);
      },
      async createNamespace() {
        const namespace = `bench-${randomBytes(5).toString('hex')}`;
        const connection = await Connection.connect({ address: temporalAddress });
        try {
          await createNamespace(connection, namespace);
        } finally {
          await connection.close();
        }
        return namespace;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

const quietBundlerLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
