// The one generic issue workflow: interprets the issue type's pinned statechart. XState computes each
// step purely; this workflow commits each step with its database effects in one transaction (a local
// activity), runs its `after` delays as durable timers, feeds effect answers back in as the next steps,
// and delivers the step's mails afterwards, beside the issue.
//
// Issues started before steps ran in one transaction replay their earlier steps on the old path (the read
// model recorded first, then each effect as an activity of its context's task queue): `patched` tells them
// apart. Once no such issue runs (Web UI: workflows of type issueWorkflow started before the deploy that
// brought `step-transaction`), replace `patched` by `deprecatePatch`, then remove the old path, the
// `effectRunners` table and the activities only it calls (`recordStep`, `recordLedgerEntry`, the single
// effects of the issues, services and inventory queues, `notify`).
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  allHandlersFinished,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnyMachineSnapshot } from 'xstate';
import type { BillingActivities, InventoryActivities, IssueActivities, IssueStepActivities, NotificationActivities, ServiceActivities } from '../activities/types.js';
import {
  deliverSignal,
  issueQuery,
  migrateUpdate,
  sendEventUpdate,
  settledUpdate,
  stepsCommittedSignal,
  type CommittedSteps,
  type IssueView,
  type IssueWorkflowInput,
  type MigrateInput,
  type SendEventInput,
} from './messages.js';
import { activityPolicies } from './policies.js';
import { AssigneeIdKey, IssueStateKey } from './search-attributes.js';
import {
  isUserEventType,
  notification,
  systemActor,
  moneyEffects,
  type Actor,
  type EffectInput,
  type EffectName,
  type IssueEvent,
  type MoneyEffectName,
  type NotifyParams,
} from './statechart/catalog.js';
import { activeStatePaths, allowedEvents, buildMachine, delayedEventsOf, handledEventTypes, restore, start, stateName, step, type StepAction } from './statechart/machine.js';
import { mappedValue, statesOf } from './statechart/migration.js';
import { assigneeOf, planStep, resolveParams, stepTakenType, type StepIssue } from './statechart/step-plan.js';
import { taskQueues } from './task-queues.js';
import { currentCause, startCause, traced } from './trace-context.js';

const steps = proxyLocalActivities<IssueStepActivities>(activityPolicies.step);
/** Marks histories whose steps commit in one transaction (see the top of this file). */
const stepTransactionPatch = 'step-transaction';
const records = proxyLocalActivities<IssueActivities>(activityPolicies.readModel);
const issueEffects = proxyActivities<IssueActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.effect });
const ledger = proxyActivities<BillingActivities>({ taskQueue: taskQueues.billing, ...activityPolicies.ledger });
const notifications = proxyActivities<NotificationActivities>({ taskQueue: taskQueues.notifications, ...activityPolicies.notification });
const inventoryEffects = proxyActivities<InventoryActivities>({ taskQueue: taskQueues.inventory, ...activityPolicies.inventory });
const serviceEffects = proxyActivities<ServiceActivities>({ taskQueue: taskQueues.services, ...activityPolicies.services });

type EffectRunner = (input: EffectInput<never>) => Promise<IssueEvent | void>;

// The old path only: effects as activities of their contexts' task queues, for issues started before
// `step-transaction` (activities/issue-step.ts runs them now).

const userId = (value: unknown): string => {
  if (typeof value !== 'string') throw ApplicationFailure.nonRetryable(`expected a user id, got ${JSON.stringify(value)}`, 'Issue.BadContext');
  return value;
};
const cents = (value: unknown): number => {
  if (!Number.isSafeInteger(value)) throw ApplicationFailure.nonRetryable(`expected integer cents, got ${JSON.stringify(value)}`, 'Issue.BadContext');
  return value as number;
};

