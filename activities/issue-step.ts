// One issue step, one PostgreSQL transaction: the step record, the read model, the domain events and every
// database effect the step's actions ask for commit together or not at all. It runs as a local activity of the
// issue's worker, so a step costs one transaction and no round trip to another task queue.
//
// The step only composes: each context's effect functions live in that context's lib/<context>/effects.ts and write
// only that context's tables (issues: assignment and topics; billing: the ledger; services; inventory;
// notifications: the in-app notification and the mail outbox). Mails leave the database, so the step only leaves them in the outbox
// (`pending` deliveries) and the workflow delivers them afterwards with `deliverMails`, never holding the issue.
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import { transaction, type Transaction } from '../db/client.js';
import type { Role } from '../db/schema/auth.js';
import { issueTransitions, type StepOutcome } from '../db/schema/issues.js';
import { getMailer } from '../lib/mailer.js';
import { notification, type EffectInput, type EffectName, type IssueEvent, type NotifyParams } from '../workflows/statechart/catalog.js';
import { stepTakenType, type CommitStepInput } from '../workflows/statechart/step-plan.js';
import { recordLedgerEffect } from '../lib/billing/effects.js';
import type { ActivityDeps } from './deps.js';
import { inventoryEffects } from '../lib/inventory/effects.js';
import { issueEffects } from '../lib/issues/effects.js';
import { recordStepOnce } from './issues.js';
import { recordNotification } from '../lib/notifications/effects.js';
import { serviceEffects } from '../lib/services/effects.js';

interface StepScope {
  deps: ActivityDeps;
  /** Mails the step left in the outbox. */
  mailKeys: string[];
}

type StepEffect = (tx: Transaction, input: EffectInput<never>, scope: StepScope) => Promise<IssueEvent | void>;

/** How each catalog effect runs inside the step: total over the catalog, so a new effect without a runner does not compile. */
const stepEffects = {
  assignRandomUser: (tx, input: EffectInput<{ role: Role; excludeFields?: string[] }>) => issueEffects.assignRandomUser(tx, input),
  subscribe: (tx, input: EffectInput<{ topic: string }>) => issueEffects.subscribe(tx, input),
  unsubscribe: (tx, input: EffectInput<{ topic: string }>) => issueEffects.unsubscribe(tx, input),
  chargeAssignFee: (tx, input: EffectInput, { deps }) => recordLedgerEffect(tx, 'chargeAssignFee', input, deps.config.billing.timeZone),
  payReward: (tx, input: EffectInput, { deps }) => recordLedgerEffect(tx, 'payReward', input, deps.config.billing.timeZone),
  chargeClient: (tx, input: EffectInput, { deps }) => recordLedgerEffect(tx, 'chargeClient', input, deps.config.billing.timeZone),
  creditWorker: (tx, input: EffectInput, { deps }) => recordLedgerEffect(tx, 'creditWorker', input, deps.config.billing.timeZone),
  describeService: (tx, input: EffectInput, { deps }) => serviceEffects.describeService(tx, input, deps.config),
  offerService: (tx, input: EffectInput) => serviceEffects.offerService(tx, input),
  recordReview: (tx, input: EffectInput) => serviceEffects.recordReview(tx, input),
  createInventory: (tx, input: EffectInput) => inventoryEffects.createInventory(tx, input),
  closeInventory: (tx, input: EffectInput) => inventoryEffects.closeInventory(tx, input),
  reopenInventory: (tx, input: EffectInput) => inventoryEffects.reopenInventory(tx, input),
  // Stored definitions leave the catalog's defaults out (`to`, `roles`, `body` may be missing).
  notify: async (tx, input: EffectInput<NotifyParams>, scope) => {
    const { mailKeys } = await recordNotification(tx, notification(input), getMailer(scope.deps.config.mail, scope.deps.log), scope.deps.log);
    scope.mailKeys.push(...mailKeys);
  },
} satisfies Record<EffectName, StepEffect>;

const runnerOf = (name: string): StepEffect => {
  if (!Object.hasOwn(stepEffects, name)) {
    throw ApplicationFailure.create({ type: 'Issue.UnknownEffect', message: `no runner for the effect "${name}"`, nonRetryable: true });
  }
  return stepEffects[name as EffectName] as StepEffect;
};

/** PostgreSQL refuses the data itself (classes 22: data exception, 23: integrity, 54: program limit): no retry can help. */
const refusedData = (error: unknown): string | undefined => {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(22|23|54)/.test(code)) return `${code}: ${e.message}`;
  }
  return undefined;
};

/** Runs a step's effects in order inside `tx`: what they answered, and the mails they left in the outbox. */
export async function runStepEffects(tx: Transaction, deps: ActivityDeps, effects: CommitStepInput['effects']): Promise<StepOutcome> {
  const scope: StepScope = { deps, mailKeys: [] };
  const answers: IssueEvent[] = [];
  for (const { name, ...effect } of effects) {
    const answer = await runnerOf(name)(tx, effect as EffectInput<never>, scope);
    if (answer) answers.push({ type: answer.type, data: answer.data });
  }
  return { answers, mailKeys: scope.mailKeys };
}

export function createIssueStepActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  return {
    /**
     * Commits one step whole, once. The transition row is the claim: a retried step whose transaction committed
     * (the worker died before Temporal heard) finds it and answers the stored outcome without running anything
     * again, so a random assignee stays the one chosen and no money moves twice. Two overlapping attempts
     * serialize on that row. A claim a shuffle batch holds is not this step's: the issue is told (`Issue.StepTaken`)
     * and applies the batch's steps first.
     */
    async commitStep(input: CommitStepInput): Promise<StepOutcome> {
      try {
        return await commit(input);
      } catch (error) {
        const refused = refusedData(error);
        if (!refused) throw error;
        throw ApplicationFailure.create({ type: 'Issue.StepFailed', message: `step ${input.step} of issue ${input.issueId} cannot be stored: ${refused}`, nonRetryable: true });
      }
    },
  };

  /** The step's transaction. */
  function commit(input: CommitStepInput): Promise<StepOutcome> {
    const { issueId, step } = input;
    return transaction(db, 'issue.step', async (tx) => {
      if (!(await recordStepOnce(tx, input))) {
        const [recorded] = await tx
          .select({ outcome: issueTransitions.outcome })
          .from(issueTransitions)
          .where(and(eq(issueTransitions.issueId, issueId), eq(issueTransitions.step, step)));
        if (recorded?.outcome?.shuffleId) {
          throw ApplicationFailure.create({
            type: stepTakenType,
            message: `step ${step} of issue ${issueId} was committed by shuffle ${recorded.outcome.shuffleId}`,
            nonRetryable: true,
          });
        }
        return recorded?.outcome ?? { answers: [], mailKeys: [] };
      }
      const outcome = await runStepEffects(tx, deps, input.effects);
      // Stored only when a retry has something to answer: a transition without an outcome reads as an empty one (above).
      if (outcome.answers.length > 0 || outcome.mailKeys.length > 0) {
        await tx.update(issueTransitions).set({ outcome }).where(and(eq(issueTransitions.issueId, issueId), eq(issueTransitions.step, step)));
      }
      return outcome;
    });
  }
}

export type IssueStepActivities = ReturnType<typeof createIssueStepActivities>;
