// The fixed catalog that issue-type statecharts refer to by name: what a running issue needs of it (guard
// tests, context-action defaults, effect names, the actor and event types). Workflow code imports this file,
// and Temporal's sandbox instantiates every module the workflow bundle holds once per cached issue, so it
// stays free of zod and anything else only saving a type needs. Every entry validates its params with zod
// when a type is saved, so a bad reference never reaches a running issue: those schemas are in
// catalog-schemas.ts, which only the save-time validator (validate.ts) imports.
import type { Role } from '../../db/schema/auth.js';
import type { ContextName } from '../../lib/config.js';

export const roleNames = ['admin', 'manager', 'accountant', 'worker', 'reviewer', 'client'] as const satisfies readonly Role[];

/** Who sent an event: a user, or the issue's own machinery (effect answers, timers, topics). */
export interface Actor {
  id: string;
  role: Role | 'system';
}
export const systemActor: Actor = { id: 'system', role: 'system' };

export interface IssueEvent {
  type: string;
  data?: Record<string, unknown>;
  actor?: Actor;
}

export type IssueContext = Record<string, unknown>;

export interface GuardArgs {
  context: IssueContext;
  event: IssueEvent;
}

export const guards = {
  /** The sender is the issue's assignee (`context.assigneeId`). */
  isAssignee: { test: ({ context, event }: GuardArgs) => !!event.actor && event.actor.id === context.assigneeId },
  /** The sender is the user whose id is in the named context field (e.g. `reviewerId`, `clientId`). */
  isUser: {
    test: ({ context, event }: GuardArgs, params: { field: string }) => !!event.actor && event.actor.id === context[params.field],
  },
  /** The sender has one of the roles. */
  hasRole: {
    test: ({ event }: GuardArgs, params: { roles: string[] }) => !!event.actor && params.roles.includes(event.actor.role),
  },
  /** A context field equals a value. */
  contextEquals: {
    test: ({ context }: GuardArgs, params: { field: string; value: unknown }) => (context[params.field] ?? null) === params.value,
  },
} as const;

/** A guard as a definition names it: a catalog guard, or `and` / `or` / `not` over nested guards. */
export type GuardRef = string | { type: string; params?: unknown };

/** Combine guards: `and` and `or` over one or more, `not` over exactly one, each a catalog guard or a combinator. */
export const guardCombinators = ['and', 'or', 'not'] as const;
export type GuardCombinator = (typeof guardCombinators)[number];
export const isGuardCombinator = (type: string): type is GuardCombinator => (guardCombinators as readonly string[]).includes(type);

/** Tests a guard reference; saving checked every name and params, so each lookup finds its guard. */
export function testGuard(ref: GuardRef, args: GuardArgs): boolean {
  const { type, params } = typeof ref === 'string' ? { type: ref, params: undefined } : ref;
  if (isGuardCombinator(type)) {
    const nested = (params as { guards: GuardRef[] }).guards;
    if (type === 'and') return nested.every((guard) => testGuard(guard, args));
    if (type === 'or') return nested.some((guard) => testGuard(guard, args));
    return !testGuard(nested[0]!, args);
  }
  return (guards[type as GuardName].test as (args: GuardArgs, params: unknown) => boolean)(args, params);
}

/**
 * Context actions change the context inside the transition (pure; implemented in machine.ts). Stored
 * definitions leave the defaults out, so machine.ts applies them: the schemas fill in the same values.
 */
export const contextActions = {
  /** Sets fields; values may be expressions such as "$event.data.comment". */
  set: { defaults: {} },
  /** Adds `by` (default 1) to a numeric field (missing counts as 0). */
  increment: { defaults: { by: 1 } },
  /** A random integer in [min, max] that is a multiple of `step` (default 1): deterministic on replay. */
  setRandomInt: { defaults: { step: 1 } },
  /** Appends a value (may be an expression) to an array field (missing counts as empty), e.g. the workers already asked. */
  append: { defaults: {} },
} as const;

