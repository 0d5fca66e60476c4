// The pieces every run that starts aTES on one machine is built from (the tests' global setup, the bench, the chaos
// run, recording histories, fuzzing, tracing a task): a scratch folder, PostgreSQL, Temporal (the dev server or a
// cluster of four processes), the prepared database, the workflow bundles, and the API and worker processes.
// `npm start` and `npm run cluster` reach the same servers through lib/runtime.ts, from the configuration.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, createWriteStream, mkdtempSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { migrateDatabase, openDatabase } from '../db/client.js';
import { ensureBuiltinIssueTypes } from './issues/builtin-types.js';
import { bundleWorkflows, tracedBundlePath } from '../workers/run.js';
import { loadConfig, searchPath } from './config.js';
import { quietBundlerLogger, type Logger } from './logger.js';
import { freePort } from './ports.js';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from './postgres-server.js';
import { ensureTemporalServerBinaries, postgresEndpoint, setUpTemporalSchema, startTemporalCluster, type TemporalCluster } from './temporal-cluster.js';
import { findTemporalCli, startDevServer, stopChild, type DevServer } from './temporal-server.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
/** Project-local tools: the Temporal CLI's venv, the Temporal server's binaries. */
export const toolsDir = path.join(projectRoot, '.tools');

/** A new folder under the system's temp folder for one run's data and logs (`ates-<purpose>-XXXXXX`). */
export function scratchFolder(purpose: string): string {
  const scratch = mkdtempSync(path.join(tmpdir(), `ates-${purpose}-`));
  // The embedded PostgreSQL runs as its own OS user when we are root: it must be able to enter this folder.
  chmodSync(scratch, 0o755);
  return scratch;
}

export interface PostgresServer extends EmbeddedPostgresServer {
  /** Stops the server, waits `pauseMs`, starts it again on the same port and data (meant for a persistent one). */
  restart(pauseMs?: number): Promise<void>;
}

/** An embedded PostgreSQL (lib/postgres-server.ts) on a port free now, which it keeps when restarted. */
export async function startPostgres(options: Omit<Parameters<typeof startEmbeddedPostgres>[0], 'port'>): Promise<PostgresServer> {
  const settings = { ...options, port: await freePort() };
  let server = await startEmbeddedPostgres(settings);
  return {
    url: server.url,
    urlFor: server.urlFor,
    stop: () => server.stop(),
    async restart(pauseMs = 0) {
      await server.stop();
      await sleep(pauseMs);
      server = await startEmbeddedPostgres(settings);
    },
  };
}

/** Applies the migrations and adds the built-in issue types: where every database aTES runs on begins. */
export async function migrateWithBuiltinTypes(databaseUrl: string): Promise<void> {
  await migrateDatabase(databaseUrl);
  const database = openDatabase(databaseUrl, { max: 1 });
  try {
    await ensureBuiltinIssueTypes(database.db);
  } finally {
    await database.close();
  }
}

export interface TemporalDevServer extends DevServer {
  /** The Temporal CLI that runs it. */
  cli: string;
  /** Stops the server, waits `pauseMs`, starts it again on the same ports (and `dbFile`, if it has one). */
  restart(pauseMs?: number): Promise<void>;
}

/**
 * The Temporal dev server (`temporal server start-dev`) on ports free now, namespace `default`. Without a Temporal
 * CLI (lib/temporal-server.ts `findTemporalCli`) it fails, naming `who` wanted it and `otherwise` what else would do.
 */
export async function startTemporalDevServer(options: {
  who: string;
  otherwise?: string;
  /** SQLite file that keeps the workflows across a restart; in memory when omitted. */
  dbFile?: string;
  dynamicConfig?: Record<string, string | number>;
  log: Logger;
}): Promise<TemporalDevServer> {
  const { who, otherwise = '', dbFile, dynamicConfig, log } = options;
  const cli = findTemporalCli({ cliPath: loadConfig().temporal.cliPath, searchPath: searchPath(), toolsDir, log });
  if (!cli) throw new Error(`no Temporal CLI for ${who}: set TEMPORAL_CLI_PATH or install python3 (see README)${otherwise}`);
  const settings = { cli, port: await freePort(), uiPort: await freePort(), namespace: 'default', dbFile, dynamicConfig, log };
  let server = await startDevServer(settings);
  return {
    cli,
    address: server.address,
    uiUrl: server.uiUrl,
    stop: () => server.stop(),
    async restart(pauseMs = 0) {
      await server.stop();
      await sleep(pauseMs);
      server = await startDevServer(settings);
    },
  };
}

/**
 * A Temporal server of four processes (as `npm run cluster`) on ports free now, namespace `default`, keeping its
 * two databases on the PostgreSQL server of `postgresUrl` and each service's log in `logDir`. The server's binaries
 * are built into .tools the first time (lib/temporal-cluster.ts).
 */
export async function startLocalTemporalCluster(options: { postgresUrl: string; logDir: string; log: Logger }): Promise<TemporalCluster> {
  const { postgresUrl, logDir, log } = options;
  const binaries = ensureTemporalServerBinaries(path.join(toolsDir, 'temporal-server', 'bin'), log);
  await setUpTemporalSchema({ sqlTool: binaries.sqlTool, anyDatabaseUrl: postgresUrl, log });
  log.info('starting a Temporal cluster (frontend, history, matching, worker)');
  return startTemporalCluster({ binaries, postgres: postgresEndpoint(postgresUrl), logDir, namespace: 'default', ports: 'free', log });
}

/**
 * Bundles the product's workflows into `bundlePath`, or with `traced` the traced bundle beside it (workers/run.ts
 * `tracedBundlePath`, where workers with tracing on look for it). Answers the file written. The bundler says only
 * its errors.
 */
