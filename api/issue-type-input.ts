// What a starter may put into a new issue's context and what each user event may carry, as an issue type
// declares it (JSON Schema), checked when the type is saved and applied on every start and event. Everything
// else in the context is server-owned: money fields above all.
import { z } from 'zod';
import type { Role } from '../db/schema/auth.js';
import { isSystemEventType, moneyEffects, roleNames } from '../workflows/statechart/catalog.js';
import type { DefinitionError } from '../workflows/statechart/validate.js';
import { problems, validationProblem } from './problem.js';

/** An object's JSON Schema: its `properties` are the only keys a caller may send. */
export type ObjectSchema = Record<string, unknown> & { type: 'object'; properties?: Record<string, unknown> };

export interface TypeInput {
  /** Who may start an issue of the type; every role when left out. */
  startRoles?: Role[];
  /** What the issue's title must be beyond any title's rules (a JSON Schema of type string). */
  title?: Record<string, unknown>;
  /** What a starter may put in the initial context; nothing when left out. */
  context?: ObjectSchema;
  /** What each user event's `data` may hold, by event type; an event left out takes no data. */
  events?: Record<string, ObjectSchema>;
}

const JsonSchema = z.record(z.string(), z.unknown());
export const TypeInputSchema = z
  .object({
    startRoles: z.array(z.enum(roleNames)).min(1).optional(),
    title: JsonSchema.optional(),
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

/** An action of the definition, with its JSON path and the event of the transition it belongs to, if any. */
interface FoundAction {
  path: string;
  action: Record<string, unknown>;
  /** The `on` key the action's transition answers; undefined for entry, exit, `always` and `after` actions. */
  event?: string;
}

/** Every action object of the definition (entry, exit and transition actions at any depth). */
function actionsOf(definition: unknown): FoundAction[] {
  const found: FoundAction[] = [];
  type Pending = { value: unknown; path: string; inActions: boolean; onMap: boolean; event?: string };
  const pending: Pending[] = [{ value: definition, path: '', inActions: false, onMap: false }];
  while (pending.length > 0) {
    const { value, path, inActions, onMap, event } = pending.pop()!;
    if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]`, inActions, onMap: false, event }));
    } else if (value && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      if (inActions && typeof object.type === 'string') {
        found.push({ path, action: object, event });
        continue;
      }
      for (const [key, child] of Object.entries(object)) {
        pending.push({
          value: child,
          path: path ? `${path}.${key}` : key,
          inActions: key === 'entry' || key === 'exit' || key === 'actions',
          onMap: key === 'on',
          // A state's own entry and exit run for whatever event entered or left it: no event of their own.
          event: onMap ? key : key === 'entry' || key === 'exit' || key === 'states' ? undefined : event,
        });
      }
    }
  }
  return found;
}

/**
 * Whether a `set` value is caller-controlled: an expression on the event (unless the transition answers a system
 * event, whose data the product itself sends: an effect's answer, a timer), or on a context field a starter sets.
 */
const callerControlled = (value: unknown, starterFields: string[], event: string | undefined): boolean => {
  const text = JSON.stringify(value ?? null);
  if (/\$event\b|\{\{\s*event\b/.test(text) && !(event !== undefined && isSystemEventType(event))) return true;
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
  if (input?.title) {
    if (input.title.type !== 'string') fail('input.title.type', 'must be "string"');
    else {
      try {
        z.fromJSONSchema(input.title as never);
      } catch (error) {
        fail('input.title', `is not a JSON Schema this API can check: ${(error as Error).message}`);
      }
    }
  }
  if (input?.context) checkObjectSchema('input.context', input.context, fail);
  for (const [event, schema] of Object.entries(input?.events ?? {})) checkObjectSchema(`input.events.${event}`, schema, fail);

  const actions = actionsOf(definition);
  const moneyRead = new Map<string, string>();
  for (const { action } of actions) {
    if (!Object.hasOwn(moneyEffects, action.type as string)) continue;
    const fields = moneyEffects[action.type as keyof typeof moneyEffects];
    moneyRead.set(fields.userField, action.type as string).set(fields.amountField, action.type as string);
  }
  for (const [field, effect] of moneyRead) {
    if (input?.context?.properties && Object.hasOwn(input.context.properties, field)) {
      fail(`input.context.properties.${field}`, `is read by ${effect}: money fields are server-owned, a starter may not set them`);
    }
  }
  const starterFields = Object.keys(input?.context?.properties ?? {});
  for (const { path, action, event } of actions) {
    const params = action.params;
    if (!params || typeof params !== 'object') continue;
    if (action.type === 'set') {
      for (const [field, value] of Object.entries(params as Record<string, unknown>)) {
        if (moneyRead.has(field) && callerControlled(value, starterFields, event)) {
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
const compiledOf = (type: SavedType, part: string, schema: Record<string, unknown>): z.ZodType => {
  const cacheKey = `${type.key}@${type.version}:${part}`;
  let found = compiled.get(cacheKey);
  if (!found) {
    found = schemaOf((schema.type === 'object' ? { ...schema, additionalProperties: false } : schema) as ObjectSchema);
    if (compiled.size >= 1000) compiled.delete(compiled.keys().next().value!);
    compiled.set(cacheKey, found);
  }
  return found;
};

/**
 * Refuses a start the type's declaration does not allow: 403 for the starter's role, 422 naming the title or each
 * context key. Answers the context as declared (defaults filled in).
 */
export function checkStart(type: SavedType, role: Role, title: string, context: Record<string, unknown>): Record<string, unknown> {
  const input = (type.input ?? {}) as TypeInput;
  if (input.startRoles && !input.startRoles.includes(role)) {
    throw problems.forbidden(`only ${input.startRoles.join(' or ')} users start a ${type.key}; you are ${role}`);
  }
  if (input.title) checkValue(type, 'title', input.title, title, 'body.title');
  return checkValues(type, 'context', input.context, context, 'body.context', `${type.key} takes no initial context (its type declares none)`);
}

/** Refuses event data the type's declaration does not allow: 422 naming each key. Answers the data as declared. */
export function checkEventData(type: SavedType, event: string, data: Record<string, unknown>): Record<string, unknown> {
  const events = ((type.input ?? {}) as TypeInput).events ?? {};
  const schema = Object.hasOwn(events, event) ? events[event] : undefined;
  return checkValues(type, `event:${event}`, schema, data, 'body.data', `"${event}" carries no data (its type declares none)`);
}

function checkValues(
  type: SavedType,
  part: string,
  schema: ObjectSchema | undefined,
  values: Record<string, unknown>,
  where: string,
  undeclared: string,
): Record<string, unknown> {
  if (!schema) {
    const issues = Object.keys(values).map((key) => ({ code: 'custom', path: [key], message: undeclared, input: values[key] }) as z.core.$ZodIssue);
    if (issues.length > 0) throw validationProblem(where, new z.ZodError(issues));
    return values;
  }
  return checkValue(type, part, schema, values, where) as Record<string, unknown>;
}

function checkValue(type: SavedType, part: string, schema: Record<string, unknown>, value: unknown, where: string): unknown {
  const parsed = compiledOf(type, part, schema).safeParse(value);
  const issues = parsed.success ? uniqueByIssues(schema, parsed.data, []) : parsed.error.issues.map((issue) => withDeclaredMessage(schema, issue));
  if (issues.length > 0) throw validationProblem(where, new z.ZodError(issues));
  return parsed.data;
}

/** The schema of the value at `path` inside `schema` (through `properties` and `items`), if declared. */
function schemaAt(schema: Record<string, unknown>, path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let at: unknown = schema;
  for (const key of path) {
    const node = at as { properties?: Record<string, unknown>; items?: unknown } | undefined;
    if (typeof key === 'number') at = node?.items;
    else at = node?.properties && Object.hasOwn(node.properties, key as string) ? node.properties[key as string] : undefined;
    if (!at || typeof at !== 'object') return undefined;
  }
  return at as Record<string, unknown>;
}

/** A failure where the schema declares `errorMessage` carries that message: the type's own words. */
function withDeclaredMessage(schema: Record<string, unknown>, issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code === 'unrecognized_keys') return issue;
  const message = schemaAt(schema, issue.path)?.errorMessage;
  return typeof message === 'string' ? { ...issue, message } : issue;
}

/** `x-uniqueBy: field` on an array: the second item with a value of that field already seen is refused there. */
function uniqueByIssues(schema: Record<string, unknown>, value: unknown, path: PropertyKey[]): z.core.$ZodIssue[] {
  const issues: z.core.$ZodIssue[] = [];
  if (Array.isArray(value)) {
    const field = schema['x-uniqueBy'];
    const items = schema.items && typeof schema.items === 'object' ? (schema.items as Record<string, unknown>) : undefined;
    const seen = new Set<unknown>();
    value.forEach((item, index) => {
      if (typeof field === 'string' && item && typeof item === 'object' && Object.hasOwn(item, field)) {
        const key = (item as Record<string, unknown>)[field];
        if (seen.has(key)) issues.push({ code: 'custom', path: [...path, index, field], message: `${field} ${String(key)} is listed twice`, input: key });
        seen.add(key);
      }
      if (items) issues.push(...uniqueByIssues(items, item, [...path, index]));
    });
  } else if (value && typeof value === 'object') {
    const properties = schema.properties && typeof schema.properties === 'object' ? (schema.properties as Record<string, Record<string, unknown>>) : {};
    for (const [key, child] of Object.entries(value)) {
      if (Object.hasOwn(properties, key)) issues.push(...uniqueByIssues(properties[key]!, child, [...path, key]));
    }
  }
  return issues;
}
