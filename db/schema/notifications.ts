import { desc, sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.js';
import { xid8 } from './platform.js';

/** In-app notifications; `key` makes a retried notify record each recipient's notification once. */
export const notifications = pgTable(
  'notifications',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    issueId: uuid('issue_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    key: text('key').notNull(),
    // Millisecond precision (kept from when list cursors held a JS Date; db/paging.ts keys pages on the stored value).
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    readAt: timestamp('read_at', { withTimezone: true, precision: 3 }),
  },
  (t) => [
    uniqueIndex('notifications_user_key_idx').on(t.userId, t.key),
    // The caller's list, newest first, and its unread filter.
    index('notifications_user_created_idx').on(t.userId, desc(t.createdAt), desc(t.id)),
    index('notifications_user_unread_idx').on(t.userId, desc(t.createdAt), desc(t.id)).where(sql`${t.readAt} is null`),
  ],
);

export type NotificationRow = typeof notifications.$inferSelect;

/** The PostgreSQL NOTIFY channel announcing each committed notification to API processes. */
export const notificationsChannel = 'notifications';
/** The NOTIFY payload: ids only, well under PostgreSQL's 8000-byte limit; listeners read the row. */
export interface NotificationAnnouncement {
  userId: string;
  id: string;
}

export const emailDeliveryStatuses = ['sent', 'logged', 'failed', 'pending'] as const;
export type EmailDeliveryStatus = (typeof emailDeliveryStatuses)[number];
export const emailDeliveryStatusEnum = pgEnum('email_delivery_status', emailDeliveryStatuses);

/**
 * Every e-mail the system sends, keyed so a retried activity mails once: `sent` through SMTP,
 * `logged` when no SMTP server is configured, `failed` with the last error until a retry succeeds,
 * `pending` when an issue step recorded it (an outbox row) and its delivery has not run yet.
 */
export const emailDeliveries = pgTable('email_deliveries', {
  id: uuid('id').primaryKey().defaultRandom(),
  key: text('key').notNull().unique(),
  recipients: text('recipients').array().notNull(),
  subject: text('subject').notNull(),
  body: text('body').notNull(),
  status: emailDeliveryStatusEnum('status').notNull(),
  error: text('error'),
  attempts: integer('attempts').notNull().default(1),
  sentAt: timestamp('sent_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type EmailDeliveryRow = typeof emailDeliveries.$inferSelect;

/**
 * Webhook subscriptions (Standard Webhooks): `url` receives every domain event named in `eventTypes`, signed with
 * `secret` (`whsec_` + base64). The cursor is the position in the event log (`domain_events` ordered by the writing
 * transaction, then `seq`) through which events were delivered or given up; it only moves forward, in the
 * transaction that records the attempt that moved it.
 */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    url: text('url').notNull(),
    eventTypes: text('event_types').array().notNull(),
    secret: text('secret').notNull(),
    cursorTxId: xid8('cursor_tx_id').notNull(),
    cursorSeq: bigint('cursor_seq', { mode: 'number' }).notNull(),
    createdBy: uuid('created_by').references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('webhook_subscriptions_created_idx').on(desc(t.createdAt), desc(t.id))],
);

export type WebhookSubscriptionRow = typeof webhookSubscriptions.$inferSelect;

export const webhookDeliveryOutcomes = ['succeeded', 'failed', 'gave_up'] as const;
export type WebhookDeliveryOutcome = (typeof webhookDeliveryOutcomes)[number];
export const webhookDeliveryOutcomeEnum = pgEnum('webhook_delivery_outcome', webhookDeliveryOutcomes);

/**
 * Every attempt to deliver an event to a subscription: `succeeded` (a 2xx), `failed` (another status or no answer,
 * retried), or `gave_up` (the retry window ended: recorded once, no request made, and the cursor moved past it).
 * Deleted with their subscription.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    eventId: uuid('event_id').notNull(),
    eventSeq: bigint('event_seq', { mode: 'number' }).notNull(),
    /** The `webhook-id` header: the same for every attempt of this event to this subscription. */
    messageId: text('message_id').notNull(),
    attempt: integer('attempt').notNull(),
    outcome: webhookDeliveryOutcomeEnum('outcome').notNull(),
    httpStatus: integer('http_status'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    attemptedAt: timestamp('attempted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_attempt_idx').on(t.subscriptionId, t.eventId, t.attempt),
    index('webhook_deliveries_list_idx').on(t.subscriptionId, desc(t.attemptedAt), desc(t.id)),
  ],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
