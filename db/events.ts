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
  await tx.insert(domainEvents).values(event).onConflictDoNothing({ target: domainEvents.id });
}
