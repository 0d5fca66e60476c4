// A production-shaped Temporal server without Docker: the server's own binaries (built from source with Go), its
// schema in PostgreSQL set up by its SQL tool, and its four services (frontend, history, matching, worker) as
// separate processes from one committed config file, config/temporal/server.yaml.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import postgres from 'postgres';
import { customSearchAttributes } from '../workflows/search-attributes.js';
import type { Logger } from './logger.js';
import { createNamespace, stopChild } from './temporal-server.js';

/** The server release `npm run cluster` builds and docker-compose.temporal.yml runs. */
export const temporalServerVersion = '1.32.2';
/** The Go release the server is built with (fetched by the `go` command when the installed one is older). */
const goToolchain = 'go1.26.10';

export const temporalServices = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof temporalServices)[number];

const projectRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const clusterConfigFile = path.join(projectRoot, 'config', 'temporal', 'server.yaml');
export const clusterDynamicConfigFile = path.join(projectRoot, 'config', 'temporal', 'dynamicconfig.yaml');

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
}

/** The server and its SQL tool under `binDir`; built with `go install` when either is missing. */
export function ensureTemporalServerBinaries(binDir: string, log: Logger): TemporalServerBinaries {
  // `go install` names each binary after its package folder: cmd/server and cmd/tools/sql.
  const binaries = { server: path.join(binDir, 'server'), sqlTool: path.join(binDir, 'sql') };
  if (existsSync(binaries.server) && existsSync(binaries.sqlTool)) return binaries;
  if (spawnSync('go', ['version']).status !== 0) {
    throw new Error(
      `no Temporal server binaries in ${binDir}, and no \`go\` command to build them: install Go (any release; ${goToolchain} is fetched by it), ` +
        `or build them elsewhere with GOBIN=${binDir} go install go.temporal.io/server/cmd/server@v${temporalServerVersion} go.temporal.io/server/cmd/tools/sql@v${temporalServerVersion}`,
    );
  }
  log.info(`building Temporal server ${temporalServerVersion} and its SQL tool into ${binDir} (go install, several minutes the first time)`);
  mkdirSync(binDir, { recursive: true });
  const packages = ['cmd/server', 'cmd/tools/sql'].map((pkg) => `go.temporal.io/server/${pkg}@v${temporalServerVersion}`);
  // `env` adds the two variables to the inherited environment, which go needs whole (HOME, PATH, proxies).
  const built = spawnSync('env', [`GOTOOLCHAIN=${goToolchain}`, `GOBIN=${binDir}`, 'go', 'install', ...packages], { stdio: 'inherit' });
  if (built.status !== 0 || !existsSync(binaries.server) || !existsSync(binaries.sqlTool)) {
    throw new Error(`go install of Temporal server ${temporalServerVersion} failed (exit ${built.status ?? built.signal})`);
  }
  return binaries;
}

