// The built-in issue types, each defined by its own context (lib/tasks/, lib/services/, lib/inventory/): the
// registry the runtime writes into the database at start-up, and what the API adds to a built-in issue's context.
import { sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { issueTypes } from '../../db/schema/issues.js';
import type { Config } from '../config.js';
import { inventoryStartContext, inventoryType } from '../inventory/issue-type.js';
import { serviceRequestType } from '../services/issue-type.js';
import { taskType } from '../tasks/issue-type.js';

/**
 * Built-in issue types, seeded as version 1 when their key does not exist yet. Their input declarations were
 * rules in code before types stored them: a version 1 seeded without one gets it written down (the same rules).
 */
export const builtinIssueTypes = [taskType, serviceRequestType, inventoryType];

/** Context the API adds when a built-in type starts, by type key: configured values its statechart reads. */
const startContexts: Record<string, (config: Config) => Record<string, unknown>> = { [inventoryType.key]: inventoryStartContext };

/** The start context of a type (own keys only: a type key such as `constructor` names no built-in type). */
export const startContextOf = (typeKey: string, config: Config): Record<string, unknown> | undefined =>
  Object.hasOwn(startContexts, typeKey) ? startContexts[typeKey]!(config) : undefined;

export async function ensureBuiltinIssueTypes(db: Db): Promise<void> {
  for (const type of builtinIssueTypes) {
    await db.execute(sql`
      insert into ${issueTypes} (key, version, name, description, definition, input)
      select ${type.key}, 1, ${type.name}, ${type.description}, ${JSON.stringify(type.definition)}::jsonb, ${JSON.stringify(type.input)}::jsonb
      where not exists (select 1 from ${issueTypes} where key = ${type.key})
      on conflict do nothing`);
    await db.execute(sql`
      update ${issueTypes} set input = ${JSON.stringify(type.input)}::jsonb
      where key = ${type.key} and version = 1 and created_by is null and input is null`);
  }
}
