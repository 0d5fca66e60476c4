// Named timeout and retry policies, one per class of activity.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** Transient failures (database restarts, network blips) are retried until they pass. */
const untilItWorks = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' } as const;

export const activityPolicies = {
  /** Read-model writes of a step: short, local to the worker. */
  readModel: { startToCloseTimeout: '10s', retry: untilItWorks } satisfies LocalActivityOptions,
  /** Effects in the issues and inventory contexts (assignment, topics). */
  effect: { startToCloseTimeout: '30s', retry: untilItWorks } satisfies ActivityOptions,
  /** Money: retried until it lands; the ledger's unique key makes every retry a no-op after the first write. */
  ledger: {
    startToCloseTimeout: '30s',
    retry: { ...untilItWorks, nonRetryableErrorTypes: ['Billing.InvalidEntry'] },
  } satisfies ActivityOptions,
  /** Notifications may wait on a slow mail server; they run beside the issue, never in its way. */
  notification: { startToCloseTimeout: '2m', retry: { ...untilItWorks, maximumInterval: '5m' } } satisfies ActivityOptions,
  /** Batches of the shuffle: long, so they heartbeat. */
  shuffleBatch: { startToCloseTimeout: '10m', heartbeatTimeout: '30s', retry: untilItWorks } satisfies ActivityOptions,
} as const;
