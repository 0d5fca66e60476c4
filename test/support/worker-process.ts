// Runs the workers as a real child process (`workers/main.ts`), so a test can SIGKILL and restart them.
import type { ChildProcess } from 'node:child_process';
import { inject } from 'vitest';
import { spawnService } from '../../lib/stack.js';
import type { Harness } from './harness.js';

export interface WorkerProcess {
  child: ChildProcess;
  /** SIGKILL: no draining, no goodbye — what a crash looks like. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** `env` adds to (or overrides) the harness's environment, e.g. a setting only the worker process should have. */
export async function spawnWorkerProcess(h: Harness, contexts?: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const worker = spawnService({
    entry: 'workers/main.ts',
    env: {
      ...h.env,
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      LOG_LEVEL: 'info',
      ...(contexts ? { WORKER_CONTEXTS: contexts.join(',') } : {}),
      ...env,
    },
    // workers/main.ts says "workers of … running" once every worker has started.
    readyPattern: /workers of .* running/,
    stderr: 'inherit',
  });
  await worker.ready;
  return {
    child: worker.child,
    async kill() {
      worker.child.kill('SIGKILL');
      await worker.exited;
    },
    stop: () => worker.stop(),
  };
}
