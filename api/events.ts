// The domain event log, as a feed outside consumers page through (admin).
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, sql } from 'drizzle-orm';
import { domainEvents } from '../db/schema/platform.js';
import { authResponses, createRouter, jsonContent, pages, validationResponses } from './common.js';
import { ProblemError } from './problem.js';
import type { ApiDeps } from './deps.js';
import { signedIn } from './security.js';

export const DomainEventSchema = z
  .object({
    seq: z.number().int().openapi({ description: 'Position in the log; pass the last one seen as `after`.' }),
    id: z.uuid(),
    name: z.string().openapi({ example: 'task.assigned' }),
    version: z.number().int(),
    occurredAt: z.iso.datetime(),
    producer: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('DomainEvent');

const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0).openapi({ description: 'Return the events after the one with this `seq` (the last one seen); 0: from the start.' }),
  name: z.string().max(100).optional().openapi({ example: 'user.created' }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
// A feed with a public cursor: `after` and `nextCursor` are plain `seq` numbers, not opaque cursors. The log's order
// is (transaction id, seq), not seq alone: seq is taken at insert, so a transaction can commit an event with a lower
// seq after another's higher one was read, and a reader paging by seq would pass it for good. Events of transactions
// that may still be open are hidden; every transaction with a lower id than the oldest open one has ended, so no
// event can appear behind the position of one already returned. `after` names that position by its event's seq.
const eventPages = pages([domainEvents.txId, domainEvents.seq], 'asc');

export function eventRoutes(deps: ApiDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/events',
      operationId: 'listEvents',
      tags: ['events'],
      summary: 'The domain event log in order',
      description: 'Events in log order: by transaction, then `seq`. Pass the last `seq` seen as `after`; an event committed late is never passed over.',
      ...signedIn(deps, 'admin'),
      request: { query: EventsQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(DomainEventSchema), nextCursor: z.number().int().nullable() }),
          'Events after the cursor; `nextCursor` is null when there is nothing newer yet',
        ),
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const { after, name, limit } = c.req.valid('query');
      let position: string[] | undefined;
      if (after > 0) {
        const [seen] = await deps.database.db.select({ txId: domainEvents.txId }).from(domainEvents).where(eq(domainEvents.seq, after));
        if (!seen) throw new ProblemError(422, 'validation', 'no event has this seq', [{ field: 'query.after', message: `no event has seq ${after}` }]);
        position = [String(seen.txId), String(after)];
      }
      const rows = await deps.database.db
        .select()
        .from(domainEvents)
        .where(
          and(
            position ? eventPages.afterKey(position) : undefined,
            name ? eq(domainEvents.name, name) : undefined,
            // Hide events of transactions that may still be in flight, so no later page skips one.
            sql`${domainEvents.txId} < pg_snapshot_xmin(pg_current_snapshot())`,
          ),
        )
        .orderBy(...eventPages.orderBy)
        .limit(limit);
      const items = rows.map(({ txId: _, occurredAt, data, ...event }) => ({
        ...event,
        occurredAt: occurredAt.toISOString(),
        data: data as Record<string, unknown>,
      }));
      return c.json({ items, nextCursor: items.at(-1)?.seq ?? null }, 200);
    },
  );
  return app;
}
