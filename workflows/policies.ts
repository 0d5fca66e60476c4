// Named timeout and retry policies, one per class of activity.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** Transient failures (database restarts, network blips) are retried until they pass. */
const untilItWorks = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' } as const;

export const activityPolicies = {
  /** Read-model writes of a step: short, local to the worker (issues started before `step`). */
  readModel: { startToCloseTimeout: '10s', retry: untilItWorks } satisfies LocalActivityOptions,
  /** A whole step in one transaction, local to the worker; a broken context or refused entry fails it at once. */
  step: {
    startToCloseTimeout: '10s',
    retry: { ...untilItWorks, nonRetryableErrorTypes: ['Issue.StepFailed', 'Issue.BadContext', 'Issue.UnknownEffect', 'Billing.InvalidEntry', 'Billing.KeyReused', 'Services.InvalidReview', 'Inventory.InvalidInput', 'Inventory.NotFound', 'Notifications.InvalidInput'] },
  } satisfies LocalActivityOptions,
  /** Effects in the issues and inventory contexts (assignment, topics). */
  effect: { startToCloseTimeout: '30s', retry: untilItWorks } satisfies ActivityOptions,
  /** Money: retried until it lands; the ledger's unique key makes every retry a no-op after the first write. */
  ledger: {
    startToCloseTimeout: '30s',
    retry: { ...untilItWorks, nonRetryableErrorTypes: ['Billing.InvalidEntry'] },
  } satisfies ActivityOptions,
  /** Services effects (catalog look-ups, offers, reviews); a malformed review is a bug no retry fixes. */
  services: { startToCloseTimeout: '30s', retry: { ...untilItWorks, nonRetryableErrorTypes: ['Services.InvalidReview'] } } satisfies ActivityOptions,
  /** Inventory effects: short transactions, retried until they land; a malformed inventory is a bug no retry fixes. */
  inventory: {
    startToCloseTimeout: '10s',
    retry: { ...untilItWorks, nonRetryableErrorTypes: ['Inventory.InvalidInput', 'Inventory.NotFound'] },
  } satisfies ActivityOptions,
  /** Notifications and outbox mails may wait on a slow mail server; they run beside the issue, never in its way. */
  notification: { startToCloseTimeout: '2m', retry: { ...untilItWorks, maximumInterval: '5m' } } satisfies ActivityOptions,
  /** Steps of a billing day's close; beginning one waits (retrying) until every earlier day has closed. */
  dayClose: { startToCloseTimeout: '1m', retry: untilItWorks } satisfies ActivityOptions,
  /** Payout batches and their mails: long, so they heartbeat; a retry resumes after the last committed batch. */
  payoutBatch: { startToCloseTimeout: '30m', heartbeatTimeout: '1m', retry: untilItWorks } satisfies ActivityOptions,
  /** Batches of the shuffle: long, so they heartbeat. */
  shuffleBatch: { startToCloseTimeout: '10m', heartbeatTimeout: '30s', retry: untilItWorks } satisfies ActivityOptions,
  /** Batches of an issue migration: they heartbeat each issue told; a missing migration or version is a bug no retry fixes. */
  migrationBatch: {
    startToCloseTimeout: '10m',
    heartbeatTimeout: '30s',
    retry: { ...untilItWorks, nonRetryableErrorTypes: ['Issue.MigrationNotFound'] },
  } satisfies ActivityOptions,
} as const;
