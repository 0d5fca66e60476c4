// Topics: a running issue subscribes to a topic (effect `subscribe`) and hears what is published on it as an event.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { topicSubscriptions } from '../../db/schema/issues.js';
import { deliverSignal, issueWorkflowId, type TopicDelivery } from '../../workflows/messages.js';

/** Signals the delivery to every issue subscribed to its topic; answers how many were. */
export async function publishToTopic(deps: { database: Database; temporal: Client }, delivery: TopicDelivery) {
  const subscribers = await deps.database.db
    .select({ issueId: topicSubscriptions.issueId })
    .from(topicSubscriptions)
    .where(eq(topicSubscriptions.topic, delivery.topic));
  await Promise.all(
    subscribers.map(async ({ issueId }) => {
      try {
        await deps.temporal.workflow.getHandle(issueWorkflowId(issueId)).signal(deliverSignal, delivery);
      } catch (error) {
        // A finished issue hears nothing any more.
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }),
  );
  return { delivered: subscribers.length };
}
