import { desc, sql } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './auth.js';

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