/** Input every effect activity receives; `key` is unique per effect run and stable across retries. */
export interface EffectInput<P = Record<string, unknown>> {
  key: string;
  issueId: string;
  issueType: string;
  params: P;
  context: IssueContext;
}

/**
 * Effects an issue may ask for, each run as an activity on its context's task queue, and the events each
 * answers with. Stored definitions leave the params' defaults out; each effect's runner applies them.
 */
export const effects = {
  /**
   * Picks a random active user of `role`, never one named in the `excludeFields` context fields (default none);
   * answers `assignee.assigned {userId}` or `assignee.unavailable`.
   */
  assignRandomUser: { context: 'issues', answers: ['assignee.assigned', 'assignee.unavailable'] },
  /** Charges the assignee `context.assignFeeCents` (a negative ledger entry). */
  chargeAssignFee: { context: 'billing', answers: [] },
  /** Credits the assignee `context.rewardCents`. */
  payReward: { context: 'billing', answers: [] },
  /**
   * In-app notification, SSE push and e-mail to the users in the `to` context fields and/or every active user
   * of `roles` (each default none, but not both empty), with `kind`, `title` and `body` (default '').
   */
  notify: { context: 'notifications', answers: [] },
  /** Subscribes the issue to a `topic`; anything published there arrives as an event. */
  subscribe: { context: 'issues', answers: [] },
  unsubscribe: { context: 'issues', answers: [] },
  /**
   * Reads `context.serviceId` from the service catalog and the configured service SLAs; answers
   * `service.described {serviceName, priceCents, commissionCents, workerCreditCents, offerSla, reviewWindow}`,
   * or `service.inactive {reason}` for an unknown or inactive service.
   */
  describeService: { context: 'services', answers: ['service.described', 'service.inactive'] },
  /**
   * Picks a random active worker qualified for `context.serviceId` and not in `context.offeredWorkerIds`;
   * answers `offer.made {workerId}` or `offer.none`.
   */
  offerService: { context: 'services', answers: ['offer.made', 'offer.none'] },
  /** Records the client's review (`context.rating`, `context.reviewComment`) of `context.assigneeId`'s work, once per issue. */
  recordReview: { context: 'services', answers: [] },
  /** Charges `context.clientId` the service price `context.priceCents` (a negative `service_charge`), once per issue. */
  chargeClient: { context: 'billing', answers: [] },
  /** Credits the assignee `context.workerCreditCents` (the price minus the platform commission, `service_credit`), once per issue. */
  creditWorker: { context: 'billing', answers: [] },
  /** Creates the issue's inventory (one per issue) of `context.location` and `context.items`; answers `inventory.created {inventoryId}`. */
  createInventory: { context: 'inventory', answers: ['inventory.created'] },
  /** Closes the issue's inventory to edits; answers `inventory.closed {inventoryId}`. */
  closeInventory: { context: 'inventory', answers: ['inventory.closed'] },
  /** Opens a closed inventory to the performer's edits again (`started`); answers `inventory.reopened {inventoryId}`. */
  reopenInventory: { context: 'inventory', answers: ['inventory.reopened'] },
} as const satisfies Record<string, { context: ContextName; answers: readonly string[] }>;

/**
 * `emit` appends a domain event in the same transaction that records the step (not an activity of its own):
 * a dotted lower-case `name` such as `task.assigned`, a positive `version`, and `data` (default {}).
 * catalog-schemas.ts checks that its schema parses to exactly this type.
 */
export interface EmitParams {
  name: string;
  version: number;
  data: Record<string, unknown>;
}

