import { sql } from 'drizzle-orm';
import { bigserial, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/** The domain event log: audit trail and the feed outside consumers read (`GET /events`). */
export const domainEvents = pgTable(
  'domain_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: uuid('id').notNull().unique().defaultRandom(),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull().defaultNow(),
    producer: text('producer').notNull(),
    data: jsonb('data').notNull(),
    // The writing transaction: the feed only shows events whose transaction can no longer be
    // in flight, so a reader paging by `seq` never skips an event committed late.
    txId: xid8('tx_id').notNull().default(sql`pg_current_xact_id()`),
  },
  (t) => [
    index('domain_events_name_seq_idx').on(t.name, t.seq),
    // Webhook delivery reads the log in this order: a transaction below the oldest one in flight is final, so a
    // cursor on (tx_id, seq) never passes an event that commits later (seq alone can: seq is taken at insert).
    index('domain_events_tx_seq_idx').on(t.txId, t.seq),
  ],
);

/** First answer to a POST carrying an Idempotency-Key, per caller and route. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    // sha256 of the method, path and canonical body the key was first used for (null on answers stored before).
    requestHash: text('request_hash'),
    status: integer('status').notNull(),
    body: jsonb('body').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);
