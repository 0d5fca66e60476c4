// Drives the bare workflow (bench/baseline-workflow.ts) over the Temporal client, its worker in a child process.
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import type { bareTaskWorkflow } from './baseline-workflow.js';
import { bareSettledUpdate, bareStepUpdate, bareTaskQueue } from './baseline-workflow.js';
import type { BenchEnv } from './env.js';
import { within } from './measure.js';
import { startChildService, type ChildService } from './processes.js';

export interface Baseline {
  worker: ChildService;
  /** The client the calls go through (e.g. to read a bare task's history). */
  client: Client;
  workflowId(id: string): string;
  /** Update-with-start: starts a bare task and answers once it has settled (the counterpart of POST /tasks). */
  create(id: string, options?: { open?: boolean }): Promise<void>;
  /** One update: `complete` (POST /tasks/:id/complete) or `reassign` (what a shuffle sends each task). */
  step(id: string, step: 'complete' | 'reassign'): Promise<void>;
  stop(): Promise<void>;
}

const callTimeoutMs = 120_000;

export async function startBaseline(env: BenchEnv, namespace: string): Promise<Baseline> {
  const worker = await startChildService({
    script: 'bench/baseline-worker.ts',
    args: ['--address', env.temporalAddress, '--namespace', namespace],
    env: {},
    readyPattern: /baseline worker running/,
  });
  const connection = await Connection.connect({ address: env.temporalAddress });
  const client = new Client({ connection, namespace });
  const workflowId = (id: string) => `bare-${id}`;
  return {
    worker,
    client,
    workflowId,
    async create(id, options = {}) {
      const call = client.workflow.executeUpdateWithStart(bareSettledUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof bareTaskWorkflow>('bareTaskWorkflow', {
          workflowId: workflowId(id),
          taskQueue: bareTaskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [options],
        }),
      });
      await within(`update-with-start of bare task ${id}`, callTimeoutMs, call);
    },
    async step(id, step) {
      await within(`${step} update of bare task ${id}`, callTimeoutMs, client.workflow.getHandle(workflowId(id)).executeUpdate(bareStepUpdate, { args: [step] }));
    },
    async stop() {
      await connection.close();
      await worker.stop();
    },
  };
}
