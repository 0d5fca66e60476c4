// The one generic issue workflow: interprets the issue type's pinned statechart. XState computes each
// step purely; this workflow runs the step's effects as activities, its `after` delays as durable timers,
// and records every step in the read model before running its effects.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  allHandlersFinished,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnyMachineSnapshot } from 'xstate';
import type { BillingActivities, InventoryActivities, IssueActivities, NotificationActivities, ServiceActivities } from '../activities/types.js';
import {
  deliverSignal,
  issueQuery,
  sendEventUpdate,
  settledUpdate,
  type IssueView,
  type IssueWorkflowInput,
  type SendEventInput,
} from './messages.js';
import { activityPolicies } from './policies.js';
import { AssigneeIdKey, IssueStateKey } from './search-attributes.js';
import { isSystemEventType, systemActor, type Actor, type EffectInput, type EmitParams, type IssueEvent } from './statechart/catalog.js';
import { resolveExpressions } from './statechart/expressions.js';
import { allowedEvents, buildMachine, handledEventTypes, restore, start, stateName, step, type StepAction } from './statechart/machine.js';
import { taskQueues } from './task-queues.js';

const records = proxyLocalActivities<IssueActivities>(activityPolicies.readModel);
const issueEffects = proxyActivities<IssueActivities>({ taskQueue: taskQueues.issues, ...activityPolicies.effect });
const ledger = proxyActivities<BillingActivities>({ taskQueue: taskQueues.billing, ...activityPolicies.ledger });
const notifications = proxyActivities<NotificationActivities>({ taskQueue: taskQueues.notifications, ...activityPolicies.notification });
const inventoryEffects = proxyActivities<InventoryActivities>({ taskQueue: taskQueues.inventory, ...activityPolicies.inventory });
const serviceEffects = proxyActivities<ServiceActivities>({ taskQueue: taskQueues.services, ...activityPolicies.services });

type EffectRunner = (input: EffectInput<never>) => Promise<IssueEvent | void>;

const userId = (value: unknown): string => {
  if (typeof value !== 'string') throw ApplicationFailure.nonRetryable(`expected a user id, got ${JSON.stringify(value)}`, 'Issue.BadContext');
  return value;
};
const cents = (value: unknown): number => {
  if (!Number.isSafeInteger(value)) throw ApplicationFailure.nonRetryable(`expected integer cents, got ${JSON.stringify(value)}`, 'Issue.BadContext');
  return value as number;
};

/** How each catalog effect runs; see workflows/statechart/catalog.ts for their params. */
const effectRunners: Record<string, EffectRunner> = {
  assignRandomUser: (input) => issueEffects.assignRandomUser(input),
  subscribe: async (input) => void (await issueEffects.subscribe(input)),
  unsubscribe: async (input) => void (await issueEffects.unsubscribe(input)),
  chargeAssignFee: async ({ key, issueId, context }: EffectInput) =>
    void (await ledger.recordLedgerEntry({
      key,
      userId: userId(context.assigneeId),
      kind: 'assign_fee',
      amountCents: -cents(context.assignFeeCents),
      issueId,
      description: `Assignment fee: ${String(context.title ?? issueId)}`,
    })),
  payReward: async ({ key, issueId, context }: EffectInput) =>
    void (await ledger.recordLedgerEntry({
      key,
      userId: userId(context.assigneeId),
      kind: 'reward',
      amountCents: cents(context.rewardCents),
      issueId,
      description: `Reward: ${String(context.title ?? issueId)}`,
    })),
  describeService: (input) => serviceEffects.describeService(input),
  offerService: (input) => serviceEffects.offerService(input),
  recordReview: (input) => serviceEffects.recordReview(input),
  chargeClient: async ({ key, issueId, context }: EffectInput) =>
    void (await ledger.recordLedgerEntry({
      key,
      userId: userId(context.clientId),
      kind: 'service_charge',
      amountCents: -cents(context.priceCents),
      issueId,
      description: `Service: ${String(context.serviceName ?? issueId)}`,
    })),
  creditWorker: async ({ key, issueId, context }: EffectInput) => {
    const credit = cents(context.workerCreditCents);
    // A 100% commission leaves nothing to credit, and the ledger holds no zero entries.
    if (credit === 0) return;
    await ledger.recordLedgerEntry({
      key,
      userId: userId(context.assigneeId),
      kind: 'service_credit',
      amountCents: credit,
      issueId,
      description: `Service performed: ${String(context.serviceName ?? issueId)}`,
    });
  },
  createInventory: (input) => inventoryEffects.createInventory(input),
  closeInventory: (input) => inventoryEffects.closeInventory(input),
  reopenInventory: (input) => inventoryEffects.reopenInventory(input),
  // Stored definitions leave the catalog's defaults out (`to`, `roles`, `body` may be missing).
  notify: async ({ key, issueId, params, context }: EffectInput<{ to?: string[]; roles?: never[]; kind: string; title: string; body?: string }>) =>
    void (await notifications.notify({
      key,
      userIds: (params.to ?? []).map((field) => context[field]).filter((id): id is string => typeof id === 'string'),
      roles: params.roles ?? [],
      kind: params.kind,
      title: params.title,
      body: params.body ?? '',
      issueId,
    })),
};

