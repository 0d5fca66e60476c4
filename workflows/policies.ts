// Named timeout and retry policies, one per class of activity.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import type { WebhookRetrySchedule } from '../lib/config.js';

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
  /** Webhook delivery rounds: they wait for events while heartbeating (up to 2 minutes) and post them, 10 s at most each. */
  webhookRound: { startToCloseTimeout: '10m', heartbeatTimeout: '30s', retry: untilItWorks } satisfies ActivityOptions,
} as const;

/**
 * Retries of a webhook event that failed: exponential (WEBHOOK_RETRY_*: from 5 s, doubling, at most 1 h apart) until
 * its window (24 h from the first failure) closes; the workflow then gives the event up. The workflow waits the
 * initial interval before the first of these, so the window starts at the first failure and the waits double from it.
 */
export const webhookRetryPolicy = (schedule: WebhookRetrySchedule): ActivityOptions => ({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: schedule.giveUpAfterMs - schedule.initialIntervalMs,
  retry: { initialInterval: 2 * schedule.initialIntervalMs, backoffCoefficient: 2, maximumInterval: schedule.maximumIntervalMs },
});
