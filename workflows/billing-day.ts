// A billing day as a workflow: open all day, it closes at the local midnight that ends it (or when an
// accountant asks): cut-off, payouts in batches, the day's totals and the daily report.
import {
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { BillingActivities, NotificationActivities } from '../activities/types.js';
import { endOfLocalDay, localDate } from '../lib/billing/calendar.js';
import type { ClosedDay } from '../lib/billing/days.js';
import {
  billingDayProgressQuery,
  billingDayWorkflowId,
  closeBillingDaySignal,
  type BillingDayInput,
  type BillingDayProgress,
} from './messages.js';
import { activityPolicies } from './policies.js';
import { ScheduledStartTimeKey } from './search-attributes.js';
import { taskQueues } from './task-queues.js';

const billing = proxyActivities<BillingActivities>({ taskQueue: taskQueues.billing, ...activityPolicies.dayClose });
const payouts = proxyActivities<BillingActivities>({ taskQueue: taskQueues.billing, ...activityPolicies.payoutBatch });
const notifications = proxyActivities<NotificationActivities>({ taskQueue: taskQueues.notifications, ...activityPolicies.notification });

const defaultBatch = { accountsPerTransaction: 1000, accountsPerActivity: 20_000 };

export async function billingDayWorkflow(input: BillingDayInput): Promise<BillingDayProgress> {
  const { date, timeZone, batch = defaultBatch } = input;
  const progress: BillingDayProgress = input.resume
    ? { ...input.resume }
    : { date, status: 'open', accountsDone: 0, accountsTotal: 0, payouts: 0, paidOutCents: 0 };
  let after = input.resume?.after ?? null;
  let closeRequested = false;
  setHandler(billingDayProgressQuery, () => progress);
  setHandler(closeBillingDaySignal, () => void (closeRequested = true));

  if (progress.status === 'open') {
    // A durable timer to the day's end in its own zone: 23 or 25 hours on a DST change.
    const endsAt = endOfLocalDay(date, timeZone);
    if (endsAt > Date.now()) await condition(() => closeRequested, endsAt - Date.now());
    const begun = await billing.beginDayClose({ date });
    if (begun.status === 'closed') return { ...progress, status: 'closed' }; // closed before: nothing to do
    progress.status = 'closing';
    progress.accountsTotal = begun.accountsTotal;
  }

  for (;;) {
    // A close of very many accounts goes on in a fresh history, from where it was.
    if (workflowInfo().continueAsNewSuggested) return continueAsNew<typeof billingDayWorkflow>({ ...input, resume: { ...progress, after } });
    const run = await payouts.payOutAccounts({ date, after, maxAccounts: batch.accountsPerActivity, perTransaction: batch.accountsPerTransaction });
    if (run.after && run.after !== after) await payouts.mailPayouts({ date, after, through: run.after });
    after = run.after;
    progress.accountsDone += run.accounts;
    // Accounts opened after the cut-off are looked at too (they have nothing to pay out yet).
    progress.accountsTotal = Math.max(progress.accountsTotal, progress.accountsDone);
    progress.payouts += run.payouts;
    progress.paidOutCents += run.paidOutCents;
    if (run.finished) break;
  }

  const closed = await billing.finishDayClose({ date });
  progress.status = 'closed';
  await notifications.notify({ key: `billing-report:${date}`, roles: ['admin', 'accountant'], kind: 'billing.daily_report', ...dailyReport(closed) });
  return progress;
}

/**
 * Started by the daily Schedule at local midnight: opens the billing day that begins then. The day is
 * read from the time the run was scheduled for, so a run the server starts late still opens the right day.
 */
export async function openBillingDayWorkflow({ timeZone }: { timeZone: string }): Promise<string> {
  const scheduledFor = workflowInfo().typedSearchAttributes.get(ScheduledStartTimeKey) ?? new Date(workflowInfo().runStartTime);
  const date = localDate(scheduledFor.getTime(), timeZone);
  try {
    await startChild(billingDayWorkflow, {
      workflowId: billingDayWorkflowId(date),
      args: [{ date, timeZone }],
      taskQueue: taskQueues.billing,
      parentClosePolicy: 'ABANDON',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  } catch (error) {
    // Opened already (at start-up, or by a manual close): nothing to do.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  return date;
}

const dollars = (cents: number) => `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;

/** The daily report admins and accountants receive; the same figures are stored on the closed day. */
export function dailyReport(day: ClosedDay): { title: string; body: string } {
  return {
    title: `aTES daily report for ${day.date}`,
    body: [
      `Billing day ${day.date} closed (cut-off ${day.cutoffAt}).`,
      `Management earnings: ${dollars(day.earningsCents)} (fees charged ${dollars(day.feesCents)} − rewards paid ${dollars(day.rewardsCents)}).`,
      `Paid out to workers: ${dollars(day.payoutsCents)}.`,
      `Workers in the negative: ${day.workersInNegative}.`,
    ].join('\n'),
  };
}

