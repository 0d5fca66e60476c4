// Drives the minimal workflow (bench/minimal-workflow.ts) over the Temporal client from the bench process (no
// HTTP hop), its worker in a child process writing to the bench's own tables in the case's database.
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import postgres from 'postgres';
import type { BenchEnv } from './env.js';
import { within } from './measure.js';
import { minimalSchema } from './minimal-activities.js';
import type { minimalTaskWorkflow, MinimalTask } from './minimal-workflow.js';
import { minimalCompleteUpdate, minimalCreatedUpdate, minimalTaskQuery, minimalTaskQueue } from './minimal-workflow.js';
import { startChildService, type ChildService } from './processes.js';

export interface Minimal {
  worker: ChildService;
  client: Client;
  /** Direct access to the case's database (the minimal tables are in it). */
  sql: postgres.Sql;
  workflowId(id: string): string;
  /** Update-with-start: answers once the task is assigned and charged (the counterpart of POST /tasks). */
  create(id: string, title: string): Promise<MinimalTask>;
  /** One update: the reward and the task done (the counterpart of POST /tasks/:id/complete). */
  complete(id: string): Promise<MinimalTask>;
  /** The live task from its workflow (the counterpart of GET /issues/:id for an open task). */
  query(id: string): Promise<MinimalTask | undefined>;
  stop(): Promise<void>;
}

const callTimeoutMs = 120_000;

export async function startMinimal(env: BenchEnv, namespace: string, databaseUrl: string): Promise<Minimal> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  await sql.unsafe(minimalSchema);
  const worker = await startChildService({
    script: 'bench/minimal-worker.ts',
    args: ['--address', env.temporalAddress, '--namespace', namespace, '--database-url', databaseUrl],
    env: {},
    readyPattern: /minimal worker running/,
  }).catch(async (error) => {
    await sql.end({ timeout: 5 });
    throw error;
  });
  const connection = await Connection.connect({ address: env.temporalAddress });
  const client = new Client({ connection, namespace });
  const workflowId = (id: string) => `minimal-${id}`;
  return {
    worker,
    client,
    sql,
    workflowId,
    async create(id, title) {
      const call = client.workflow.executeUpdateWithStart(minimalCreatedUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof minimalTaskWorkflow>('minimalTaskWorkflow', {
          workflowId: workflowId(id),
          taskQueue: minimalTaskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [{ id, title }],
        }),
      });
      return within(`update-with-start of minimal task ${id}`, callTimeoutMs, call);
    },
    async complete(id) {
      return within(`complete update of minimal task ${id}`, callTimeoutMs, client.workflow.getHandle(workflowId(id)).executeUpdate(minimalCompleteUpdate));
    },
    async query(id) {
      return within(`query of minimal task ${id}`, callTimeoutMs, client.workflow.getHandle(workflowId(id)).query(minimalTaskQuery));
    },
    async stop() {
      await connection.close();
      await worker.stop();
      await sql.end({ timeout: 5 });
    },
  };
}
