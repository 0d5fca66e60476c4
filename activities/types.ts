// Activity types the workflows proxy (workflows import these with `import type` only).
export type { IssueActivities } from './issues.js';
import type { createBillingActivities } from './billing.js';
import type { createNotificationActivities } from './notifications.js';

export type BillingActivities = ReturnType<typeof createBillingActivities>;
export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
