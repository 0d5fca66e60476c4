// The inventory issue as a statechart. The issue creates its inventory in the
// inventory context, listens on `inventory/<id>` for the performer's start, and asks the inventory context to close
// (or reopen) it. `inventory.created/started/closed/reopened` are written by the inventory context with the change;
// every other step emits its own `inventory.*` event here, so the event log tells the scenario in order.
// `context.startSla` is put in by the API at creation (INVENTORY_START_SLA).

import { z } from 'zod';
import type { Config } from '../config.js';
import { declared, matching, Text } from '../issues/builtin-input.js';

export const Sku = matching(/^[\w.\-/]+$/, 'letters, digits and . _ - /', 64);
export const ItemName = Text(200);
export const Quantity = z.number().int().min(0).max(1_000_000_000);

/** Refuses the second line of a list that names a sku already named, at that line's `sku`. */
export const eachSkuOnce =
  (saying: string) =>
  (lines: { sku: string }[], ctx: z.RefinementCtx): void => {
    const seen = new Set<string>();
    lines.forEach((line, index) => {
      if (seen.has(line.sku)) ctx.addIssue({ code: 'custom', path: [index, 'sku'], message: `sku ${line.sku} is ${saying}` });
      seen.add(line.sku);
    });
  };

/** What an inventory is created with, from its issue's context: where, and what is expected there. */
export const InventoryFields = z
  .object({
    location: Text(200),
    items: z
      .array(z.object({ sku: Sku, name: ItemName, expectedQuantity: Quantity }).strict())
      .min(1)
      .max(1000)
      .superRefine(eachSkuOnce('listed twice'))
      .meta({ 'x-uniqueBy': 'sku', errorMessage: 'list 1 to 1000 expected items' }),
  })
  .strict();
/** Context the API adds when an inventory starts: the configured start SLA its `after` delay reads. */
export const inventoryStartContext = (config: Config) => ({ startSla: config.inventory.startSla });

/** What a reviewer's `return` carries. */
const ReturnFields = z.object({ comment: Text(2000) }).strict();
const event = (name: string, data: Record<string, unknown> = {}) => ({
  type: 'emit',
  params: { name, version: 1, data: { issueId: '$issue.id', inventoryId: '$context.inventoryId', ...data } },
});

