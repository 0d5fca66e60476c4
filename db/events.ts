import { sql } from 'drizzle-orm';
import { issueTypes } from './schema/issues.js';
import { domainEvents } from './schema/platform.js';
import type { Tx } from './client.js';

export interface DomainEventInput {
  name: string;
  version: number;
  producer: string;
  data: Record<string, unknown>;
  /** Set when the event must be written at most once (a retried activity passes the same id). */
  id?: string;
}

/** Appends a domain event inside the caller's transaction, so it commits with the change it reports. */
export async function appendEvent(tx: Tx, event: DomainEventInput): Promise<void> {
  await appendEvents(tx, [event]);
}

/** Appends domain events in the order given, with one statement. */
export async function appendEvents(tx: Tx, events: DomainEventInput[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(domainEvents).values(events).onConflictDoNothing({ target: domainEvents.id });
}

/**
 * The domain events the product's code writes itself. Issue types add their own through `emit` actions (the
 * built-in ones `task.*`, `service.*`, `inventory.*`), read from the saved definitions by `knownDomainEventNames`.
 */
export const codeDomainEventNames = [
  'user.created',
  'user.updated',
  'issue.transitioned',
  'issue.migrated',
  'notification.sent',
  'billing.entry.recorded',
  'billing.payout.made',
  'billing.day.closed',
  'service.created',
  'service.updated',
  'worker_application.submitted',
  'worker_application.approved',
  'worker_application.rejected',
  'worker.rated',
  'inventory.created',
  'inventory.started',
  'inventory.updated',
  'inventory.closed',
  'inventory.reopened',
] as const;

/** Every domain event name the product can write: the code's own and those of every saved issue type version's `emit` actions. */
export async function knownDomainEventNames(tx: Tx): Promise<Set<string>> {
  const emitted = await tx.execute<{ name: string }>(sql`
    select distinct emitted #>> '{}' as name
    from ${issueTypes}, jsonb_path_query(${issueTypes.definition}, 'strict $.**? (@.type == "emit").params.name') as emitted`);
  return new Set([...codeDomainEventNames, ...emitted.map((row) => row.name)]);
}
