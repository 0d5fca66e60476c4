// What a starter may put into a new issue's context and what each user event may carry, as an issue type
// declares it (JSON Schema), checked when the type is saved and applied on every start and event. Everything
// else in the context is server-owned: money fields above all.
import { z } from 'zod';
import type { Role } from '../db/schema/auth.js';
import { moneyFields, roleNames } from '../workflows/statechart/catalog.js';
import type { DefinitionError } from '../workflows/statechart/validate.js';
import { problems, validationProblem } from './problem.js';

/** An object's JSON Schema: its `properties` are the only keys a caller may send. */
export type ObjectSchema = Record<string, unknown> & { type: 'object'; properties?: Record<string, unknown> };

export interface TypeInput {
  /** Who may start an issue of the type; every role when left out. */
  startRoles?: Role[];
  /** What a starter may put in the initial context; nothing when left out. */
  context?: ObjectSchema;
  /** What each user event's `data` may hold, by event type; an event left out takes no data. */
  events?: Record<string, ObjectSchema>;
}

const JsonSchema = z.record(z.string(), z.unknown());
export const TypeInputSchema = z
  .object({
    startRoles: z.array(z.enum(roleNames)).min(1).optional(),
    context: JsonSchema.optional(),
    events: z.record(z.string().regex(/^[a-z][A-Za-z0-9_]*$/, 'an event a user can send'), JsonSchema).optional(),
  })
  .strict();

/** The zod schema of a declared object schema; throws when zod cannot read it. */
export const schemaOf = (schema: ObjectSchema): z.ZodType => z.fromJSONSchema(schema as never);

function checkObjectSchema(path: string, schema: Record<string, unknown>, fail: (path: string, message: string) => void): void {
  if (schema.type !== 'object') return fail(`${path}.type`, 'must be "object"');
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) {
    return fail(`${path}.additionalProperties`, 'must be false or left out: a key not listed in `properties` is server-owned');
  }
  if (schema.patternProperties !== undefined) return fail(`${path}.patternProperties`, 'list each key in `properties`');
  try {
    schemaOf({ ...schema, type: 'object', additionalProperties: false });
  } catch (error) {
    fail(path, `is not a JSON Schema this API can check: ${(error as Error).message}`);
  }
}

