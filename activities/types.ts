// Activity types the workflows proxy (workflows import these with `import type` only).
export type { IssueActivities } from './issues.js';
export type { IssueStepActivities } from './issue-step.js';
export type { InventoryActivities } from './inventory.js';
export type { IssueMigrationActivities } from './issue-migrations.js';
export type { WebhookActivities } from './webhooks.js';
import type { createShuffleActivities } from './shuffle.js';
import type { createBillingActivities } from './billing.js';
import type { createNotificationActivities } from './notifications.js';
import type { createServiceActivities } from './services.js';

export type BillingActivities = ReturnType<typeof createBillingActivities>;
export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
export type ServiceActivities = ReturnType<typeof createServiceActivities>;
export type ShuffleActivities = ReturnType<typeof createShuffleActivities>;