/** A PostgreSQL server Temporal keeps its two databases on. */
export interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function postgresEndpoint(url: string): PostgresEndpoint {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** Temporal's databases and the schema folder of each in the server's embedded schemas. */
const temporalDatabases = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;

/**
 * Creates Temporal's two databases when missing and brings their schema to the binary's version, as
 * docker-compose.temporal.yml's `temporal-schema` does: `setup-schema -v 0.0` keeps an existing version and
 * `update-schema` applies only newer migrations, so this is safe on every start. `anyDatabaseUrl`: any database on
 * that server the user may connect to, to look the two up in.
 */
export async function setUpTemporalSchema(options: { sqlTool: string; anyDatabaseUrl: string; log: Logger }): Promise<void> {
  const { sqlTool, anyDatabaseUrl, log } = options;
  const endpoint = postgresEndpoint(anyDatabaseUrl);
  const sql = postgres(anyDatabaseUrl, { max: 1, onnotice: () => {} });
  let existing: Set<string>;
  try {
    const rows = await sql<{ datname: string }[]>`select datname from pg_database`;
    existing = new Set(rows.map((row) => row.datname));
  } finally {
    await sql.end();
  }
  const connection = ['--plugin', 'postgres12', '--ep', endpoint.host, '-p', String(endpoint.port), '-u', endpoint.user];
  // The password goes through the environment, not the command line other users can read.
  const runTool = async (database: string, args: string[]) => {
    const child = spawn(sqlTool, [...connection, '--db', database, ...args], { env: { SQL_PASSWORD: endpoint.password }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`temporal sql tool ${args[0]} on ${database} failed (exit ${code}):\n${output}`);
  };
  for (const { name, schema } of temporalDatabases) {
    if (!existing.has(name)) {
      log.info(`creating database ${name}`);
      await runTool(name, ['create-database']);
    }
    await runTool(name, ['setup-schema', '-v', '0.0']);
    await runTool(name, ['update-schema', '--schema-name', schema]);
  }
}

interface ServicePorts {
  grpc: number;
  membership: number;
}

/** The ports config/temporal/server.yaml uses when it is given none. */
const documentedPorts: Record<TemporalService, ServicePorts> = {
  frontend: { grpc: 7233, membership: 6933 },
  history: { grpc: 7234, membership: 6934 },
  matching: { grpc: 7235, membership: 6935 },
  worker: { grpc: 7239, membership: 6939 },
};
const documentedFrontendHttpPort = 7243;

/**
 * A shard is the unit history work is owned and spread by: a history process owns some of them, so more history
 * processes than shards idle. Each one also polls its own timer and transfer queues, so on one small machine few
 * keep the idle load low. The count is fixed when the database is first set up: a production cluster picks its
 * count (512 for several history hosts) before its first start, and keeps it.
 */
const historyShards = 4;

export interface TemporalClusterOptions {
  binaries: TemporalServerBinaries;
  postgres: PostgresEndpoint;
  /** Where each service writes its log (`<service>.log`). */
  logDir: string;
  /** Registered with the project's search attributes once the cluster is up. */
  namespace: string;
  /** `documented`: the config file's defaults (frontend 7233 unless `frontendPort`); `free`: ports free now, for runs beside others. */
  ports: 'documented' | 'free';
  frontendPort?: number;
  log: Logger;
}

export interface TemporalCluster {
  /** gRPC address of the frontend, for clients and workers. */
  address: string;
  pid(service: TemporalService): number | undefined;
  /** SIGKILLs one service and waits until it is gone. */
  kill(service: TemporalService): Promise<void>;
  /** Starts a service that was killed (or stops it first) and waits until it listens on its gRPC port again. */
  restart(service: TemporalService): Promise<void>;
  stop(): Promise<void>;
}

const readyWithinMs = 120_000;

export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const { binaries, logDir, namespace, log } = options;
  mkdirSync(logDir, { recursive: true });
  const ports = { ...documentedPorts, frontend: { ...documentedPorts.frontend, grpc: options.frontendPort ?? documentedPorts.frontend.grpc } };
  let frontendHttpPort = documentedFrontendHttpPort;
  if (options.ports === 'free') {
    const taken = new Set<number>();
    for (const service of temporalServices) ports[service] = { grpc: await freeServerPort(taken), membership: await freeServerPort(taken) };
    frontendHttpPort = await freeServerPort(taken);
  }
  const address = `127.0.0.1:${ports.frontend.grpc}`;
  // The variables config/temporal/server.yaml reads, the same the temporalio/server image's docker.yaml reads;
  // nothing else of this process's environment reaches the server.
  const env: Record<string, string> = {
    NUM_HISTORY_SHARDS: String(historyShards),
    POSTGRES_SEEDS: options.postgres.host,
    DB_PORT: String(options.postgres.port),
    POSTGRES_USER: options.postgres.user,
    POSTGRES_PWD: options.postgres.password,
    DYNAMIC_CONFIG_FILE_PATH: clusterDynamicConfigFile,
    FRONTEND_HTTP_PORT: String(frontendHttpPort),
    ...Object.fromEntries(
      temporalServices.flatMap((service) => [
        [`${service.toUpperCase()}_GRPC_PORT`, String(ports[service].grpc)],
        [`${service.toUpperCase()}_MEMBERSHIP_PORT`, String(ports[service].membership)],
      ]),
    ),
  };

  const children = new Map<TemporalService, ChildProcess>();
  const spawnService = (service: TemporalService) => {
    const logFile = openSync(path.join(logDir, `${service}.log`), 'a');
    const child = spawn(binaries.server, ['--config-file', clusterConfigFile, '--allow-no-auth', 'start', '--service', service], {
      cwd: projectRoot,
      env,
      stdio: ['ignore', logFile, logFile],
    });
    closeSync(logFile);
    children.set(service, child);
    return child;
  };
  const startService = async (service: TemporalService) => {
    const child = spawnService(service);
    await waitForPort(ports[service].grpc, child, service, path.join(logDir, `${service}.log`));
  };
  const killAll = () => {
    for (const child of children.values()) child.kill('SIGKILL');
  };
  // Our process ending for any reason must not leave the services running.
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    // The frontend first, so no new call arrives while history hands its shards back.
    for (const service of ['frontend', 'worker', 'matching', 'history'] as const) {
      const child = children.get(service);
      if (child) await stopChild(child, 15_000);
    }
  };

  try {
    // History first: matching and the frontend find it through membership; the worker service calls the frontend.
    for (const service of temporalServices) await startService(service);
    await ensureNamespace(address, namespace);
  } catch (error) {
    await stop();
    throw error;
  }
  log.debug(`Temporal cluster ready on ${address}`);

  return {
    address,
    pid: (service) => children.get(service)?.pid,
    async kill(service) {
      const child = children.get(service);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
    async restart(service) {
      const child = children.get(service);
      if (child) await stopChild(child, 15_000);
      await startService(service);
    },
    stop,
  };
}

/**
 * A loopback port free now, below 32768: the server keeps each member's membership port in a PostgreSQL `smallint`
 * (cluster_membership), so a port from the kernel's ephemeral range (32768 and up) stops the service at start.
 */
async function freeServerPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}

/** Until the service accepts TCP connections on its gRPC port; fails at once when it exits. */
async function waitForPort(port: number, child: ChildProcess, service: string, logFile: string): Promise<void> {
  const deadline = Date.now() + readyWithinMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Temporal ${service} exited while starting (${child.exitCode ?? child.signalCode}): see ${logFile}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Temporal ${service} did not listen on port ${port} within ${readyWithinMs / 1000} s: see ${logFile}`);
}

/**
 * The namespace with the project's search attributes, created when missing (a second start finds them). Retried
 * while the services find each other: the frontend answers before history owns its shards.
 */
async function ensureNamespace(address: string, namespace: string): Promise<void> {
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        const described = await connection.workflowService.describeNamespace({ namespace }).catch((error: { code?: number }) => {
          // NOT_FOUND: a first start.
          if (error.code === 5) return undefined;
          throw error;
        });
        if (!described) return await createNamespace(connection, namespace);
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
        const missing = customSearchAttributes.filter(({ name }) => !customAttributes || !(name in customAttributes));
        if (missing.length > 0) {
          await connection.operatorService.addSearchAttributes({
            namespace,
            searchAttributes: Object.fromEntries(missing.map(({ name, type }) => [name, encodeSearchAttributeIndexedValueType(type)!])),
          });
        }
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`Temporal cluster on ${address} did not serve namespace ${namespace}: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