export const inventoryType = {
  key: 'inventory',
  name: 'Inventory',
  description:
    'An inventory count at a location: a random worker starts and counts it, closes the issue, and a random reviewer approves it or returns it with a comment.',
  input: { context: declared<{ type: 'object' }>(InventoryFields), events: { return: declared<{ type: 'object' }>(ReturnFields) } },
  definition: {
    id: 'inventory',
    initial: 'creatingInventory',
    states: {
      creatingInventory: {
        entry: [{ type: 'createInventory' }],
        on: {
          'inventory.created': {
            target: 'assigning',
            actions: [
              { type: 'set', params: { inventoryId: '$event.data.inventoryId' } },
              { type: 'subscribe', params: { topic: 'inventory/{{event.data.inventoryId}}' } },
              event('inventory.issue_created', { location: '$context.location' }),
            ],
          },
        },
      },
      assigning: {
        entry: [{ type: 'assignRandomUser', params: { role: 'worker' } }],
        on: {
          'assignee.assigned': {
            target: 'awaitingStart',
            actions: [
              { type: 'set', params: { assigneeId: '$event.data.userId', performerId: '$event.data.userId' } },
              event('inventory.issue_assigned', { performerId: '$context.performerId' }),
              {
                type: 'notify',
                params: {
                  to: ['performerId'],
                  kind: 'inventory.assigned',
                  title: 'Inventory at {{context.location}}',
                  body: 'Count the inventory at {{context.location}}: start it (POST /inventories/{{context.inventoryId}}/start), record the counts, then close the issue.',
                },
              },
              event('inventory.performer_notified', { performerId: '$context.performerId' }),
            ],
          },
          'assignee.unavailable': 'unassigned',
        },
      },
      // No active worker: wait until one appears.
      unassigned: {
        entry: [{ type: 'subscribe', params: { topic: 'workers/available' } }],
        exit: [{ type: 'unsubscribe', params: { topic: 'workers/available' } }],
        on: { 'worker.available': 'assigning' },
      },
      awaitingStart: {
        on: { 'inventory.started': 'counting' },
        after: { '$context.startSla': 'startOverdue' },
      },
      startOverdue: {
        entry: [
          event('inventory.start_overdue', { performerId: '$context.performerId', sla: '$context.startSla' }),
          {
            type: 'notify',
            params: {
              roles: ['manager'],
              kind: 'inventory.start_overdue',
              title: 'Inventory at {{context.location}} not started',
              body: 'The inventory at {{context.location}} (issue {{issue.id}}) was not started within {{context.startSla}} of its assignment.',
            },
          },
        ],
        on: { 'inventory.started': 'counting' },
      },
      counting: {
        on: {
          close: { target: 'closingInventory', guard: 'isAssignee', actions: [event('inventory.close_requested', { performerId: '$context.performerId' })] },
        },
      },
      closingInventory: {
        entry: [{ type: 'closeInventory' }],
        on: { 'inventory.closed': 'assigningReviewer' },
      },
      assigningReviewer: {
        entry: [{ type: 'assignRandomUser', params: { role: 'reviewer' } }],
        on: {
          'assignee.assigned': {
            target: 'inReview',
            actions: [
              { type: 'set', params: { assigneeId: '$event.data.userId', reviewerId: '$event.data.userId' } },
              {
                type: 'notify',
                params: {
                  to: ['reviewerId'],
                  kind: 'inventory.review',
                  title: 'Review the inventory at {{context.location}}',
                  body: 'The inventory at {{context.location}} is counted (GET /inventories/{{context.inventoryId}}). Approve it, or return it to the performer with a comment.',
                },
              },
              event('inventory.reviewer_notified', { reviewerId: '$context.reviewerId' }),
            ],
          },
          'assignee.unavailable': 'awaitingReviewer',
        },
      },
      // No active reviewer: managers hear of it; the issue tries again every hour, or when a manager says `retry`.
      awaitingReviewer: {
        entry: [
          event('inventory.reviewer_unavailable'),
          {
            type: 'notify',
            params: {
              roles: ['manager'],
              kind: 'inventory.reviewer_unavailable',
              title: 'No reviewer for the inventory at {{context.location}}',
              body: 'Issue {{issue.id}} waits for an active reviewer. Add one, then send it `retry` (or it retries within the hour).',
            },
          },
        ],
        after: { '1h': 'assigningReviewer' },
        on: { retry: { target: 'assigningReviewer', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } } } },
      },
      inReview: {
        on: {
          approve: {
            target: 'closed',
            guard: 'isAssignee',
            actions: [event('inventory.issue_closed', { performerId: '$context.performerId', reviewerId: '$context.reviewerId' })],
          },
          return: {
            target: 'reopeningInventory',
            guard: 'isAssignee',
            actions: [
              { type: 'set', params: { returnComment: '$event.data.comment', assigneeId: '$context.performerId' } },
              event('inventory.issue_returned', { reviewerId: '$context.reviewerId', comment: '$context.returnComment' }),
            ],
          },
        },
      },
      reopeningInventory: {
        entry: [{ type: 'reopenInventory' }],
        on: {
          'inventory.reopened': {
            target: 'counting',
            actions: [
              {
                type: 'notify',
                params: {
                  to: ['performerId'],
                  kind: 'inventory.returned',
                  title: 'Inventory at {{context.location}} returned',
                  body: 'The reviewer returned the inventory at {{context.location}}: {{context.returnComment}}. Correct the counts, then close the issue again.',
                },
              },
              event('inventory.performer_notified', { performerId: '$context.performerId' }),
            ],
          },
        },
      },
      closed: {
        type: 'final',
        entry: [{ type: 'unsubscribe', params: { topic: 'inventory/{{context.inventoryId}}' } }],
      },
    },
  },
};
