// Services context: the catalog of services, workers' applications to perform them, the
// qualifications approved applications grant, and clients' reviews of service requests rolled up per worker.
import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const workerApplicationStatuses = ['pending', 'approved', 'rejected'] as const;
export type WorkerApplicationStatus = (typeof workerApplicationStatuses)[number];
export const workerApplicationStatusEnum = pgEnum('worker_application_status', workerApplicationStatuses);

/** What clients can order. A request pins the price it was made at, so a price change never touches it. */
export const services = pgTable(
  'services',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull().unique(),
    description: text('description').notNull().default(''),
    priceCents: integer('price_cents').notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('services_price_positive', sql`${t.priceCents} > 0`)],
);

/** A worker asks to perform some services; an admin approves (qualifying them) or rejects with a reason. */
export const workerApplications = pgTable(
  'worker_applications',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // No foreign keys to users: auth owns them (as in billing).
    workerId: uuid('worker_id').notNull(),
    note: text('note').notNull().default(''),
    status: workerApplicationStatusEnum('status').notNull().default('pending'),
    rejectionReason: text('rejection_reason'),
    decidedBy: uuid('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('worker_applications_worker_idx').on(t.workerId, t.createdAt), index('worker_applications_status_idx').on(t.status, t.createdAt)],
);

export const workerApplicationServices = pgTable(
  'worker_application_services',
  {
    applicationId: uuid('application_id')
      .notNull()
      .references(() => workerApplications.id),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id),
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.serviceId] })],
);

/** Who may be offered requests for a service: written when an application is approved. */
export const workerQualifications = pgTable(
  'worker_qualifications',
  {
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id),
    workerId: uuid('worker_id').notNull(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => workerApplications.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.serviceId, t.workerId] }), index('worker_qualifications_worker_idx').on(t.workerId)],
);

/** One review per service request (its issue id), written by the request's `recordReview` effect. */
export const serviceReviews = pgTable(
  'service_reviews',
  {
    requestId: uuid('request_id').primaryKey(),
    serviceId: uuid('service_id').notNull(),
    workerId: uuid('worker_id').notNull(),
    clientId: uuid('client_id').notNull(),
    rating: integer('rating').notNull(),
    comment: text('comment').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('service_reviews_rating_range', sql`${t.rating} between 1 and 5`), index('service_reviews_worker_idx').on(t.workerId, t.createdAt)],
);

/** A worker's reviews rolled up, moved in the transaction that records each review. */
export const workerRatings = pgTable('worker_ratings', {
  workerId: uuid('worker_id').primaryKey(),
  reviews: integer('reviews').notNull().default(0),
  ratingSum: integer('rating_sum').notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type ServiceRow = typeof services.$inferSelect;
export type WorkerApplicationRow = typeof workerApplications.$inferSelect;
