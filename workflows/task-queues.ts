import type { ContextName } from '../lib/config.js';

/** One task queue per context: its worker can run and scale on its own. */
export const taskQueues = {
  auth: 'ates-auth',
  issues: 'ates-issues',
  inventory: 'ates-inventory',
  services: 'ates-services',
  billing: 'ates-billing',
  analytics: 'ates-analytics',
  notifications: 'ates-notifications',
} as const satisfies Record<ContextName, string>;
