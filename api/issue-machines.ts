// The events a caller may send to an issue now, computed from the read model: the issue type's pinned
// statechart restored at the recorded state value and context. No workflow is asked, so a read costs one row.
import { and, eq } from 'drizzle-orm';
import type { StateValue } from 'xstate';
import type { Db } from '../db/client.js';
import { issues, issueTypes } from '../db/schema/issues.js';
import type { Actor, IssueContext } from '../workflows/statechart/catalog.js';
import { allowedEvents, buildMachine, restore, type IssueTypeDefinition } from '../workflows/statechart/machine.js';

type Machine = ReturnType<typeof buildMachine>;

/** Machines by type key and version: a version's definition never changes, so a built machine stays right. */
const machines = new Map<string, Promise<Machine | undefined>>();
const maxMachines = 200;

function machineOf(db: Db, key: string, version: number): Promise<Machine | undefined> {
  const cacheKey = `${key}@${version}`;
  let machine = machines.get(cacheKey);
  if (!machine) {
    machine = db
      .select({ definition: issueTypes.definition })
      .from(issueTypes)
      .where(and(eq(issueTypes.key, key), eq(issueTypes.version, version)))
      .then(([row]) => (row ? buildMachine(row.definition as IssueTypeDefinition, { id: 'read-model', type: key }) : undefined));
    machine.catch(() => machines.delete(cacheKey));
    // Oldest first out: the map keeps insertion order.
    if (machines.size >= maxMachines) machines.delete(machines.keys().next().value!);
    machines.set(cacheKey, machine);
  }
  return machine;
}

/** A state name as the read model writes it (`open`, `review.waiting`) back to a state value, for rows without one. */
function valueOfName(name: string): StateValue {
  const path = name.split('.');
  return path.reduceRight<StateValue>((inner, key) => ({ [key]: inner }), path.pop()!);
}

export async function allowedEventsOf(db: Db, row: typeof issues.$inferSelect, actor: Actor): Promise<string[]> {
  if (row.status !== 'active') return [];
  const machine = await machineOf(db, row.typeKey, row.typeVersion);
  // A parallel state's name does not say its value: such a row from before values were recorded shows none.
  if (!machine || (row.value === null && row.state.includes('|'))) return [];
  const value = (row.value ?? valueOfName(row.state)) as StateValue;
  return allowedEvents(restore(machine, value, row.context as IssueContext), actor);
}