/** Effects whose failure or slowness must not hold up the issue: they run beside the next steps. Service billing
 *  is asynchronous by design (seed 002): it never holds up the request, yet the issue finishes only once it has run. */
const backgroundEffects = new Set(['notify', 'chargeClient', 'creditWorker']);

interface Inbox {
  event: IssueEvent;
  /** Set for user events sent by update: the update answers when the step has settled. */
  settle?: { resolve: (view: IssueView) => void; reject: (error: unknown) => void };
}

export async function issueWorkflow(input: IssueWorkflowInput): Promise<IssueView> {
  const { issueId, type, title, creator } = input;
  const machine = buildMachine(type.definition, { id: issueId, type: type.key });
  // The snapshot exists before any handler is set: updates buffered for a new run are validated at once.
  let snapshot: AnyMachineSnapshot;
  let initialActions: StepAction[] = [];
  if (input.carried) snapshot = restore(machine, input.carried.value as never, input.carried.context);
  else [snapshot, initialActions] = start(machine, input.context);
  let stepNo = input.carried?.step ?? 0;
  let busy = true;
  const inbox: Inbox[] = [];
  const timers = new Map<string, { scope: CancellationScope; event: IssueEvent; fireAt: number }>();
  const background = new Set<Promise<void>>();

  const assigneeId = () => (typeof snapshot.context.assigneeId === 'string' ? snapshot.context.assigneeId : null);
  const view = (actor: Actor): IssueView => ({
    id: issueId,
    type: type.key,
    version: type.version,
    title,
    state: stateName(snapshot.value),
    status: snapshot.status === 'done' ? 'done' : 'active',
    context: snapshot.context,
    assigneeId: assigneeId(),
    creatorId: creator.id,
    step: stepNo,
    allowedEvents: busy ? [] : allowedEvents(snapshot, actor),
  });

  /** Why a user event cannot be taken now, as the failure the API maps to 409 or 403. */
  const refusal = (event: SendEventInput): ApplicationFailure | undefined => {
    if (isSystemEventType(event.type) || event.type.startsWith('xstate.')) {
      return ApplicationFailure.nonRetryable(`"${event.type}" is a system event`, 'Issue.EventNotAllowed');
    }
    if (snapshot.status !== 'active' || !handledEventTypes(snapshot).includes(event.type)) {
      return ApplicationFailure.nonRetryable(`"${event.type}" is not allowed in state ${stateName(snapshot.value)}`, 'Issue.EventNotAllowed');
    }
    if (!snapshot.can({ type: event.type, data: event.data ?? {}, actor: event.actor })) {
      return ApplicationFailure.nonRetryable(`you may not send "${event.type}" to this issue now`, 'Issue.GuardRejected');
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

  const runEffect = async (action: Extract<StepAction, { kind: 'effect' }>, key: string): Promise<IssueEvent | void> => {
    const runner = effectRunners[action.type];
    if (!runner) return; // `emit` is recorded with the step
    const effectInput: EffectInput = {
      key,
      issueId,
      issueType: type.key,
      params: resolveExpressions((action.params ?? {}) as Record<string, unknown>, {
        context: action.context,
        event: action.event,
        issue: { id: issueId, type: type.key },
      }),
      context: action.context,
    };
    const run = runner(effectInput as never);
    if (!backgroundEffects.has(action.type)) return run;
    const tracked: Promise<void> = run.then(
      () => void background.delete(tracked),
      (error) => {
        background.delete(tracked);
        log.error(`background effect ${action.type} failed`, { issueId, key, error: String(error) });
      },
    );
    background.add(tracked);
  };

  /** Applies one step's outcome: record it, then its timers and effects in order; answers are queued. */
  const apply = async (from: string | null, event: IssueEvent, actions: StepAction[], answers: IssueEvent[]) => {
    stepNo++;
    const thisStep = stepNo;
    const emits = actions.flatMap((a) =>
      a.kind === 'effect' && a.type === 'emit'
        ? [resolveExpressions(a.params as EmitParams, { context: a.context, event: a.event, issue: { id: issueId, type: type.key } })]
        : [],
    );
    await records.recordStep({
      issueId,
      type: { key: type.key, version: type.version },
      title,
      creatorId: creator.id,
      step: thisStep,
      from,
      event: { type: event.type, actor: event.actor ?? systemActor },
      to: stateName(snapshot.value),
      status: snapshot.status === 'done' ? 'done' : 'active',
      context: snapshot.context,
      assigneeId: assigneeId(),
      emits,
    });
    upsertSearchAttributes([
      { key: IssueStateKey, value: stateName(snapshot.value) },
      { key: AssigneeIdKey, value: assigneeId() },
    ]);
    for (const [index, action] of actions.entries()) {
      if (action.kind === 'schedule') schedule(action.id, action.event, action.delayMs);
      else if (action.kind === 'cancel') {
        timers.get(action.id)?.scope.cancel();
        timers.delete(action.id);
      } else {
        const answer = await runEffect(action, `${issueId}:${thisStep}:${index}`);
        if (answer) answers.push({ ...answer, actor: systemActor });
      }
    }
  };

  /** Feeds one event in and keeps going until no effect answer is left: the issue has settled. */
  const settleAfter = async (first: IssueEvent) => {
    const queue = [first];
    for (let event = queue.shift(); event; event = queue.shift()) {
      const [next, actions] = step(machine, snapshot, event);
      if (next === snapshot) continue; // nothing handles it (e.g. a late delivery after the state was left)
      const from = stateName(snapshot.value);
      snapshot = next;
      await apply(from, event, actions, queue);
    }
  };

  setHandler(issueQuery, (actor) => view(actor));
  setHandler(settledUpdate, async (actor) => {
    await condition(() => !busy);
    return view(actor);
  });
  setHandler(
    sendEventUpdate,
    (event) => new Promise<IssueView>((resolve, reject) => inbox.push({ event, settle: { resolve, reject } })),
    {
      validator: (event) => {
        // A system event that arrived first but is not applied yet (a topic delivery, a timer in the same activation)
        // may be what allows this one (a `close` right after the inventory's start): the main loop decides after it.
        if (inbox.some((item) => !item.settle)) return;
        const refused = refusal(event);
        if (refused) throw refused;
      },
    },
  );
  setHandler(deliverSignal, ({ type: eventType, data }) => {
    inbox.push({ event: { type: eventType, data, actor: systemActor } });
  });

  if (input.carried) {
    for (const timer of input.carried.timers) schedule(timer.id, timer.event, timer.remainingMs);
  } else {
    const answers: IssueEvent[] = [];
    await apply(null, { type: 'issue.created', actor: creator }, initialActions, answers);
    for (const answer of answers) await settleAfter(answer);
  }
  busy = false;

  while (snapshot.status === 'active') {
    await condition(() => inbox.length > 0 || workflowInfo().continueAsNewSuggested);
    const item = inbox.shift();
    if (!item) {
      // Long-lived issues start a fresh history, carrying their state and the time left on each timer.
      // Waiting may admit a new event: then it is handled first, never dropped by the new run.
      await Promise.all(background);
      await condition(() => allHandlersFinished() || inbox.length > 0);
      if (inbox.length > 0) continue;
      const now = Date.now();
      return continueAsNew<typeof issueWorkflow>({
        ...input,
        carried: {
          value: snapshot.value,
          context: snapshot.context,
          step: stepNo,
          timers: [...timers].map(([id, t]) => ({ id, event: { type: t.event.type }, remainingMs: Math.max(0, t.fireAt - now) })),
        },
      });
    }
    busy = true;
    const { event, settle } = item;
    try {
      // Checked again: an earlier event in the inbox may have changed the state since validation.
      const refused = settle && refusal(event as SendEventInput);
      if (refused) settle.reject(refused);
      else {
        await settleAfter(event);
        settle?.resolve(view(event.actor ?? systemActor));
      }
    } catch (error) {
      settle?.reject(error);
      throw error;
    } finally {
      busy = false;
    }
  }
  // Events admitted in the same activation as the one that finished the issue (e.g. a shuffle racing a
  // completion) are refused now; left waiting, their updates would keep the issue from ever finishing.
  for (const { event, settle } of inbox.splice(0)) settle?.reject(refusal(event as SendEventInput));
  for (const { scope } of timers.values()) scope.cancel();
  await Promise.all(background);
  await condition(allHandlersFinished);
  return view(systemActor);
}
