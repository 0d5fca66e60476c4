// The daily Schedule that opens each billing day at local midnight of BILLING_TIMEZONE. The server
// evaluates the calendar in that zone, so a DST change moves the UTC instant, never the local midnight.
import { ScheduleAlreadyRunning, WorkflowExecutionAlreadyStartedError, type Client, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import { localDate } from '../lib/billing/calendar.js';
import type { billingDayWorkflow, openBillingDayWorkflow } from '../workflows/billing-day.js';
import { billingDayWorkflowId } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';

export const billingScheduleId = 'billing-days';

export function billingScheduleOptions(timeZone: string, startAt?: Date): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof openBillingDayWorkflow>> {
  return {
    scheduleId: billingScheduleId,
    spec: { calendars: [{ hour: 0, minute: 0, second: 0 }], timezone: timeZone, startAt },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'openBillingDayWorkflow',
      args: [{ timeZone }],
      taskQueue: taskQueues.billing,
      workflowId: 'open-billing-day',
    },
    // Missed midnights (the server was down) are all caught up: each opens its own day.
    policies: { overlap: 'ALLOW_ALL', catchupWindow: '7 days' },
  };
}

/** Creates the Schedule, or brings an existing one to the configured zone; then opens today if it is not open. */
export async function ensureBillingSchedule(temporal: Client, config: Config): Promise<void> {
  const options = billingScheduleOptions(config.billing.timeZone);
  try {
    await temporal.schedule.create(options);
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await temporal.schedule.getHandle(billingScheduleId).update((previous) => ({ ...previous, spec: options.spec, action: options.action }));
  }
  const today = localDate(Date.now(), config.billing.timeZone);
  try {
    await temporal.workflow.start<typeof billingDayWorkflow>('billingDayWorkflow', {
      workflowId: billingDayWorkflowId(today),
      taskQueue: taskQueues.billing,
      args: [{ date: today, timeZone: config.billing.timeZone }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}
