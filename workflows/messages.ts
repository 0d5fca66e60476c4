// Messages of the issue and shuffle workflows: the one place both the API and the workflows import.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Actor, IssueContext, IssueEvent, TopicEventType } from './statechart/catalog.js';
import type { IssueTypeDefinition } from './statechart/machine.js';
import type { WebhookRetrySchedule } from '../lib/config.js';

export const issueWorkflowId = (issueId: string) => `issue-${issueId}`;
export const shuffleWorkflowId = (shuffleId: string) => `shuffle-${shuffleId}`;
export const issueMigrationWorkflowId = (migrationId: string) => `issue-migration-${migrationId}`;
export const webhookWorkflowId = (subscriptionId: string) => `webhook-${subscriptionId}`;

/** A webhook subscription's delivery workflow: the retry schedule comes from the configuration of whoever started it. */
export interface WebhookDeliveryInput {
  subscriptionId: string;
  retry: WebhookRetrySchedule;
}

/** An issue as its workflow sees it, with the events the asking user may send now. */
export interface IssueView {
  id: string;
  type: string;
  version: number;
  title: string;
  /** Every active state joined by `|` (one per parallel region), as the read model and search attribute show it. */
  state: string;
  /** Every active state, one per parallel region. */
  states: string[];
  status: 'active' | 'done';
  context: IssueContext;
  assigneeId: string | null;
  creatorId: string;
  step: number;
  allowedEvents: string[];
}

export interface PinnedIssueType {
  key: string;
  version: number;
  definition: IssueTypeDefinition;
}

/** Timers and state carried into a new run by continue-as-new. */
export interface CarriedState {
  value: unknown;
  context: IssueContext;
  step: number;
  timers: { id: string; event: { type: string }; remainingMs: number }[];
  /** Steps shuffle batches committed that the run before had not applied yet. */
  committed?: CommittedSteps[];
}

export interface IssueWorkflowInput {
  issueId: string;
  type: PinnedIssueType;
  title: string;
  creator: Actor;
  context: IssueContext;
  carried?: CarriedState;
  /** The migration that moved the issue to `type`'s version: a retried `migrateUpdate` of it is answered as done. */
  migrationId?: string;
}

export interface SendEventInput {
  type: string;
  data?: Record<string, unknown>;
  actor: Actor;
}

export interface TopicDelivery {
  topic: string;
  type: TopicEventType;
  data?: Record<string, unknown>;
}

/** Answers once the issue has settled (no effect running): how creation returns the settled issue. */
export const settledUpdate = defineUpdate<IssueView, [Actor]>('settled');
/** Sends a user's event; the validator refuses what is not allowed now, without touching history. */
export const sendEventUpdate = defineUpdate<IssueView, [SendEventInput]>('sendEvent');
/** Something was published to a topic the issue subscribed to. */
export const deliverSignal = defineSignal<[TopicDelivery]>('deliver');
/**
 * Steps a shuffle batch committed for the issue from step `fromStep` on (transitions, read model, effects, all in the
 * batch's transaction): the issue applies their events to its machine, committing nothing again.
 */
export interface CommittedSteps {
  shuffleId: string;
  fromStep: number;
  events: IssueEvent[];
  /** Mails the steps left in the outbox, delivered by the issue as after its own steps. */
  mailKeys: string[];
}
export const stepsCommittedSignal = defineSignal<[CommittedSteps]>('stepsCommitted');
/** Moves the issue to another version of its type (workflows/issue.ts `migrate`); sent by an issue migration's batches. */
export interface MigrateInput {
  migrationId: string;
  fromVersion: number;
  toVersion: number;
  /** The target version's chart. */
  definition: IssueTypeDefinition;
  /** Source leaf state path → target state path (`review.legal.ok`). */
  stateMapping: Record<string, string>;
  /** Who started the migration: the migration step's actor. */
  actor: Actor;
}
export const migrateUpdate = defineUpdate<IssueView, [MigrateInput]>('migrate');
/** The live issue, with the events the given user may send. */
export const issueQuery = defineQuery<IssueView, [Actor]>('issue');

export interface ShuffleInput {
  shuffleId: string;
  actor: Actor;
  batchSize?: number;
  /** Where a continued-as-new shuffle picks up. */
  resume?: { after?: string; progress: ShuffleProgress };
}

export interface ShuffleProgress {
  shuffleId: string;
  status: 'running' | 'completed';
  /** Open tasks found so far (the last page is read when the shuffle ends). */
  seen: number;
  reassigned: number;
  /** Tasks that were done, or no longer open, by the time their turn came. */
  skipped: number;
  startedBy: string;
}

export const shuffleProgressQuery = defineQuery<ShuffleProgress>('progress');

export interface IssueMigrationInput {
  migrationId: string;
  /** Issues per batch; small values in tests make many batches. */
  batchSize?: number;
  /** Where a continued-as-new migration picks up: the last issue id of the batches before. */
  resume?: { after: string };
}

export const billingDayWorkflowId = (date: string) => `billing-day-${date}`;

export interface BillingDayInput {
  /** The local date in `timeZone` this workflow closes. */
  date: string;
  timeZone: string;
  /** Accounts per payout transaction and per activity; small values in tests make many batches. */
  batch?: { accountsPerTransaction: number; accountsPerActivity: number };
  /** Where a continued-as-new close picks up. */
  resume?: BillingDayProgress & { after: string | null };
}

export interface BillingDayProgress {
  date: string;
  status: 'open' | 'closing' | 'closed';
  /** Accounts looked at so far, of all accounts at the cut-off. */
  accountsDone: number;
  accountsTotal: number;
  payouts: number;
  paidOutCents: number;
}

/** Closes the day now instead of at its end (a manual close); a day already closing or closed ignores it. */
export const closeBillingDaySignal = defineSignal('close');
export const billingDayProgressQuery = defineQuery<BillingDayProgress>('progress');