/** Every action object of the definition with its JSON path (entry, exit and transition actions at any depth). */
function actionsOf(definition: unknown): { path: string; action: Record<string, unknown> }[] {
  const found: { path: string; action: Record<string, unknown> }[] = [];
  const pending: { value: unknown; path: string; inActions: boolean }[] = [{ value: definition, path: '', inActions: false }];
  while (pending.length > 0) {
    const { value, path, inActions } = pending.pop()!;
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]`, inActions }));
    } else if (value && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      if (inActions && typeof object.type === 'string') {
        found.push({ path, action: object });
        continue;
      }
      for (const [key, child] of Object.entries(object)) {
        pending.push({ value: child, path: path ? `${path}.${key}` : key, inActions: key === 'entry' || key === 'exit' || key === 'actions' });
      }
    }
  }
  return found;
}

/** Whether a `set` value is caller-controlled: an expression on the event, or on a context field a starter sets. */
const callerControlled = (value: unknown, starterFields: string[]): boolean => {
  const text = JSON.stringify(value ?? null);
  if (/\$event\b|\{\{\s*event\b/.test(text)) return true;
  const escaped = (field: string) => field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return starterFields.some((field) => new RegExp(`\\$context\\.${escaped(field)}\\b|\\{\\{\\s*context\\.${escaped(field)}\\b`).test(text));
};

/**
 * Checks a type's declared input against its definition. Paths start with `input.` (the declaration) or name the
 * definition's action (`states.open.on.go.actions[0]`) where the definition copies event data into money.
 */
export function validateInput(definition: unknown, input: TypeInput | undefined): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const fail = (path: string, message: string) => errors.push({ path, message });
  if (input?.context) checkObjectSchema('input.context', input.context, fail);
  for (const [event, schema] of Object.entries(input?.events ?? {})) checkObjectSchema(`input.events.${event}`, schema, fail);

  const actions = actionsOf(definition);
  const moneyRead = new Map<string, string>();
  for (const { action } of actions) {
    if (!Object.hasOwn(moneyFields, action.type as string)) continue;
    const fields = moneyFields[action.type as keyof typeof moneyFields];
    moneyRead.set(fields.userField, action.type as string).set(fields.amountField, action.type as string);
  }
  for (const [field, effect] of moneyRead) {
    if (input?.context?.properties && Object.hasOwn(input.context.properties, field)) {
      fail(`input.context.properties.${field}`, `is read by ${effect}: money fields are server-owned, a starter may not set them`);
    }
  }
  const starterFields = Object.keys(input?.context?.properties ?? {});
  for (const { path, action } of actions) {
    const params = action.params;
    if (!params || typeof params !== 'object') continue;
    if (action.type === 'set') {
      for (const [field, value] of Object.entries(params as Record<string, unknown>)) {
        if (moneyRead.has(field) && callerControlled(value, starterFields)) {
          fail(`${path}.params.${field}`, `copies what a caller sent into ${field}, which ${moneyRead.get(field)} reads: money fields are server-owned`);
        }
      }
    } else if (action.type === 'append') {
      const { field } = params as { field?: unknown };
      if (typeof field === 'string' && moneyRead.has(field)) fail(`${path}.params.field`, `appends to ${field}, which ${moneyRead.get(field)} reads: money fields are server-owned`);
    }
  }
  return errors;
}

/** A saved type as the checks below need it. */
interface SavedType {
  key: string;
  version: number;
  input: unknown;
}

/** Compiled schemas by type key, version and part: a version's input never changes. */
const compiled = new Map<string, z.ZodType>();
const compiledOf = (type: SavedType, part: string, schema: ObjectSchema): z.ZodType => {
  const cacheKey = `${type.key}@${type.version}:${part}`;
  let found = compiled.get(cacheKey);
  if (!found) {
    found = schemaOf({ ...schema, additionalProperties: false });
    if (compiled.size >= 1000) compiled.delete(compiled.keys().next().value!);
    compiled.set(cacheKey, found);
  }
  return found;
};

/** Refuses a start the type's declaration does not allow: 403 for the starter's role, 422 naming each context key. */
export function checkStart(type: SavedType, role: Role, context: Record<string, unknown>): void {
  const input = (type.input ?? {}) as TypeInput;
  if (input.startRoles && !input.startRoles.includes(role)) {
    throw problems.forbidden(`only ${input.startRoles.join(' or ')} users start a ${type.key}; you are ${role}`);
  }
  checkValues(type, 'context', input.context, context, 'body.context', `${type.key} takes no initial context (its type declares none)`);
}

/** Refuses event data the type's declaration does not allow: 422 naming each key. */
export function checkEventData(type: SavedType, event: string, data: Record<string, unknown>): void {
  const events = ((type.input ?? {}) as TypeInput).events ?? {};
  const schema = Object.hasOwn(events, event) ? events[event] : undefined;
  checkValues(type, `event:${event}`, schema, data, 'body.data', `"${event}" carries no data (its type declares none)`);
}

function checkValues(type: SavedType, part: string, schema: ObjectSchema | undefined, values: Record<string, unknown>, where: string, undeclared: string): void {
  if (!schema) {
    const issues = Object.keys(values).map((key) => ({ code: 'custom', path: [key], message: undeclared, input: values[key] }) as z.core.$ZodIssue);
    if (issues.length > 0) throw validationProblem(where, new z.ZodError(issues));
    return;
  }
  const parsed = compiledOf(type, part, schema).safeParse(values);
  if (!parsed.success) throw validationProblem(where, parsed.error);
}