/** Old path: a money effect as one ledger activity; a zero amount writes nothing, as the ledger holds no zero entries. */
const recordMoney =
  (name: MoneyEffectName) =>
  async ({ key, issueId, context }: EffectInput): Promise<void> => {
    const effect = moneyEffects[name];
    const amountCents = effect.sign * cents(context[effect.amountField]);
    if (amountCents === 0) return;
    await ledger.recordLedgerEntry({
      key,
      userId: userId(context[effect.userField]),
      kind: effect.kind,
      amountCents,
      issueId,
      description: `${effect.label}: ${String(context[effect.nameField] ?? issueId)}`,
    });
  };

/** How each catalog effect ran on the old path: total over the catalog, so a new effect without a runner does not compile. */
const effectRunners = {
  assignRandomUser: (input) => issueEffects.assignRandomUser(input),
  subscribe: async (input) => void (await issueEffects.subscribe(input)),
  unsubscribe: async (input) => void (await issueEffects.unsubscribe(input)),
  chargeAssignFee: recordMoney('chargeAssignFee'),
  payReward: recordMoney('payReward'),
  describeService: (input) => serviceEffects.describeService(input),
  offerService: (input) => serviceEffects.offerService(input),
  recordReview: (input) => serviceEffects.recordReview(input),
  chargeClient: recordMoney('chargeClient'),
  creditWorker: recordMoney('creditWorker'),
  createInventory: (input) => inventoryEffects.createInventory(input),
  closeInventory: (input) => inventoryEffects.closeInventory(input),
  reopenInventory: (input) => inventoryEffects.reopenInventory(input),
  notify: async (input: EffectInput<NotifyParams>) => void (await notifications.notify(notification(input))),
} satisfies Record<EffectName, EffectRunner>;

/** Old path: effects whose failure or slowness must not hold up the issue ran beside the next steps. */
const backgroundEffects = new Set(['notify', 'chargeClient', 'creditWorker']);

interface Inbox {
  event: IssueEvent;
  /** Set for user events sent by update: the update answers when the step has settled. */
  settle?: { resolve: (view: IssueView) => void; reject: (error: unknown) => void };
  /** With tracing on: the span of the update or signal that brought the event, which its steps join (trace-context.ts). */
  cause?: unknown;
}

/** A `migrateUpdate` waiting for its turn, answered once taken. */
interface PendingMigration {
  input: MigrateInput;
  resolve: (view: IssueView) => void;
  reject: (error: unknown) => void;
  /** With tracing on: the span of the migration's update. */
  cause?: unknown;
}

/** Why a migration leaves the issue where it is: the migration's batch counts it as skipped, with this reason. */
const migrationRefused = (type: string, message: string) => ApplicationFailure.nonRetryable(message, type);

