// Runs the workers as a real child process (`workers/main.ts`), so a test can SIGKILL and restart them.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { searchPath } from '../../lib/config.js';
import { inject } from 'vitest';
import type { Harness } from './harness.js';

export interface WorkerProcess {
  child: ChildProcess;
  /** SIGKILL: no draining, no goodbye — what a crash looks like. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** `env` adds to (or overrides) the harness's environment, e.g. a setting only the worker process should have. */
export async function spawnWorkerProcess(h: Harness, contexts?: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    env: {
      ...h.env,
      PATH: searchPath().join(path.delimiter),
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      LOG_LEVEL: 'info',
      ...(contexts ? { WORKER_CONTEXTS: contexts.join(',') } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  // workers/main.ts says "workers of … running" once every worker has started.
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/workers of .* running/.test(output)) resolve();
    });
    void exited.then(() => reject(new Error(`worker process exited early:\n${output}`)));
  });
  return {
    child,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
