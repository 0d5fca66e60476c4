// `npm run cluster`: aTES as it runs in production, on one machine and without Docker: PostgreSQL, a Temporal
// server of four separate services on it (lib/temporal-cluster.ts), two worker processes and two API processes.
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { startChildService, type ChildService } from '../bench/processes.js';
import { ConfigError, inheritedEnvironment, loadConfig, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { ensureDatabase, jwtSecret, prepareDatabase, shutdownOnSignals, type Resource } from '../lib/runtime.js';
import { toolsDir, writeWorkflowBundle } from '../lib/stack.js';
import {
  ensureTemporalServerBinaries,
  postgresEndpoint,
  setUpTemporalSchema,
  startTemporalCluster,
  temporalServerVersion,
  temporalServices,
  type TemporalCluster,
} from '../lib/temporal-cluster.js';

const startedAt = Date.now();
let base: Config;
try {
  base = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
// Its own data beside `npm start`'s: the cluster keeps its PostgreSQL, secrets and logs under DATA_DIR/cluster.
const config: Config = { ...base, dataDir: path.join(base.dataDir, 'cluster') };
const log = createLogger(config.logLevel, 'cluster', config.logFormat);
const apiCount = 2;
const workerCount = 2;

const started: Resource<unknown>[] = [];
const processes: ChildService[] = [];
let temporal: TemporalCluster | undefined;
const shutdown = shutdownOnSignals(log, 'APIs, then workers drain, then Temporal and PostgreSQL stop', async () => {
  for (const service of processes.splice(0).reverse()) await service.stop();
  await temporal?.stop();
  for (const resource of started.reverse()) await resource.stop();
});

try {
  const binaries = ensureTemporalServerBinaries(path.join(toolsDir, 'temporal-server', 'bin'), log);
  const database = await ensureDatabase(config, log);
  started.push(database);
  const databaseUrl = database.value;
  log.info(`setting up Temporal's databases (temporal, temporal_visibility) with its SQL tool`);
  await setUpTemporalSchema({ sqlTool: binaries.sqlTool, anyDatabaseUrl: databaseUrl, log });

  log.info(`starting Temporal ${temporalServerVersion}: ${temporalServices.join(', ')} (logs in ${path.join(config.dataDir, 'temporal')})`);
  const [cluster, prepared, bundlePath] = await Promise.all([
    startTemporalCluster({
      binaries,
      postgres: postgresEndpoint(databaseUrl),
      logDir: path.join(config.dataDir, 'temporal'),
      namespace: config.temporal.namespace,
      ports: 'documented',
      frontendPort: config.temporal.port,
      log,
    }),
    prepareDatabase(config, databaseUrl),
    workflowBundle(config),
  ]);
  temporal = cluster;

  // Every process reads what `npm run cluster` was given (SMTP_URL, BILLING_TIMEZONE, ...); these are decided here.
  const env = {
    ...inheritedEnvironment(),
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    // Shared by the API processes: a token one signs, the other accepts.
    JWT_SECRET: jwtSecret(config),
    DATA_DIR: config.dataDir,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    // The processes say they are ready at info.
    LOG_LEVEL: config.logLevel === 'debug' ? 'debug' : 'info',
  };
  const apiPorts = Array.from({ length: apiCount }, (_, index) => config.http.port + index);
  const starts = await Promise.allSettled([
    ...Array.from({ length: workerCount }, () => startChildService({ script: 'workers/main.ts', env, readyPattern: /workers of .* running/ })),
    ...apiPorts.map((port) => startChildService({ script: 'api/main.ts', env: { ...env, PORT: String(port) }, readyPattern: /API on (http:\/\/[^\s"]+)/ })),
  ]);
  // Every process that did start is stopped on the way out, also when another failed.
  for (const start of starts) if (start.status === 'fulfilled') processes.push(start.value);
  const failed = starts.find((start) => start.status === 'rejected');
  if (failed) throw failed.reason;
  const apis = processes.slice(workerCount);
  const apiUrls = apis.map((api) => api.ready[1]!);
  await Promise.all(apiUrls.map((url) => waitUntilHealthy(url)));

  console.log(
    [
      '',
      `aTES cluster is running (healthy after ${((Date.now() - startedAt) / 1000).toFixed(1)} s)`,
      ...apiUrls.map((url, index) => `  API ${index + 1}           ${url}   (pid ${apis[index]!.child.pid})`),
      `  Workers         ${processes.slice(0, workerCount).map((worker) => `pid ${worker.child.pid}`).join(', ')}  (every task queue)`,
      `  Temporal        ${cluster.address}  namespace ${config.temporal.namespace}`,
      ...temporalServices.map((service) => `    ${service.padEnd(13)} pid ${cluster.pid(service)}`),
      `  PostgreSQL      ${redacted(databaseUrl)}  (+ temporal, temporal_visibility)`,
      `  Admin           ${prepared.adminEmail}${prepared.createdAdmin && !config.admin.password ? ` / ${prepared.adminPassword}  (created now)` : ''}`,
      `                  password kept in ${prepared.passwordSource}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  // A process that dies on its own is a failure of the whole stack, as with `npm start`.
  for (const service of processes) {
    service.child.once('exit', (code, signal) => {
      if (!shutdown.stopping) void shutdown(`process ${service.child.pid} exited (${code ?? signal})`, 1);
    });
  }
} catch (error) {
  log.error('start-up failed', error);
  await shutdown('start-up failure', 1);
}

/** The prebuilt bundle when configured, else one built now into the data directory: each worker loads it instead of bundling on its own. */
async function workflowBundle(config: Config): Promise<string> {
  if (config.workers.bundlePath) return config.workers.bundlePath;
  mkdirSync(config.dataDir, { recursive: true });
  return writeWorkflowBundle(path.join(config.dataDir, 'workflow-bundle.js'));
}

async function waitUntilHealthy(apiUrl: string, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(5000) });
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${apiUrl}/health did not answer 200 within ${withinMs / 1000} s: ${last}`);
}

function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
