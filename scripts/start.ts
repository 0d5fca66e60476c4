// `npm start`: everything in one process tree, on embedded defaults unless configured otherwise.
import { ConfigError, contexts, loadConfig, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { ensureDatabase, ensureTemporal, jwtSecret, prepareDatabase, shutdownOnSignals, type Resource } from '../lib/runtime.js';
import { startProcess, type AtesProcess } from '../lib/process.js';
import { startTracing } from '../lib/tracing.js';
import { loadWorkflowBundle } from '../workers/run.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
const log = createLogger(config.logLevel, 'ates', config.logFormat);
// API and workers in one process: one service, `ates` (the scale-out processes are `ates-api` and `ates-worker`).
const tracing = await startTracing(config, 'ates');
const started: Resource<unknown>[] = [];
let services: AtesProcess | undefined;
const shutdown = shutdownOnSignals(log, 'workers drain, then Temporal and PostgreSQL stop', async () => {
  await services?.stop();
  await tracing?.shutdown();
  for (const resource of started.reverse()) await resource.stop();
});

try {
  const database = await ensureDatabase(config, log);
  started.push(database);
  const { adminEmail, adminPassword, createdAdmin, passwordSource } = await prepareDatabase(config, database.value);

  const temporal = await ensureTemporal(config, log);
  started.push(temporal);

  services = await startProcess({
    config,
    databaseUrl: database.value,
    temporalAddress: temporal.value.address,
    jwtSecret: jwtSecret(config),
    log,
    api: true,
    workerContexts: contexts,
    bundle: await loadWorkflowBundle(config.workers.bundlePath, { traced: Boolean(tracing) }),
    tracing,
  });
  services.workers?.done.catch((error) => {
    log.error('a worker stopped unexpectedly', error);
    void shutdown('worker failure', 1);
  });

  console.log(
    [
      '',
      'aTES is running',
      `  API          ${services.apiUrl}`,
      `  API docs     ${services.apiUrl}/docs`,
      `  Temporal UI  ${temporal.value.uiUrl ?? '(external Temporal: see your cluster)'}`,
      ...(tracing ? [`  Traces       exported to ${config.tracing.otlpEndpoint}`] : []),
      // The password is shown once, when the admin is created: later starts say where it is kept, not what it is.
      `  Admin        ${adminEmail}${createdAdmin && !config.admin.password ? ` / ${adminPassword}  (created now)` : ''}`,
      `               password kept in ${passwordSource}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
} catch (error) {
  log.error('start-up failed', error);
  await shutdown('start-up failure', 1);
}
