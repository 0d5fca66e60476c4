// Billing days: what a closed day reports, and how anyone (the manual close, a later day's close) asks a day to close.
import type { Client } from '@temporalio/client';
import { billingDayWorkflowId, closeBillingDaySignal, type BillingDayInput } from '../../workflows/messages.js';
import { taskQueues } from '../../workflows/task-queues.js';

/** A closed day's final totals: what the close's last activity answers its workflow with. */
export interface ClosedDay {
  date: string;
  status: 'closed';
  cutoffAt: string;
  feesCents: number;
  rewardsCents: number;
  earningsCents: number;
  payoutsCents: number;
  workersInNegative: number;
}

/**
 * Asks the day's workflow to close the day now, starting a run if none is running (a day whose run failed or
 * never started; a new run of a closed day finds it closed and ends). Used by the manual close and by a later
 * day waiting for this one.
 */
export async function requestBillingDayClose(temporal: Client, timeZone: string, date: string): Promise<void> {
  await temporal.workflow.signalWithStart('billingDayWorkflow', {
    workflowId: billingDayWorkflowId(date),
    taskQueue: taskQueues.billing,
    args: [{ date, timeZone }] satisfies [BillingDayInput],
    signal: closeBillingDaySignal,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}
