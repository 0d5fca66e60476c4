import type { ContextName } from '../lib/config.js';
import { createBillingActivities } from './billing.js';
import type { ActivityDeps } from './deps.js';
import { createInventoryActivities } from './inventory.js';
import { createIssueMigrationActivities } from './issue-migrations.js';
import { createIssueStepActivities } from './issue-step.js';
import { createIssueActivities } from './issues.js';
import { createNotificationActivities } from './notifications.js';
import { createServiceActivities } from './services.js';
import { createShuffleActivities } from './shuffle.js';
import { createWebhookActivities } from './webhooks.js';

/** Activities of each context, registered on that context's task queue. */
export function createActivities(deps: ActivityDeps) {
  return {
    // The step runs as a local activity of the issue's worker: it is registered with the issues context.
    issues: { ...createIssueActivities(deps), ...createIssueStepActivities(deps), ...createShuffleActivities(deps), ...createIssueMigrationActivities(deps) },
    billing: createBillingActivities(deps),
    notifications: { ...createNotificationActivities(deps), ...createWebhookActivities(deps) },
    services: createServiceActivities(deps),
    inventory: createInventoryActivities(deps),
  } satisfies Partial<Record<ContextName, object>>;
}

export type Activities = ReturnType<typeof createActivities>;
