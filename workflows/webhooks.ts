// One workflow per webhook subscription (`webhook-<id>`): delivers its events in order, retries a failing one on
// its backoff schedule, gives it up when its window closes and moves on. Started when the subscription is created,
// terminated when it is deleted.
import { ActivityFailure, continueAsNew, isCancellation, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/types.js';
import type { WebhookDeliveryInput } from './messages.js';
import { activityPolicies, webhookRetryPolicy } from './policies.js';
import { taskQueues } from './task-queues.js';

const rounds = proxyActivities<WebhookActivities>({ taskQueue: taskQueues.notifications, ...activityPolicies.webhookRound });

/** Rounds per run: each waits up to 2 minutes, so a run covers hours in a history of a few hundred events. */
const roundsPerRun = 100;

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<void> {
  const { subscriptionId } = input;
  let { retry } = input;
  for (let round = 0; round < roundsPerRun && !workflowInfo().continueAsNewSuggested; round++) {
    const result = await rounds.deliverWebhooks({ subscriptionId });
    retry = result.retry;
    if (result.outcome === 'deleted') return;
    if (result.outcome !== 'stuck' || result.eventSeq === undefined) continue;
    // The event failed once: nothing later goes out until it is delivered or given up.
    const eventSeq = result.eventSeq;
    const retries = proxyActivities<WebhookActivities>({ taskQueue: taskQueues.notifications, ...webhookRetryPolicy(retry) });
    try {
      await sleep(retry.initialIntervalMs);
      await retries.redeliverWebhookEvent({ subscriptionId, eventSeq });
    } catch (error) {
      if (isCancellation(error) || !(error instanceof ActivityFailure)) throw error;
      const cause = error.cause?.message ? `: ${error.cause.message}` : '';
      await rounds.giveUpWebhookEvent({ subscriptionId, eventSeq, reason: `retries ended (${error.message}${cause})` });
    }
  }
  await continueAsNew<typeof webhookDeliveryWorkflow>({ subscriptionId, retry });
}