/** How a money effect moves money: whose account, how much, which way, and how its ledger entry reads. */
export interface MoneyEffect {
  /** The context field holding the account owner's user id. */
  userField: string;
  /** The context field holding the amount in integer cents. */
  amountField: string;
  /** The ledger entry's kind. */
  kind: 'assign_fee' | 'reward' | 'service_charge' | 'service_credit';
  /** -1: a charge to the account, +1: a credit. */
  sign: -1 | 1;
  /** The entry's description: this label, then the context field that names what it is for. */
  label: string;
  nameField: string;
}

/**
 * The money effects, one row each. Their user and amount fields are server-owned: an issue type may not let a
 * starter set them (`input.context`) nor copy event data into them (validate.ts refuses both).
 */
export const moneyEffects = {
  chargeAssignFee: { userField: 'assigneeId', amountField: 'assignFeeCents', kind: 'assign_fee', sign: -1, label: 'Assignment fee', nameField: 'title' },
  payReward: { userField: 'assigneeId', amountField: 'rewardCents', kind: 'reward', sign: 1, label: 'Reward', nameField: 'title' },
  chargeClient: { userField: 'clientId', amountField: 'priceCents', kind: 'service_charge', sign: -1, label: 'Service', nameField: 'serviceName' },
  creditWorker: { userField: 'assigneeId', amountField: 'workerCreditCents', kind: 'service_credit', sign: 1, label: 'Service performed', nameField: 'serviceName' },
} as const satisfies Partial<Record<keyof typeof effects, MoneyEffect>>;

export type MoneyEffectName = keyof typeof moneyEffects;

/**
 * Names a state, event or context field may not take: the properties every JavaScript object inherits
 * (`__proto__`, `constructor`, …), which a lookup by name would find on any object.
 */
export const reservedNames: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** The shortest `after` delay a type may declare: shorter ones only make an issue spin. */
export const minDelayMs = 1000;

/** `notify`'s params as stored: definitions leave the catalog's defaults out (`to`, `roles`, `body` may be missing). */
export interface NotifyParams {
  to?: string[];
  roles?: Role[];
  kind: string;
  title: string;
  body?: string;
}

/** What a `notify` effect sends: its recipients read from the context fields named in `to`, the defaults filled in. */
export function notification({ key, issueId, params, context }: EffectInput<NotifyParams>) {
  return {
    key,
    userIds: (params.to ?? []).map((field) => context[field]).filter((id): id is string => typeof id === 'string'),
    roles: params.roles ?? [],
    kind: params.kind,
    title: params.title,
    body: params.body ?? '',
    issueId,
  };
}

export type EffectName = keyof typeof effects;
export type GuardName = keyof typeof guards;
export type ContextActionName = keyof typeof contextActions;

/** What topics deliver: each is published by the product (an inventory started, a worker became available or qualified). */
export const topicEventTypes = ['inventory.started', 'worker.available', 'worker.qualified'] as const;
export type TopicEventType = (typeof topicEventTypes)[number];

/**
 * The events the product sends itself: every effect's answers, what topics deliver, an issue's first step
 * (`issue.created`) and a migration's step (`issue.migrated`). A type may handle them; no user may send them.
 */
export const systemEventTypes: ReadonlySet<string> = new Set([
  ...Object.values(effects).flatMap((effect) => effect.answers),
  ...topicEventTypes,
  'issue.created',
  'issue.migrated',
]);

/**
 * An event name: words of letters, digits and _ starting with a lower-case letter, dotted to group them
 * (`complete`, `legal.ok`). Names starting with `xstate.` are XState's own (timers, done events).
 */
export const eventTypePattern = /^[a-z][A-Za-z0-9_]*(\.[a-z][A-Za-z0-9_]*)*$/;

export const isSystemEventType = (type: string) => systemEventTypes.has(type) || type.startsWith('xstate.');

/** The one rule the validator and the API share: any event name a type may declare that the product does not send itself. */
export const isUserEventType = (type: string) =>
  eventTypePattern.test(type) && !isSystemEventType(type) && !type.split('.').some((part) => reservedNames.has(part));
