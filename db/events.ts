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