export async function issueWorkflow(input: IssueWorkflowInput): Promise<IssueView> {
  const { issueId, title, creator } = input;
  // A migration moves the issue to another version of its type within this run: both change then (see `migrate`).
  let { type } = input;
  let machine = buildMachine(type.definition, { id: issueId, type: type.key });
  // The snapshot exists before any handler is set: updates buffered for a new run are validated at once.
  let snapshot: AnyMachineSnapshot;
  let initialActions: StepAction[] = [];
  if (input.carried) snapshot = restore(machine, input.carried.value as never, input.carried.context);
  else [snapshot, initialActions] = start(machine, input.context);
  let stepNo = input.carried?.step ?? 0;
  // What queries and answers show: the machine as of the last committed step, never one still committing.
  let shown = snapshot;
  let busy = true;
  const inbox: Inbox[] = [];
  const migrations: PendingMigration[] = [];
  /** Set once a migration has committed: the run continues as new on the target version as soon as it may. */
  let migratedBy = input.migrationId;
  let migratedNow = false;
  /**
   * Steps shuffle batches committed for this issue, not applied here yet. Two shuffles may commit steps for it one
   * after the other and their messages arrive in any order: each is applied when it follows the last step here.
   */
  const committedElsewhere: CommittedSteps[] = [...(input.carried?.committed ?? [])];
  /** Whether a message follows the last step here (or repeats one applied already). */
  const committedDue = () => committedElsewhere.some((steps) => steps.fromStep <= stepNo);
  const timers = new Map<string, { scope: CancellationScope; event: IssueEvent; fireAt: number }>();
  const background = new Set<Promise<void>>();

  const assigneeId = () => assigneeOf(snapshot);
  const stepIssue: StepIssue = { issueId, type: { key: type.key, version: type.version }, title, creatorId: creator.id };
  let shownStep = stepNo;
  /** `settled`: the caller's own step has just committed, so what may come next is known although the loop is still busy. */
  const view = (actor: Actor, settled = false): IssueView => ({
    id: issueId,
    type: type.key,
    version: type.version,
    title,
    state: stateName(shown.value),
    states: activeStatePaths(shown.value),
    status: shown.status === 'done' ? 'done' : 'active',
    context: shown.context,
    assigneeId: assigneeOf(shown),
    creatorId: creator.id,
    step: shownStep,
    allowedEvents: busy && !settled ? [] : allowedEvents(shown, actor),
  });

  // The state and assignee an operator filters by in the Web UI, upserted once a settle has committed steps
  // and only when they changed (a continued run carries its search attributes over).
  let searchAttributesShown = input.carried ? JSON.stringify([stateName(snapshot.value), assigneeId()]) : '';
  let searchAttributesDue = false;
  const showSearchAttributes = () => {
    if (!searchAttributesDue) return;
    searchAttributesDue = false;
    const state = stateName(shown.value);
    const shownNow = JSON.stringify([state, assigneeOf(shown)]);
    if (shownNow === searchAttributesShown) return;
    searchAttributesShown = shownNow;
    upsertSearchAttributes([
      { key: IssueStateKey, value: state },
      { key: AssigneeIdKey, value: assigneeOf(shown) },
    ]);
  };

  /**
   * Why a user event cannot be taken now, as the failure the API maps to 409 or 403. It names the step it judged
   * from: when the read model is further (a shuffle batch committed steps this issue has not applied yet), the
   * API sends the event again once the issue has caught up.
   */
  const refusal = (event: SendEventInput): ApplicationFailure | undefined => {
    const judgedAt = { step: stepNo };
    if (!isUserEventType(event.type)) {
      return ApplicationFailure.nonRetryable(`"${event.type}" is sent by the product itself, not by users`, 'Issue.EventNotAllowed');
    }
    if (snapshot.status !== 'active' || !handledEventTypes(snapshot).includes(event.type)) {
      return ApplicationFailure.nonRetryable(`"${event.type}" is not allowed in state ${stateName(snapshot.value)}`, 'Issue.EventNotAllowed', judgedAt);
    }
    if (!snapshot.can({ type: event.type, data: event.data ?? {}, actor: event.actor })) {
      return ApplicationFailure.nonRetryable(`you may not send "${event.type}" to this issue now`, 'Issue.GuardRejected', judgedAt);
    }
    return undefined;
  };

  const schedule = (id: string, event: IssueEvent, delayMs: number) => {
    timers.get(id)?.scope.cancel();
    const scope = new CancellationScope();
    timers.set(id, { scope, event, fireAt: Date.now() + delayMs });
    scope
      .run(() => sleep(delayMs))
      .then(
        () => {
          timers.delete(id);
          inbox.push({ event: { ...event, actor: systemActor } });
        },
        (error) => {
          if (!isCancellation(error)) throw error;
        },
      );
  };

  const applyTimers = (actions: StepAction[]) => {
    for (const action of actions) {
      if (action.kind === 'schedule') schedule(action.id, action.event, action.delayMs);
      else if (action.kind === 'cancel') {
        timers.get(action.id)?.scope.cancel();
        timers.delete(action.id);
      }
    }
  };

  /**
   * A step the database refused, as the failure the caller gets and the issue recovers from; or a step whose number a
   * shuffle batch took first (its steps committed for this issue meanwhile), which the issue waits out.
   */
  const stepFailed = (error: ActivityFailure) =>
    ApplicationFailure.create({
      type: error.cause instanceof ApplicationFailure && error.cause.type === stepTakenType ? stepTakenType : 'Issue.StepFailed',
      message: error.cause instanceof Error ? error.cause.message : error.message,
      nonRetryable: true,
      cause: error,
    });

  /** Runs beside the issue; a failure is logged (Temporal has retried it by then), never the issue's. */
  const runInBackground = (what: string, run: Promise<void>) => {
    const tracked: Promise<void> = run.then(
      () => void background.delete(tracked),
      (error) => {
        background.delete(tracked);
        log.error(`${what} failed`, { issueId, error: String(error) });
      },
    );
    background.add(tracked);
  };

  const runEffect = async (action: Extract<StepAction, { kind: 'effect' }>, key: string): Promise<IssueEvent | void> => {
    if (action.type === 'emit') return; // recorded with the step
    if (!Object.hasOwn(effectRunners, action.type)) {
      throw ApplicationFailure.create({ type: 'Issue.UnknownEffect', message: `no runner for the effect "${action.type}"`, nonRetryable: true });
    }
    const runner: EffectRunner = effectRunners[action.type as EffectName];
    const effectInput: EffectInput = { key, issueId, issueType: type.key, params: resolveParams(stepIssue, action), context: action.context };
    const run = runner(effectInput as never);
    if (!backgroundEffects.has(action.type)) return run;
    runInBackground(`background effect ${action.type} (${key})`, run.then(() => undefined));
  };

  /**
   * Applies one step's outcome: the step and its database effects commit in one transaction, then its timers
   * start or stop; effect answers are queued as the next steps and its mails are delivered in the background.
   */
  const apply = async (from: string | null, event: IssueEvent, actions: StepAction[], answers: IssueEvent[]) => {
    stepNo++;
    const thisStep = stepNo;
    const plan = planStep(stepIssue, thisStep, from, event, snapshot, actions);
    if (!patched(stepTransactionPatch)) {
      const { value: _value, effects: _effects, ...record } = plan;
      return applyOnOldPath(record, actions, answers);
    }
    const outcome = await steps.commitStep(plan).catch((error: unknown) => {
      throw error instanceof ActivityFailure ? stepFailed(error) : error;
    });
    shown = snapshot;
    shownStep = thisStep;
    searchAttributesDue = true;
    applyTimers(actions);
    for (const answer of outcome.answers) answers.push({ ...answer, actor: systemActor });
    if (outcome.mailKeys.length > 0) runInBackground('mail delivery', notifications.deliverMails({ keys: outcome.mailKeys }));
  };

  /** The old path: the step recorded first, then its timers and effects in order, each effect its own activity. */
  const applyOnOldPath = async (record: Parameters<IssueActivities['recordStep']>[0], actions: StepAction[], answers: IssueEvent[]) => {
    await records.recordStep(record);
    searchAttributesShown = JSON.stringify([record.to, record.assigneeId]);
    upsertSearchAttributes([
      { key: IssueStateKey, value: record.to },
      { key: AssigneeIdKey, value: record.assigneeId },
    ]);
    for (const [index, action] of actions.entries()) {
      if (action.kind === 'schedule') schedule(action.id, action.event, action.delayMs);
      else if (action.kind === 'cancel') {
        timers.get(action.id)?.scope.cancel();
        timers.delete(action.id);
      } else {
        const answer = await runEffect(action, `${record.issueId}:${record.step}:${index}`);
        if (answer) answers.push({ ...answer, actor: systemActor });
      }
    }
    shown = snapshot;
    shownStep = record.step;
  };

  /** Feeds one event in and keeps going until no effect answer is left: the issue has settled. */
  const settleAfter = async (first: IssueEvent) => {
    const queue = [first];
    try {
      for (let event = queue.shift(); event; event = queue.shift()) {
        const [next, actions] = step(machine, snapshot, event);
        if (next === snapshot) continue; // nothing handles it (e.g. a late delivery after the state was left)
        const from = stateName(snapshot.value);
        snapshot = next;
        await apply(from, event, actions, queue);
      }
    } finally {
      showSearchAttributes();
    }
  };

  /**
   * A step the database refused (its data cannot be stored, its context cannot pay): the issue stays as its last
   * committed step left it and takes events again. The failure is the caller's answer and the workflow's log
   * (the failed local activity shows in the Web UI), never a retry loop.
   */
  const recoverFrom = (error: unknown): boolean => {
    if (!(error instanceof ApplicationFailure && error.type === 'Issue.StepFailed')) return false;
    log.error('a step failed; the issue stays in its last committed state', { issueId, step: stepNo, error: error.message });
    snapshot = shown;
    stepNo = shownStep;
    return true;
  };

  const isStepTaken = (error: unknown) => error instanceof ApplicationFailure && error.type === stepTakenType;

  /**
   * Applies the due steps a shuffle batch committed: their events go through the machine (timers start or stop),
   * nothing is committed again. A repeated message (the batch retried after its commit) is dropped.
   */
  const applyCommitted = () => {
    const index = committedElsewhere.findIndex((steps) => steps.fromStep <= stepNo);
    if (index < 0) return;
    const [steps] = committedElsewhere.splice(index, 1);
    if (!steps || steps.fromStep < stepNo) return; // a repeated message (the batch retried after its commit)
    for (const event of steps.events) {
      const [next, actions] = step(machine, snapshot, event);
      snapshot = next;
      stepNo++;
      applyTimers(actions);
    }
    shown = snapshot;
    shownStep = stepNo;
    searchAttributesDue = true;
    showSearchAttributes();
    if (steps.mailKeys.length > 0) runInBackground('mail delivery', notifications.deliverMails({ keys: steps.mailKeys }));
  };

  /** After a step whose number a shuffle batch took: back to the last committed step, until the batch's message is here. */
  const waitForCommittedSteps = async () => {
    snapshot = shown;
    stepNo = shownStep;
    await condition(committedDue);
  };

  /** A migration is taken once no shuffle's steps wait to be applied: it maps the state those steps leave. */
  const migrationDue = () => migrations.length > 0 && committedElsewhere.length === 0;

  /**
   * Moves the issue to the migration's target version: each active leaf state mapped into the target chart and the
   * machine restored there with the same context. Restoring enters no state, so no entry action runs: no effect,
   * and no money moves. One step records it (`issue.migrated`, with the read model's type version). The target
   * chart's `after` timers of the states now active start afresh from now; the old version's pending timers are
   * dropped, as their delays belong to a chart the issue no longer runs. The run then continues as new on the
   * target version.
   */
  const migrate = async (pending: PendingMigration) => {
    const { input: m, resolve, reject } = pending;
    // A retried update after this migration moved the issue (maybe in a run before): done already.
    if (migratedBy === m.migrationId && type.version === m.toVersion) return resolve(view(m.actor));
    if (type.version !== m.fromVersion) return reject(migrationRefused('Issue.MigrationSkipped', `the issue is at version ${type.version}, not ${m.fromVersion}`));
    const mapped = mappedValue(activeStatePaths(snapshot.value), m.stateMapping, statesOf(m.definition));
    // The issue moved on since its batch was selected, into a state the mapping does not name.
    if ('unmapped' in mapped) return reject(migrationRefused('Issue.MigrationUnmapped', `no mapping for ${mapped.unmapped.join(', ')}`));
    if ('conflict' in mapped) return reject(migrationRefused('Issue.MigrationConflict', `its states map to states of ${mapped.conflict} that cannot be active together`));
    const target = buildMachine(m.definition, { id: issueId, type: type.key });
    let next: AnyMachineSnapshot;
    try {
      next = restore(target, mapped.value, snapshot.context);
    } catch (error) {
      return reject(migrationRefused('Issue.MigrationConflict', `the target chart cannot hold ${JSON.stringify(mapped.value)}: ${String(error)}`));
    }
    const from = stateName(snapshot.value);
    const to = stateName(next.value);
    stepNo++;
    const plan = {
      ...planStep({ ...stepIssue, type: { key: type.key, version: m.toVersion } }, stepNo, from, { type: 'issue.migrated', actor: m.actor }, next, []),
      emits: [{ name: 'issue.migrated', version: 1, data: { issueId, migrationId: m.migrationId, fromVersion: m.fromVersion, toVersion: m.toVersion, from, to } }],
    };
    try {
      await steps.commitStep(plan);
    } catch (caught) {
      const error = caught instanceof ActivityFailure ? stepFailed(caught) : caught;
      if (isStepTaken(error)) {
        // A shuffle committed this step first: its steps are applied, then the migration is taken again from there.
        await waitForCommittedSteps();
        migrations.unshift(pending);
        return;
      }
      reject(error);
      if (!recoverFrom(error)) throw error;
      return;
    }
    for (const { scope } of timers.values()) scope.cancel();
    timers.clear();
    // A timer of the old version that fired but was not taken yet goes too.
    inbox.splice(0, inbox.length, ...inbox.filter((item) => item.settle || !item.event.type.startsWith('xstate.after.')));
    machine = target;
    type = { key: type.key, version: m.toVersion, definition: m.definition };
    stepIssue.type = { key: type.key, version: m.toVersion };
    snapshot = shown = next;
    shownStep = stepNo;
    for (const timer of delayedEventsOf(machine, snapshot)) schedule(timer.id, timer.event, timer.delayMs);
    migratedBy = m.migrationId;
    migratedNow = true;
    searchAttributesDue = true;
    showSearchAttributes();
    resolve(view(m.actor));
  };

  setHandler(issueQuery, (actor) => view(actor));
  setHandler(settledUpdate, async (actor) => {
    await condition(() => !busy);
    return view(actor);
  });
  setHandler(
    sendEventUpdate,
    (event) => new Promise<IssueView>((resolve, reject) => inbox.push({ event, settle: { resolve, reject }, cause: currentCause() })),
    {
      validator: (event) => {
        // While a step commits, the state it leads to is not shown yet: the main loop decides after the commit,
        // so an event refused because of that state (a retried `complete` finding the task done) is refused only
        // once everything the state stands for is in the database.
        if (busy || committedElsewhere.length > 0) return;
        // A system event that arrived first but is not applied yet (a topic delivery, a timer in the same activation)
        // may be what allows this one (a `close` right after the inventory's start): the main loop decides after it.
        if (inbox.some((item) => !item.settle)) return;
        const refused = refusal(event);
        if (refused) throw refused;
      },
    },
  );
  setHandler(deliverSignal, ({ type: eventType, data }) => {
    inbox.push({ event: { type: eventType, data, actor: systemActor }, cause: currentCause() });
  });
  setHandler(stepsCommittedSignal, (steps) => void committedElsewhere.push(steps));
  setHandler(migrateUpdate, (migration) => new Promise<IssueView>((resolve, reject) => migrations.push({ input: migration, resolve, reject, cause: currentCause() })), {
    validator: (_migration) => {
      // A finished issue takes no migration: admitted while it ends, the update would keep the workflow from finishing.
      if (shown.status !== 'active') throw migrationRefused('Issue.MigrationSkipped', `the issue is ${stateName(shown.value)}: finished`);
    },
  });

  if (input.carried) {
    for (const timer of input.carried.timers) schedule(timer.id, timer.event, timer.remainingMs);
  } else {
    try {
      const answers: IssueEvent[] = [];
      // The first steps join the trace of the call that started the issue (`POST /tasks`).
      const cause = startCause();
      await traced('issue.settle issue.created', cause, () => apply(null, { type: 'issue.created', actor: creator }, initialActions, answers));
      for (const answer of answers) await traced(`issue.settle ${answer.type}`, cause, () => settleAfter(answer));
    } catch (error) {
      if (isStepTaken(error)) await waitForCommittedSteps();
      // An issue whose first step failed never existed: the start fails.
      else if (shownStep === 0 || !recoverFrom(error)) throw error;
    }
    showSearchAttributes();
  }
  busy = false;

  while (snapshot.status === 'active') {
    await condition(() => committedDue() || inbox.length > 0 || migrationDue() || migratedNow || workflowInfo().continueAsNewSuggested);
    if (committedDue()) {
      applyCommitted();
      continue;
    }
    if (migrationDue()) {
      busy = true;
      const pending = migrations.shift()!;
      try {
        await traced('issue.migrate', pending.cause, () => migrate(pending));
      } finally {
        busy = false;
      }
      continue;
    }
    const item = inbox.shift();
    if (!item) {
      // Long-lived issues start a fresh history, carrying their state and the time left on each timer; a migrated
      // issue goes on with its new version. Waiting may admit a new event: then it is handled first, never dropped
      // by the new run.
      await Promise.all(background);
      await condition(() => allHandlersFinished() || inbox.length > 0 || committedDue() || migrationDue());
      if (inbox.length > 0 || committedDue() || migrationDue()) continue;
      const now = Date.now();
      return continueAsNew<typeof issueWorkflow>({
        ...input,
        type,
        ...(migratedBy ? { migrationId: migratedBy } : {}),
        carried: {
          value: snapshot.value,
          context: snapshot.context,
          step: stepNo,
          timers: [...timers].map(([id, t]) => ({ id, event: { type: t.event.type }, remainingMs: Math.max(0, t.fireAt - now) })),
          // Messages of steps that do not follow yet (an earlier shuffle's message is still on its way).
          ...(committedElsewhere.length > 0 ? { committed: committedElsewhere } : {}),
        },
      });
    }
    busy = true;
    const { event, settle } = item;
    const stepBefore = stepNo;
    try {
      // Checked again: an earlier event in the inbox may have changed the state since validation.
      const refused = settle && refusal(event as SendEventInput);
      if (refused) settle.reject(refused);
      else {
        // In the trace of the update or signal that brought the event; a timer's event starts a trace of its own.
        await traced(`issue.settle ${event.type}`, item.cause, () => settleAfter(event));
        settle?.resolve(view(event.actor ?? systemActor, true));
      }
    } catch (error) {
      if (isStepTaken(error)) {
        // The batch's steps come first; an event none of whose steps committed is then taken again on top of them.
        await waitForCommittedSteps();
        if (stepNo === stepBefore) inbox.unshift(item);
        else settle?.resolve(view(event.actor ?? systemActor, true));
        continue;
      }
      settle?.reject(error);
      if (!recoverFrom(error)) throw error;
    } finally {
      busy = false;
    }
  }
  // Events admitted in the same activation as the one that finished the issue (e.g. a shuffle racing a
  // completion) are refused now; left waiting, their updates would keep the issue from ever finishing.
  for (const { event, settle } of inbox.splice(0)) settle?.reject(refusal(event as SendEventInput));
  for (const { reject } of migrations.splice(0)) reject(migrationRefused('Issue.MigrationSkipped', `the issue is ${stateName(snapshot.value)}: finished`));
  for (const { scope } of timers.values()) scope.cancel();
  await Promise.all(background);
  await condition(allHandlersFinished);
  return view(systemActor);
}
