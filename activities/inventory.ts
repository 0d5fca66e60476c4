// Inventory context: the activities its worker runs (the effects themselves: lib/inventory/effects.ts).
import { transaction } from '../db/client.js';
import { inventoryEffects } from '../lib/inventory/effects.js';
import type { EffectInput } from '../workflows/statechart/catalog.js';
import type { ActivityDeps } from './deps.js';

/** The same effects as activities of their own, for issues started before steps ran in one transaction. */
export function createInventoryActivities({ database: { db } }: ActivityDeps) {
  return {
    createInventory: (input: EffectInput) => transaction(db, 'inventory.create', (tx) => inventoryEffects.createInventory(tx, input)),
    closeInventory: (input: EffectInput) => transaction(db, 'inventory.close', (tx) => inventoryEffects.closeInventory(tx, input)),
    reopenInventory: (input: EffectInput) => transaction(db, 'inventory.reopen', (tx) => inventoryEffects.reopenInventory(tx, input)),
  };
}

export type InventoryActivities = ReturnType<typeof createInventoryActivities>;
