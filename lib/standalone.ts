// A process of one role (API or workers) against an already running Temporal and PostgreSQL.
import { loadWorkflowBundle } from '../workers/run.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { jwtSecret } from './runtime.js';
import { startProcess } from './process.js';
import { startTracing } from './tracing.js';

export async function runStandalone(role: { api: boolean; workers: boolean }) {
  try {
    const config = loadConfig();
    const { url: databaseUrl } = config.database;
    const { address: temporalAddress } = config.temporal;
    if (!databaseUrl || !temporalAddress) {
      throw new ConfigError('DATABASE_URL and TEMPORAL_ADDRESS must point at running servers (or use `npm start`).');
    }
    const log = createLogger(config.logLevel, role.api ? 'api' : `worker:${config.workers.contexts.join(',')}`, config.logFormat);
    const tracing = await startTracing(config, role.api ? 'ates-api' : 'ates-worker');
    const services = await startProcess({
      config,
      databaseUrl,
      temporalAddress,
      jwtSecret: jwtSecret(config),
      log,
      api: role.api,
      workerContexts: role.workers ? config.workers.contexts : [],
      bundle: role.workers ? await loadWorkflowBundle(config.workers.bundlePath, { traced: Boolean(tracing) }) : undefined,
      tracing,
    });
    if (role.workers && config.workers.metricsAddress) log.info(`worker metrics on http://${config.workers.metricsAddress}/metrics`);
    if (tracing) log.info(`traces exported to ${config.tracing.otlpEndpoint}`);
    log.info(role.api ? `API on ${services.apiUrl}` : `workers of ${config.workers.contexts.join(', ')} running`);
    // The spans of the last requests and activities are flushed once the workers have drained.
    const stop = () =>
      void services
        .stop()
        .then(() => tracing?.shutdown())
        .then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await services.workers?.done;
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  }
}
