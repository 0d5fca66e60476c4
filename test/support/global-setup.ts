// One real PostgreSQL server and one real Temporal dev server for the whole run.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrateDatabase, openDatabase } from '../../db/client.js';
import { ensureBuiltinIssueTypes } from '../../lib/issues/builtin-types.js';
import { loadConfig, searchPath } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { startEmbeddedPostgres } from '../../lib/postgres-server.js';
import { findTemporalCli, startDevServer } from '../../lib/temporal-server.js';
import { bundleWorkflows, tracedBundlePath } from '../../workers/run.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    templateDatabase: string;
    temporalAddress: string;
    temporalCli: string;
    workflowBundlePath: string;
    /** The traced bundle (OpenTelemetry's workflow interceptors), for harnesses started with `tracing`. */
    tracedWorkflowBundlePath: string;
  }
}

/** History length at which the test server suggests continue-as-new (a task lifecycle is about 70 events). */
export const continueAsNewAfterEvents = 400;

export default async function setup(project: TestProject) {
  const log = createLogger('warn', 'test');
  const scratch = mkdtempSync(path.join(tmpdir(), 'ates-test-'));
  // The embedded server runs as its own OS user when we are root: it must be able to enter this folder.
  chmodSync(scratch, 0o755);
  const templateDatabase = 'ates_template';

  const cli = findTemporalCli({ cliPath: loadConfig().temporal.cliPath, searchPath: searchPath(), toolsDir: path.resolve('.tools'), log });
  if (!cli) throw new Error('tests need the Temporal CLI: set TEMPORAL_CLI_PATH or install python3 (see README)');

  // Both bundles are built while the servers start (webpack works in this process, the servers in their own).
  const bundling = Promise.all([bundleWorkflows(quietLogger), bundleWorkflows(quietLogger, { traced: true })]);
  bundling.catch(() => {}); // awaited below; a failure of the servers first must not leave it unhandled
  const stops: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(scratch, { recursive: true, force: true });
  };
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(scratch, 'pg'),
    port: await freePort(),
    database: templateDatabase,
    persistent: false,
    log,
  });
  stops.push(postgres.stop);
  let temporal;
  try {
    const [port, uiPort] = [await freePort(), await freePort()];
    [temporal] = await Promise.all([
      // A low threshold makes long-lived test issues continue-as-new, so that path is exercised.
      startDevServer({ cli, port, uiPort, namespace: 'default', log, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': continueAsNewAfterEvents } }),
      migrateDatabase(postgres.url).then(async () => {
        const template = openDatabase(postgres.url, { max: 1 });
        await ensureBuiltinIssueTypes(template.db);
        await template.close();
      }),
    ]);
    stops.push(temporal.stop);
  } catch (error) {
    await teardown();
    throw error;
  }
  const [bundle, tracedBundle] = await bundling.catch(async (error: unknown) => {
    await teardown();
    throw error;
  });
  const workflowBundlePath = path.join(scratch, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  writeFileSync(tracedBundlePath(workflowBundlePath), tracedBundle.code);

  project.provide('postgresUrl', postgres.urlFor('postgres'));
  project.provide('templateDatabase', templateDatabase);
  project.provide('temporalAddress', temporal.address);
  project.provide('temporalCli', cli);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('tracedWorkflowBundlePath', tracedBundlePath(workflowBundlePath));

  return teardown;
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
