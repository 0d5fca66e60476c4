// Wires one aTES process: database pool, Temporal client, the workers of some contexts, the HTTP API.
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundle } from '@temporalio/worker';
import type { AddressInfo } from 'node:net';
import type { ApiDeps } from '../api/deps.js';
import { createApp } from '../api/app.js';
import { openDatabase } from '../db/client.js';
import { ensureBillingSchedule } from '../workers/billing-schedule.js';
import { startWorkers, type RunningWorkers } from '../workers/run.js';
import type { Config, ContextName } from './config.js';
import type { Logger } from './logger.js';
import type { Tracing } from './tracing.js';

export interface AtesProcess {
  deps: ApiDeps;
  /** Base URL of the API when it was started. */
  apiUrl?: string;
  workers?: RunningWorkers;
  stop(): Promise<void>;
}

export async function startProcess(options: {
  config: Config;
  databaseUrl: string;
  temporalAddress: string;
  jwtSecret: string;
  log: Logger;
  api: boolean;
  workerContexts: readonly ContextName[];
  bundle?: WorkflowBundle;
  /** With the billing workers: create (or update) the daily Schedule that opens billing days. Default true. */
  billingSchedule?: boolean;
  /** The process's tracing (lib/tracing.ts `startTracing`), when it is on; workers then need the traced bundle. */
  tracing?: Tracing;
}): Promise<AtesProcess> {
  const { config, databaseUrl, temporalAddress, jwtSecret, log, tracing } = options;
  const database = openDatabase(databaseUrl, { max: 20, tracer: tracing?.tracer });
  const connection = await Connection.connect({ address: temporalAddress });
  // Starts, updates and signals (from the API and from activities) carry the caller's trace into the workflow.
  const temporal = new Client({
    connection,
    namespace: config.temporal.namespace,
    ...(tracing ? { interceptors: { workflow: tracing.clientInterceptors } } : {}),
  });
  const deps: ApiDeps = { config, database, temporal, jwtSecret, log, tracing };

  const workers =
    options.workerContexts.length > 0 && options.bundle
      ? await startWorkers({ deps, address: temporalAddress, contexts: options.workerContexts, bundle: options.bundle, tracing })
      : undefined;
  if (workers && options.workerContexts.includes('billing') && (options.billingSchedule ?? true)) await ensureBillingSchedule(temporal, config);

  let server: ServerType | undefined;
  let apiUrl: string | undefined;
  if (options.api) {
    const app = createApp(deps);
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: config.http.host, port: config.http.port }, () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    apiUrl = `http://${config.http.host}:${port}`;
  }

  return {
    deps,
    apiUrl,
    workers,
    async stop() {
      if (server) {
        // SSE streams never end on their own: drop open connections so close() can finish.
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          if ('closeAllConnections' in s) s.closeAllConnections();
        });
      }
      await workers?.shutdown();
      await connection.close();
      await database.close();
    },
  };
}
