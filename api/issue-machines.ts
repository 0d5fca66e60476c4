// The type version an issue is pinned to, as the API reads it on every event and every read: its definition, its
// declared input, and its machine, built once. A version never changes, so each is loaded once per process.
import { and, eq } from 'drizzle-orm';
import type { StateValue } from 'xstate';
import type { Db } from '../db/client.js';
import { issues, issueTypes } from '../db/schema/issues.js';
import type { Actor, IssueContext } from '../workflows/statechart/catalog.js';
import { allowedEvents, buildMachine, restore, type IssueTypeDefinition } from '../workflows/statechart/machine.js';

type Machine = ReturnType<typeof buildMachine>;

export interface PinnedType {
  key: string;
  version: number;
  input: unknown;
  machine(): Machine;
}

const pinned = new Map<string, Promise<PinnedType | undefined>>();
const maxPinned = 200;

export function pinnedType(db: Db, key: string, version: number): Promise<PinnedType | undefined> {
  const cacheKey = `${key}@${version}`;
  let found = pinned.get(cacheKey);
  if (!found) {
    found = db
      .select({ definition: issueTypes.definition, input: issueTypes.input })
      .from(issueTypes)
      .where(and(eq(issueTypes.key, key), eq(issueTypes.version, version)))
      .then(([row]) => {
        if (!row) return undefined;
        let machine: Machine | undefined;
        const build = () => (machine ??= buildMachine(row.definition as IssueTypeDefinition, { id: 'read-model', type: key }));
        return { key, version, input: row.input, machine: build };
      });
    found.catch(() => pinned.delete(cacheKey));
    // Oldest first out: the map keeps insertion order.
    if (pinned.size >= maxPinned) pinned.delete(pinned.keys().next().value!);
    pinned.set(cacheKey, found);
  }
  return found;
}

/** A state name as the read model writes it (`open`, `review.waiting`) back to a state value, for rows without one. */
function valueOfName(name: string): StateValue {
  const path = name.split('.');
  return path.reduceRight<StateValue>((inner, key) => ({ [key]: inner }), path.pop()!);
}

/**
 * The state value an issue's read model records. A parallel state's name does not say its value: such a row from
 * before values were recorded has none.
 */
export function stateValueOf(row: Pick<typeof issues.$inferSelect, 'value' | 'state'>): StateValue | undefined {
  if (row.value !== null) return row.value as StateValue;
  return row.state.includes('|') ? undefined : valueOfName(row.state);
}

/** The events a caller may send to an issue now: its pinned machine restored at the recorded state and context. */
export async function allowedEventsOf(db: Db, row: typeof issues.$inferSelect, actor: Actor): Promise<string[]> {
  if (row.status !== 'active') return [];
  const type = await pinnedType(db, row.typeKey, row.typeVersion);
  const value = stateValueOf(row);
  if (!type || value === undefined) return [];
  return allowedEvents(restore(type.machine(), value, row.context as IssueContext), actor);
}
