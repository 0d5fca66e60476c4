// The building blocks of the built-in types' declared input (api/issue-type-input.ts): zod schemas that the
// shortcut routes validate with and that become the JSON Schema each built-in type stores as its `input`.
// A rule JSON Schema cannot say itself travels as a keyword the input check reads: `errorMessage` (the message
// for any failure at that value) and `x-uniqueBy` (array items unique by that field).
import { z } from 'zod';

/** A string matching `pattern`, refused with `message` here and wherever its JSON Schema is checked. */
export const matching = (pattern: RegExp, message: string, max: number) => z.string().max(max).regex(pattern, message).meta({ errorMessage: message });

/** Text that says something: not blank, at most `max` characters. */
export const Text = (max: number) => z.string().max(max).regex(/\S/, 'must not be blank').meta({ errorMessage: `must not be blank, at most ${max} characters` });

/** The JSON Schema a type stores for a zod schema of its input. */
export const declared = <T extends Record<string, unknown> = Record<string, unknown>>(schema: z.ZodType): T => {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return jsonSchema as T;
};
