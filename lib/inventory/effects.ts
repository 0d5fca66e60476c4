// The inventory context's effects an inventory issue's steps run inside their own transaction
// (activities/issue-step.ts). Each changes the inventory and appends its domain event in that transaction, and is
// idempotent: one inventory per issue, and a status already reached is answered again without writing anything.
import { ApplicationFailure } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Transaction, Tx } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { inventories, inventoryLines, type InventoryStatus } from '../../db/schema/inventory.js';
import type { EffectInput, IssueEvent } from '../../workflows/statechart/catalog.js';
import { stableUuid } from '../ids.js';
import { InventoryFields } from './issue-type.js';

/** An inventory's place and expected items, read from its issue's whole context (which holds more). */
const InventoryContext = z.object(InventoryFields.shape);

const producer = 'inventory';

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'Inventory.InvalidInput', message, nonRetryable: true });
}

/** The issue's inventory, locked for the rest of the transaction. */
async function lockedByIssue(tx: Tx, issueId: string) {
  const [row] = await tx.select().from(inventories).where(eq(inventories.issueId, issueId)).for('update');
  if (!row) throw ApplicationFailure.create({ type: 'Inventory.NotFound', message: `issue ${issueId} has no inventory`, nonRetryable: true });
  return row;
}

/** Moves the issue's inventory to `to` unless it is there already (a retry), with its event in the same transaction. */
async function moveTo(
  tx: Transaction,
  input: EffectInput,
  to: InventoryStatus,
  event: string,
  extra: (tx: Tx, row: typeof inventories.$inferSelect) => Promise<Record<string, unknown>> | Record<string, unknown> = () => ({}),
): Promise<string> {
  const row = await lockedByIssue(tx, input.issueId);
  if (row.status === to) return row.id;
  const now = new Date();
  await tx
    .update(inventories)
    .set({
      status: to,
      version: sql`${inventories.version} + 1`,
      updatedAt: now,
      ...(to === 'closed' ? { closedAt: now } : { closedAt: null }),
    })
    .where(eq(inventories.id, row.id));
  await appendEvent(tx, {
    id: stableUuid(`${input.key}:${event}`),
    name: event,
    version: 1,
    producer,
    data: { inventoryId: row.id, issueId: input.issueId, ...(await extra(tx, row)) },
  });
  return row.id;
}

/** The inventory effects an issue step runs inside its own transaction. */
export const inventoryEffects = {
  /** Effect `createInventory`: the inventory of `context.location` and `context.items`; answers `inventory.created {inventoryId}`. */
  async createInventory(tx: Transaction, input: EffectInput): Promise<IssueEvent> {
    const parsed = InventoryContext.safeParse(input.context);
    if (!parsed.success) {
      throw invalid(`issue ${input.issueId}: ${parsed.error.issues.map((i) => `context.${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const { location, items } = parsed.data;
    const [created] = await tx
      .insert(inventories)
      .values({ id: randomUUID(), issueId: input.issueId, location })
      .onConflictDoNothing({ target: inventories.issueId })
      .returning({ id: inventories.id });
    if (!created) {
      // A retry after the first attempt committed: the same inventory, no second event.
      const [existing] = await tx.select({ id: inventories.id }).from(inventories).where(eq(inventories.issueId, input.issueId));
      return { type: 'inventory.created', data: { inventoryId: existing!.id } };
    }
    await tx.insert(inventoryLines).values(items.map((item, position) => ({ inventoryId: created.id, position, ...item })));
    await appendEvent(tx, {
      id: stableUuid(`${input.key}:inventory.created`),
      name: 'inventory.created',
      version: 1,
      producer,
      data: { inventoryId: created.id, issueId: input.issueId, location, items },
    });
    return { type: 'inventory.created', data: { inventoryId: created.id } };
  },

  /** Effect `closeInventory`: no more edits; answers `inventory.closed {inventoryId}` with how the count came out. */
  async closeInventory(tx: Transaction, input: EffectInput): Promise<IssueEvent> {
    const inventoryId = await moveTo(tx, input, 'closed', 'inventory.closed', async (tx, row) => {
      const [summary] = await tx
        .select({
          lines: sql<number>`count(*)::int`,
          uncounted: sql<number>`(count(*) filter (where ${inventoryLines.countedQuantity} is null))::int`,
          discrepancies: sql<number>`(count(*) filter (where ${inventoryLines.countedQuantity} <> ${inventoryLines.expectedQuantity}))::int`,
        })
        .from(inventoryLines)
        .where(eq(inventoryLines.inventoryId, row.id));
      return { ...summary };
    });
    return { type: 'inventory.closed', data: { inventoryId } };
  },

  /** Effect `reopenInventory`: a returned inventory is `started` again, open to the performer's edits; answers `inventory.reopened`. */
  async reopenInventory(tx: Transaction, input: EffectInput): Promise<IssueEvent> {
    const inventoryId = await moveTo(tx, input, 'started', 'inventory.reopened', () => ({ comment: input.context.returnComment ?? null }));
    return { type: 'inventory.reopened', data: { inventoryId } };
  },
};
