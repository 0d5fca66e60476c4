// Creates one Temporal worker per context, all in this process, sharing one connection and one bundle.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { ActivityDeps } from '../activities/deps.js';
import type { ContextName } from '../lib/config.js';
import { quietBundlerLogger, type Logger } from '../lib/logger.js';
import type { Tracing } from '../lib/tracing.js';
import { taskQueues } from '../workflows/task-queues.js';

export const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');
export const defaultBundlePath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'workflow-bundle.js');
/** The workflow interceptors of the traced bundle: OpenTelemetry's, isolated from the workflow's random sequence. */
export const tracingInterceptorsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'tracing-interceptors.ts');
/** Where the traced bundle is kept beside the plain one: `dist/workflow-bundle.traced.js`. */
export const tracedBundlePath = (bundlePath: string): string => bundlePath.replace(/(\.js)?$/, '.traced.js');

/**
 * How long a workflow task waits on the queue of the worker that ran the workflow last (which keeps it cached) before
 * the server offers it to every worker, which replays it. When that worker is gone (killed, redeployed), its issues
 * stand still this long: 2 s, rather than Temporal's 10 s, brings an issue back within 3 s of a worker being there,
 * while a live worker still gets its own tasks first unless it is 2 s behind.
 */
const stickyQueueScheduleToStartTimeout = '2s';

/** Contexts whose task queue also runs workflows (the rest run activities only): notifications runs the webhook deliveries. */
const workflowContexts: ReadonlySet<ContextName> = new Set(['issues', 'billing', 'notifications']);

/**
 * The workflow bundle every worker, test, bench and replay runs. Temporal's reusable V8 context instantiates the
 * bundle's modules once per cached workflow, except those loaded before any workflow exists: preloading the
 * workflows (and so xstate and the statechart code they import) shares one instance among all of them, about a
 * third of each cached issue's memory. That is safe because workflow modules hold no state of their own:
 * eslint.config.js allows no module-level `let` or `var` in workflows/, and what they keep at module level is
 * constant (policies, message definitions, activity proxies that find the running workflow when called).
 *
 * `traced`: the bundle of workers with tracing on, which adds OpenTelemetry's workflow interceptors
 * (workflows/tracing-interceptors.ts): about 0.75 MB more code, whose modules are instantiated per cached workflow
 * (they hold state of their own, so they cannot be preloaded). The plain bundle holds none of it.
 */
export function bundleWorkflows(logger = quietBundlerLogger, options: { traced?: boolean } = {}): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath,
    preloadModules: [workflowsPath],
    logger,
    ...(options.traced ? { workflowInterceptorModules: [tracingInterceptorsPath] } : {}),
  });
}

/** Whether a bundle holds the tracing interceptors (see `bundleWorkflows`). */
export const isTracedBundle = (bundle: WorkflowBundle): boolean =>
  /importInterceptors\(\) \{\s*return \[[^\]]*tracing-interceptors\.ts/.test(bundle.code);

/**
 * The prebuilt bundle when there is one (production), else bundled now from source. With tracing on, the traced
 * one (`tracedBundlePath`), which scripts/build-workflow-bundle.ts writes beside the plain one.
 */
export async function loadWorkflowBundle(bundlePath = defaultBundlePath, options: { traced?: boolean } = {}): Promise<WorkflowBundle> {
  const file = options.traced ? tracedBundlePath(bundlePath) : bundlePath;
  if (existsSync(file)) return { code: readFileSync(file, 'utf8') };
  return bundleWorkflows(undefined, options);
}

let runtimeInstalled = false;

/** What the SDK says about a log entry that the product's log keeps: the workflow's and activity's names and ids. */
const loggedMeta = ['issueId', 'namespace', 'taskQueue', 'workflowType', 'workflowId', 'runId', 'activityType', 'activityId', 'attempt'] as const;

/**
 * Installs the SDK runtime once per process, logging through ours; call it before anything else touches Temporal
 * natively. With `metricsAddress` (`ip:port`) the SDK's own Prometheus exporter serves its worker metrics there at
 * `/metrics` (workflow and activity task latencies and failures, sticky cache, pollers, slots), named the
 * Prometheus way: counters end in `_total`, durations are in seconds with a `_seconds` suffix.
 */
export function installRuntime(log: Logger, metricsAddress?: string): void {
  if (runtimeInstalled) return;
  // The SDK's info lines are noise for an operator; warnings and errors go through our logger.
  Runtime.install({
    ...(metricsAddress
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
          },
        }
      : {}),
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      // An activity-only queue has no workflows by design; that is not worth a warning.
      if (/^No (workflows|activities) registered/.test(message)) return;
      // Say what failed and why, e.g. "Activity failed payOutAccounts: <error>".
      const error = meta?.error instanceof Error ? `: ${meta.error.message}${meta.error.cause instanceof Error ? ` (${meta.error.cause.message})` : ''}` : '';
      const what = typeof meta?.activityType === 'string' ? ` ${meta.activityType}` : '';
      // Which issue, workflow and activity it was about, as fields a log collector filters by.
      const fields = Object.fromEntries(loggedMeta.filter((key) => meta?.[key] !== undefined).map((key) => [key, meta![key]]));
      if (level === 'ERROR') log.error(`temporal: ${message}${what}${error}`, undefined, fields);
      else log.warn(`temporal: ${message}${what}${error}`, fields);
    }),
  });
  runtimeInstalled = true;
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped; rejects if one failed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorkers(options: {
  deps: ActivityDeps;
  address: string;
  contexts: readonly ContextName[];
  bundle: WorkflowBundle;
  /** Tracing of this process (lib/tracing.ts); the bundle must then be the traced one. */
  tracing?: Tracing;
}): Promise<RunningWorkers> {
  const { deps, address, contexts, bundle, tracing } = options;
  // A traced bundle without tracing would call a sink nobody registered; the reverse would lose the workflow's spans.
  if (isTracedBundle(bundle) !== Boolean(tracing)) {
    throw new Error(tracing ? 'tracing is on but the workflow bundle is not the traced one' : 'the workflow bundle is the traced one but tracing is off');
  }
  installRuntime(deps.log, deps.config.workers.metricsAddress);
  const connection = await NativeConnection.connect({ address });
  const activities = createActivities(deps) as Partial<Record<ContextName, object>>;
  const workers: Worker[] = [];
  for (const context of contexts) {
    const hostsWorkflows = workflowContexts.has(context);
    const contextActivities = activities[context];
    if (!hostsWorkflows && !contextActivities) continue;
    workers.push(
      await Worker.create({
        connection,
        namespace: deps.config.temporal.namespace,
        taskQueue: taskQueues[context],
        activities: contextActivities,
        // A span per activity under the workflow's span that scheduled it; the workflow's own spans leave through the sink.
        ...tracing?.workerOptions,
        ...(hostsWorkflows ? { workflowBundle: bundle, maxCachedWorkflows: deps.config.workers.workflowCacheSize, stickyQueueScheduleToStartTimeout } : {}),
      }),
    );
  }
  const done = Promise.all(workers.map((worker) => worker.run())).then(() => undefined);
  return {
    done,
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => {});
      await connection.close();
    },
  };
}
