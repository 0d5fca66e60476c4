// The fixed catalog that issue-type statecharts refer to by name. Every entry validates its params
// with zod when a type is saved, so a bad reference never reaches a running issue.
import { z } from 'zod';
import type { Role } from '../../db/schema/auth.js';
import type { ContextName } from '../../lib/config.js';

export const roleNames = ['admin', 'manager', 'accountant', 'worker', 'reviewer', 'client'] as const satisfies readonly Role[];
const RoleName = z.enum(roleNames);
const Field = z.string().regex(/^[A-Za-z_][\w]*$/, 'a context field name (letters, digits, _)');
const Topic = z.string().min(1).max(200);

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

interface GuardArgs {
  context: IssueContext;
  event: IssueEvent;
}

const noParams = z.undefined().or(z.strictObject({}));

export const guards = {
  /** The sender is the issue's assignee (`context.assigneeId`). */
  isAssignee: { params: noParams, test: ({ context, event }: GuardArgs) => !!event.actor && event.actor.id === context.assigneeId },
  /** The sender is the user whose id is in the named context field (e.g. `reviewerId`, `clientId`). */
  isUser: {
    params: z.strictObject({ field: Field }),
    test: ({ context, event }: GuardArgs, params: { field: string }) => !!event.actor && event.actor.id === context[params.field],
  },
  /** The sender has one of the roles. */
  hasRole: {
    params: z.strictObject({ roles: z.array(RoleName).min(1) }),
    test: ({ event }: GuardArgs, params: { roles: string[] }) => !!event.actor && params.roles.includes(event.actor.role),
  },
  /** A context field equals a value. */
  contextEquals: {
    params: z.strictObject({ field: Field, value: z.union([z.string(), z.number(), z.boolean(), z.null()]) }),
    test: ({ context }: GuardArgs, params: { field: string; value: unknown }) => (context[params.field] ?? null) === params.value,
  },
} as const;

/** Context actions change the context inside the transition (pure; see machine.ts). */
export const contextActions = {
  /** Sets fields; values may be expressions such as "$event.data.comment". */
  set: { params: z.record(Field, z.unknown()).refine((p) => Object.keys(p).length > 0, 'set at least one field') },
  /** Adds `by` (default 1) to a numeric field (missing counts as 0). */
  increment: { params: z.strictObject({ field: Field, by: z.number().int().default(1) }) },
  /** A random integer in [min, max] that is a multiple of `step`: deterministic on replay. */
  setRandomInt: {
    params: z
      .strictObject({ field: Field, min: z.number().int(), max: z.number().int(), step: z.number().int().positive().default(1) })
      .refine((p) => p.min <= p.max, 'min must not exceed max'),
  },
  /** Appends a value (may be an expression) to an array field (missing counts as empty), e.g. the workers already asked. */
  append: { params: z.strictObject({ field: Field, value: z.unknown() }) },
} as const;

/** Input every effect activity receives; `key` is unique per effect run and stable across retries. */
export interface EffectInput<P = Record<string, unknown>> {
  key: string;
  issueId: string;
  issueType: string;
  params: P;
  context: IssueContext;
}

/** Effects an issue may ask for, each run as an activity on its context's task queue. */
export const effects = {
  /** Picks a random active user of the role; answers `assignee.assigned {userId}` or `assignee.unavailable`. */
  assignRandomUser: {
    context: 'issues',
    params: z.strictObject({ role: RoleName, excludeFields: z.array(Field).default([]) }),
    answers: ['assignee.assigned', 'assignee.unavailable'],
  },
  /** Charges the assignee `context.assignFeeCents` (a negative ledger entry). */
  chargeAssignFee: { context: 'billing', params: noParams, answers: [] },
  /** Credits the assignee `context.rewardCents`. */
  payReward: { context: 'billing', params: noParams, answers: [] },
  /** In-app notification, SSE push and e-mail to the users in the `to` context fields and/or every active user of `roles`. */
  notify: {
    context: 'notifications',
    params: z
      .strictObject({
        to: z.array(Field).default([]),
        roles: z.array(RoleName).default([]),
        kind: z.string().min(1).max(100),
        title: z.string().min(1).max(300),
        body: z.string().max(2000).default(''),
      })
      .refine((p) => p.to.length + p.roles.length > 0, 'name recipients in `to` (context fields) or `roles`'),
    answers: [],
  },
  /** Subscribes the issue to a topic; anything published there arrives as an event. */
  subscribe: { context: 'issues', params: z.strictObject({ topic: Topic }), answers: [] },
  unsubscribe: { context: 'issues', params: z.strictObject({ topic: Topic }), answers: [] },
  /**
   * Reads `context.serviceId` from the service catalog and the configured service SLAs; answers
   * `service.described {serviceName, priceCents, commissionCents, workerCreditCents, offerSla, reviewWindow}`,
   * or `service.inactive {reason}` for an unknown or inactive service.
   */
  describeService: { context: 'services', params: noParams, answers: ['service.described', 'service.inactive'] },
  /**
   * Picks a random active worker qualified for `context.serviceId` and not in `context.offeredWorkerIds`;
   * answers `offer.made {workerId}` or `offer.none`.
   */
  offerService: { context: 'services', params: noParams, answers: ['offer.made', 'offer.none'] },
  /** Records the client's review (`context.rating`, `context.reviewComment`) of `context.assigneeId`'s work, once per issue. */
  recordReview: { context: 'services', params: noParams, answers: [] },
  /** Charges `context.clientId` the service price `context.priceCents` (a negative `service_charge`), once per issue. */
  chargeClient: { context: 'billing', params: noParams, answers: [] },
  /** Credits the assignee `context.workerCreditCents` (the price minus the platform commission, `service_credit`), once per issue. */
  creditWorker: { context: 'billing', params: noParams, answers: [] },
  /** Creates the issue's inventory (one per issue) of `context.location` and `context.items`; answers `inventory.created {inventoryId}`. */
  createInventory: { context: 'inventory', params: noParams, answers: ['inventory.created'] },
  /** Closes the issue's inventory to edits; answers `inventory.closed {inventoryId}`. */
  closeInventory: { context: 'inventory', params: noParams, answers: ['inventory.closed'] },
  /** Opens a closed inventory to the performer's edits again (`started`); answers `inventory.reopened {inventoryId}`. */
  reopenInventory: { context: 'inventory', params: noParams, answers: ['inventory.reopened'] },
} as const satisfies Record<string, { context: ContextName; params: z.ZodType; answers: readonly string[] }>;

/** Appends a domain event in the same transaction that records the step (not an activity of its own). */
export const emitAction = {
  params: z.strictObject({
    name: z.string().regex(/^[a-z]+(\.[a-z_]+)+$/, 'a dotted lower-case name such as task.assigned'),
    version: z.number().int().positive(),
    data: z.record(z.string(), z.unknown()).default({}),
  }),
};
export type EmitParams = z.infer<typeof emitAction.params>;

export type EffectName = keyof typeof effects;
export type GuardName = keyof typeof guards;
export type ContextActionName = keyof typeof contextActions;

export const isEffect = (name: string): name is EffectName => Object.hasOwn(effects, name);

/** Events users send are plain words (`complete`); dotted names (`inventory.started`) come from the system. */
export const isSystemEventType = (type: string) => type.includes('.');
