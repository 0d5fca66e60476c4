// The zod schemas every catalog entry validates its params with when a type is saved, so a bad reference never
// reaches a running issue. Only the save-time validator (validate.ts, called by the API) imports this file:
// workflow code must not, or zod lands in the workflow bundle and costs every cached issue its own copy
// (eslint.config.js and test/unit/workflow-bundle.test.ts keep it out). The entries themselves, with their
// documentation, are in catalog.ts; each table here is keyed by its names, so neither side can drift.
import { z } from 'zod';
import * as catalog from './catalog.js';
import type { ContextActionName, EffectName, EmitParams, GuardArgs, GuardName } from './catalog.js';

const RoleName = z.enum(catalog.roleNames);
const Field = z
  .string()
  .regex(/^[A-Za-z_][\w]*$/, 'a context field name (letters, digits, _)')
  .refine((name) => !catalog.reservedNames.has(name), 'a reserved name');
const Topic = z.string().min(1).max(200);

const noParams = z.undefined().or(z.strictObject({}));

/** What a guard's test takes as params: each schema must parse to something its test accepts. */
type GuardParams<K extends GuardName> = (typeof catalog.guards)[K]['test'] extends (args: GuardArgs, params: infer P) => boolean ? P : never;

export const guardParams = {
  isAssignee: noParams,
  isUser: z.strictObject({ field: Field }),
  hasRole: z.strictObject({ roles: z.array(RoleName).min(1) }),
  contextEquals: z.strictObject({ field: Field, value: z.union([z.string(), z.number(), z.boolean(), z.null()]) }),
} satisfies { [K in GuardName]: z.ZodType<GuardParams<K>> };

const { increment, setRandomInt } = catalog.contextActions;

export const contextActionParams = {
  set: z.record(Field, z.unknown()).refine((p) => Object.keys(p).length > 0, 'set at least one field'),
  increment: z.strictObject({ field: Field, by: z.number().int().default(increment.defaults.by) }),
  setRandomInt: z
    .strictObject({ field: Field, min: z.number().int(), max: z.number().int(), step: z.number().int().positive().default(setRandomInt.defaults.step) })
    .refine((p) => p.min <= p.max, 'min must not exceed max'),
  append: z.strictObject({ field: Field, value: z.unknown() }),
} satisfies Record<ContextActionName, z.ZodType>;

export const effectParams = {
  assignRandomUser: z.strictObject({ role: RoleName, excludeFields: z.array(Field).default([]) }),
  chargeAssignFee: noParams,
  payReward: noParams,
  notify: z
    .strictObject({
      to: z.array(Field).default([]),
      roles: z.array(RoleName).default([]),
      kind: z.string().min(1).max(100),
      title: z.string().min(1).max(300),
      body: z.string().max(2000).default(''),
    })
    .refine((p) => p.to.length + p.roles.length > 0, 'name recipients in `to` (context fields) or `roles`'),
  subscribe: z.strictObject({ topic: Topic }),
  unsubscribe: z.strictObject({ topic: Topic }),
  describeService: noParams,
  offerService: noParams,
  recordReview: noParams,
  chargeClient: noParams,
  creditWorker: noParams,
  createInventory: noParams,
  closeInventory: noParams,
  reopenInventory: noParams,
} satisfies Record<EffectName, z.ZodType>;

const emitParams = z.strictObject({
  name: z.string().regex(/^[a-z]+(\.[a-z_]+)+$/, 'a dotted lower-case name such as task.assigned'),
  version: z.number().int().positive(),
  data: z.record(z.string(), z.unknown()).default({}),
});
/** The schema parses to exactly catalog.ts's EmitParams, which the workflow and the step activity use. */
const _emitParamsMatch: [z.infer<typeof emitParams>, EmitParams] extends [EmitParams, z.infer<typeof emitParams>] ? true : never = true;

/** Each catalog entry with its params' schema: what validate.ts checks a definition against. */
const withParams = <C extends Record<string, object>, P extends { [K in keyof C]: z.ZodType }>(entries: C, params: P) =>
  Object.fromEntries(Object.entries(entries).map(([name, entry]) => [name, { ...entry, params: (params as Record<string, z.ZodType>)[name] }])) as {
    [K in keyof C]: C[K] & { params: P[K] };
  };

export const guards = withParams(catalog.guards, guardParams);
export const contextActions = withParams(catalog.contextActions, contextActionParams);
export const effects = withParams(catalog.effects, effectParams);
/** Appends a domain event in the same transaction that records the step (not an activity of its own). */
export const emitAction = { params: emitParams };
