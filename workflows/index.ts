// Every workflow type the workers run; the bundle is built from this file.
export { issueWorkflow } from './issue.js';
export { shuffleWorkflow } from './shuffle.js';
export { issueMigrationWorkflow } from './issue-migration.js';
export { billingDayWorkflow, openBillingDayWorkflow } from './billing-day.js';
export { webhookDeliveryWorkflow } from './webhooks.js';