export async function writeWorkflowBundle(bundlePath: string, options: { traced?: boolean } = {}): Promise<string> {
  const file = options.traced ? tracedBundlePath(bundlePath) : bundlePath;
  writeFileSync(file, (await bundleWorkflows(quietBundlerLogger, options)).code);
  return file;
}

export interface ServiceProcess {
  child: ChildProcess;
  /** The first match of the ready pattern in its stdout; rejects when it exits first or is not ready in time (then it is stopped). */
  ready: Promise<RegExpMatchArray>;
  /** Its exit code and signal, once it has exited. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` (lib/temporal-server.ts `stopChild`). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs an entry script of this project (`api/main.ts`, `workers/main.ts`, a bench worker) as `node --import tsx`
 * in the project's folder, with exactly `env` plus PATH: an aTES process reads its settings from the environment
 * alone, so nothing of this process's leaks in. Answers at once; `ready` says when its stdout matched
 * `readyPattern` (the processes say they are ready at log level info). Its stdout goes to `stdout` when given,
 * else it is drained and dropped; its stderr to `stderr` ('inherit': this process's).
 */
export function spawnService(options: {
  entry: string;
  args?: string[];
  env: Record<string, string>;
  readyPattern: RegExp;
  readyWithinMs?: number;
  stdout?: (chunk: Buffer) => void;
  stderr: 'inherit' | ((stream: Readable) => void);
}): ServiceProcess {
  const { entry, args = [], env, readyPattern, readyWithinMs = 120_000, stdout, stderr } = options;
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: projectRoot,
    env: { PATH: searchPath().join(path.delimiter), ...env },
    stdio: ['ignore', 'pipe', stderr === 'inherit' ? 'inherit' : 'pipe'],
  });
  if (stderr !== 'inherit') stderr(child.stderr!);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let output = '';
  const ready = new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Hung on its way up: stopped, so the caller may start another.
      void stopChild(child, 2000);
      reject(new Error(`${entry} was not ready after ${readyWithinMs} ms:\n${output}`));
    }, readyWithinMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout?.(chunk);
      if (output.length >= 20_000) return;
      output += chunk.toString();
      const match = output.match(readyPattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited before it was ready (${code ?? signal}):\n${output}`));
    });
  });
  // Whoever awaits `ready` sees its failure; one that never does (its stop came first) must not crash the process.
  ready.catch(() => {});
  return { child, ready, exited, stop: (graceMs) => stopChild(child, graceMs) };
}

/**
 * Keeps one service process running (`spawnService`), as a process supervisor would: starts it again
 * whenever it exits, and `crash` SIGKILLs it on purpose. Its output goes to `logFile`, each start marked.
 */
export class SupervisedService {
  private current?: ServiceProcess;
  private currentReady = false;
  private loop?: Promise<void>;
  private stopping = false;
  /** The current process was killed by `crash`: its exit is not unexpected. */
  private crashed = false;
  kills = 0;
  /** Exits nobody asked for (e.g. a worker that gave up while Temporal was down), and starts that failed. */
  unexpectedExits = 0;
  /** Spawn to ready, per start. */
  readonly startMs: number[] = [];
  private readonly log: WriteStream;

  constructor(
    private readonly options: {
      name: string;
      entry: string;
      env: Record<string, string>;
      readyPattern: RegExp;
      /** A process not ready by then (e.g. hung while a server restarts) is stopped and started again. */
      readyWithinMs: number;
      logFile: string;
    },
  ) {
    this.log = createWriteStream(options.logFile);
  }

  /** Starts the process, resolves once it is ready, and from then on starts it again whenever it exits. */
  async keepRunning(): Promise<void> {
    const first = await this.startOnce();
    this.loop = this.supervise(first);
  }

  /** SIGKILLs the process (once one is running); answers the time until the next one is ready. */
  async crash(): Promise<number> {
    await waitUntil(() => this.running() || this.stopping);
    if (this.stopping) return 0;
    const began = Date.now();
    const starts = this.startMs.length;
    this.crashed = true;
    this.current!.child.kill('SIGKILL');
    this.kills++;
    await waitUntil(() => this.startMs.length > starts || this.stopping);
    return Date.now() - began;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.stop();
    await this.loop;
    await this.current?.stop();
    this.log.end();
  }

  private running(): boolean {
    const child = this.current?.child;
    return this.currentReady && child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  private async supervise(first: ServiceProcess): Promise<void> {
    let service: ServiceProcess | undefined = first;
    while (!this.stopping) {
      if (!service) {
        try {
          service = await this.startOnce();
        } catch (error) {
          this.unexpectedExits++;
          this.write(`--- ${this.options.name} did not come up: ${(error as Error).message}\n`);
          await sleep(1000);
          continue;
        }
      }
      await service.exited;
      service = undefined;
      if (!this.stopping && !this.crashed) this.unexpectedExits++;
      this.crashed = false;
    }
  }

  private async startOnce(): Promise<ServiceProcess> {
    const { name, entry, env, readyPattern, readyWithinMs } = this.options;
    const began = Date.now();
    const service = spawnService({
      entry,
      env,
      readyPattern,
      readyWithinMs,
      stdout: (chunk) => this.write(chunk),
      stderr: (stream) => stream.on('data', (chunk: Buffer) => this.write(chunk)),
    });
    this.current = service;
    this.currentReady = false;
    this.write(`--- ${name} ${service.child.pid} starting at ${new Date().toISOString()}\n`);
    await service.ready;
    this.currentReady = true;
    this.startMs.push(Date.now() - began);
    return service;
  }

  /** A process's output may still arrive after its exit, and after the log was closed. */
  private write(chunk: Buffer | string): void {
    if (!this.log.writableEnded) this.log.write(chunk);
  }
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(100);
}
