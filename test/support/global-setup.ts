// One real PostgreSQL server and one real Temporal dev server for the whole run.
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createLogger } from '../../lib/logger.js';
import { migrateWithBuiltinTypes, scratchFolder, startPostgres, startTemporalDevServer, writeWorkflowBundle, type TemporalDevServer } from '../../lib/stack.js';

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
  const scratch = scratchFolder('test');
  const templateDatabase = 'ates_template';
  const workflowBundlePath = path.join(scratch, 'workflow-bundle.js');

  // Both bundles are built while the servers start (webpack works in this process, the servers in their own).
  const bundling = Promise.all([writeWorkflowBundle(workflowBundlePath), writeWorkflowBundle(workflowBundlePath, { traced: true })]);
  bundling.catch(() => {}); // awaited below; a failure of the servers first must not leave it unhandled
  const stops: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(scratch, { recursive: true, force: true });
  };
  const postgres = await startPostgres({ dataDir: path.join(scratch, 'pg'), database: templateDatabase, persistent: false, log });
  stops.push(postgres.stop);
  let temporal: TemporalDevServer;
  let tracedWorkflowBundlePath: string;
  try {
    [temporal] = await Promise.all([
      // A low threshold makes long-lived test issues continue-as-new, so that path is exercised.
      startTemporalDevServer({ who: 'the tests', log, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': continueAsNewAfterEvents } }),
      migrateWithBuiltinTypes(postgres.url),
    ]);
    stops.push(temporal.stop);
    [, tracedWorkflowBundlePath] = await bundling;
  } catch (error) {
    await teardown();
    throw error;
  }

  project.provide('postgresUrl', postgres.urlFor('postgres'));
  project.provide('templateDatabase', templateDatabase);
  project.provide('temporalAddress', temporal.address);
  project.provide('temporalCli', temporal.cli);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('tracedWorkflowBundlePath', tracedWorkflowBundlePath);

  return teardown;
}
