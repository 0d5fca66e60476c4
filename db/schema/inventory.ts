// Inventory context: inventory processes and their lines, created → started → closed.
import { sql } from 'drizzle-orm';
import { check, integer, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const inventoryStatuses = ['created', 'started', 'closed'] as const;
export type InventoryStatus = (typeof inventoryStatuses)[number];
export const inventoryStatusEnum = pgEnum('inventory_status', inventoryStatuses);

export const inventories = pgTable('inventories', {
  id: uuid('id').primaryKey(),
  // One inventory per issue: a retried createInventory finds the one it made instead of making another.
  issueId: uuid('issue_id').notNull().unique(),
  location: text('location').notNull(),
  status: inventoryStatusEnum('status').notNull().default('created'),
  note: text('note').notNull().default(''),
  // Raised by every change: the ETag that `If-Match` must name, so a lost update is refused.
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  closedAt: timestamp('closed_at', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** What is expected at the location and what the performer counted; lines keep the order they were added in. */
export const inventoryLines = pgTable(
  'inventory_lines',
  {
    inventoryId: uuid('inventory_id')
      .notNull()
      .references(() => inventories.id),
    sku: text('sku').notNull(),
    position: integer('position').notNull(),
    name: text('name').notNull(),
    expectedQuantity: integer('expected_quantity').notNull(),
    // Null until counted.
    countedQuantity: integer('counted_quantity'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.inventoryId, t.sku] }),
    check('inventory_lines_quantities_nonnegative', sql`${t.expectedQuantity} >= 0 and (${t.countedQuantity} is null or ${t.countedQuantity} >= 0)`),
  ],
);
