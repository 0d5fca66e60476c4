// Inventory context over HTTP: the performer starts the inventory and records the counts; the inventory
// issue hears of the start on topic `inventory/<id>`. Every change raises the inventory's version, given as the ETag.
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, eq, sql } from 'drizzle-orm';
import { eachSkuOnce, ItemName, Quantity, Sku } from '../lib/inventory/issue-type.js';
import { publishToTopic } from '../lib/issues/topics.js';
import { transaction, type Tx } from '../db/client.js';
import { appendEvent } from '../db/events.js';
import { inventories, inventoryLines, inventoryStatuses } from '../db/schema/inventory.js';
import { issues } from '../db/schema/issues.js';
import type { PublicUser } from '../lib/auth/users.js';
import { authResponses, createRouter, IdParam, jsonBody, jsonContent, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { issueService } from './issues.js';
import { ProblemError, problemContent, problems } from './problem.js';
import { signedIn } from './security.js';

const LineSchema = z.object({
  sku: z.string(),
  name: z.string(),
  expectedQuantity: z.number().int(),
  countedQuantity: z.number().int().nullable().openapi({ description: 'Null until counted.' }),
});

const InventorySchema = z
  .object({
    id: z.uuid(),
    issueId: z.uuid(),
    location: z.string(),
    status: z.enum(inventoryStatuses),
    note: z.string(),
    version: z.number().int().openapi({ description: 'Raised by every change; also the ETag.' }),
    lines: z.array(LineSchema),
    createdAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    closedAt: z.iso.datetime().nullable(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Inventory');
type InventoryJson = z.infer<typeof InventorySchema>;

const LinePatch = z
  .object({ sku: Sku, name: ItemName.optional(), countedQuantity: Quantity.nullable().optional() })
  .strict()
  .openapi('InventoryLinePatch', { description: 'Counts (or renames) the line of the sku; a sku not listed yet is added, with a name, as found but not expected.' });

const PatchInventoryBody = z
  .strictObject(
    {
      note: z.string().trim().max(2000).optional(),
      lines: z
        .array(LinePatch)
        .min(1)
        .max(1000)
        .superRefine(eachSkuOnce('edited twice'))
        .optional(),
    },
    {
      // Says why, rather than "unrecognized key".
      error: (issue) =>
        issue.code === 'unrecognized_keys' && issue.keys.includes('status')
          ? 'the status is not edited: it changes by start and by closing the issue'
          : undefined,
    },
  )
  .refine((body) => body.note !== undefined || body.lines !== undefined, 'change at least one of note, lines')
  .openapi('PatchInventoryRequest');

const IfMatchHeaders = z.object({
  'if-match': z
    .string()
    .max(200)
    .optional()
    .openapi({ description: 'The ETag of the version the change is based on (required): a stale one is refused with 412.' }),
});

const etagHeader = { ETag: { description: 'The inventory version, to send back as If-Match', schema: { type: 'string' as const } } };
const etag = (version: number) => `"${version}"`;

/** Strong comparison (RFC 9110 §13.1.1): `*`, or a list of quoted tags one of which is the current version. */
function ifMatchAccepts(header: string, version: number): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim() === etag(version));
}

export function inventoryService(deps: ApiDeps) {
  const { db } = deps.database;
  const issuesOf = issueService(deps);

  /** The inventory, locked for the transaction, with the issue that owns it (its assignee is the performer). */
  const load = async (tx: Tx, id: string) => {
    const [row] = await tx.select().from(inventories).where(eq(inventories.id, id)).for('update');
    if (!row) throw problems.notFound(`inventory ${id}`);
    const [issue] = await tx.select().from(issues).where(eq(issues.id, row.issueId));
    if (!issue) throw problems.notFound(`inventory ${id}`);
    return { row, issue };
  };

  const requireAssignee = (user: PublicUser, issue: typeof issues.$inferSelect, action: string) => {
    if (issue.assigneeId !== user.id) throw problems.forbidden(`only the assignee of issue ${issue.id} may ${action} this inventory`);
  };

  const toJson = async (tx: Tx, row: typeof inventories.$inferSelect): Promise<InventoryJson> => {
    const lines = await tx
      .select({
        sku: inventoryLines.sku,
        name: inventoryLines.name,
        expectedQuantity: inventoryLines.expectedQuantity,
        countedQuantity: inventoryLines.countedQuantity,
      })
      .from(inventoryLines)
      .where(eq(inventoryLines.inventoryId, row.id))
      .orderBy(asc(inventoryLines.position));
    return {
      id: row.id,
      issueId: row.issueId,
      location: row.location,
      status: row.status,
      note: row.note,
      version: row.version,
      lines,
      createdAt: row.createdAt.toISOString(),
      startedAt: row.startedAt?.toISOString() ?? null,
      closedAt: row.closedAt?.toISOString() ?? null,
      updatedAt: row.updatedAt.toISOString(),
    };
  };

  return {
    /** Whoever may see the issue (involved users, managers, admins) may read its inventory. */
    async get(user: PublicUser, id: string): Promise<InventoryJson> {
      const [row] = await db.select().from(inventories).where(eq(inventories.id, id));
      const [issue] = row ? await db.select().from(issues).where(eq(issues.id, row.issueId)) : [];
      if (!row || !issue) throw problems.notFound(`inventory ${id}`);
      if (!issuesOf.mayRead(user, issue)) throw problems.forbidden(`inventory ${id} is not yours to see`);
      return toJson(db, row);
    },

    /**
     * `created` → `started`, then `inventory.started` is published to `inventory/<id>`, after the commit (the issue must
     * never hear of a start that did not happen). If that publish fails, the caller gets a 503 and retries: a start of
     * an already started inventory by its assignee publishes again before answering 409, so the event is never lost,
     * and the issue ignores a second one once it has moved on.
     */
    async start(user: PublicUser, id: string): Promise<InventoryJson> {
      // Undefined when it was started already: announced again below, then refused.
      const started = await transaction(db, 'inventory.start', async (tx) => {
        const { row, issue } = await load(tx, id);
        requireAssignee(user, issue, 'start');
        if (row.status === 'closed') throw problems.conflict(`inventory ${id} is closed`, 'inventory-closed');
        if (row.status === 'started') return undefined;
        const now = new Date();
        const [updated] = await tx
          .update(inventories)
          .set({ status: 'started', startedAt: now, updatedAt: now, version: sql`${inventories.version} + 1` })
          .where(eq(inventories.id, id))
          .returning();
        await appendEvent(tx, {
          name: 'inventory.started',
          version: 1,
          producer: 'inventory',
          data: { inventoryId: id, issueId: row.issueId, startedBy: user.id },
        });
        return toJson(tx, updated!);
      });
      try {
        await publishToTopic(deps, { topic: `inventory/${id}`, type: 'inventory.started', data: { inventoryId: id, startedBy: user.id } });
      } catch (error) {
        deps.log.error(`inventory ${id} started, but its issue could not be told`, error);
        throw new ProblemError(503, 'unavailable', `inventory ${id} is started, but its issue has not heard yet: send start again`, undefined, {
          'Retry-After': '5',
        });
      }
      if (!started) throw problems.conflict(`inventory ${id} is already started`, 'already-started');
      return started;
    },

    /** Edits the note and lines (never the status) of an inventory that is not closed, if `If-Match` names its current version. */
    async edit(user: PublicUser, id: string, ifMatch: string | undefined, patch: z.infer<typeof PatchInventoryBody>): Promise<InventoryJson> {
      return transaction(db, 'inventory.edit', async (tx) => {
        const { row, issue } = await load(tx, id);
        // Closed is told to whoever may see it (the performer after closing the issue is no longer its assignee).
        if (!issuesOf.mayRead(user, issue)) requireAssignee(user, issue, 'edit');
        if (row.status === 'closed') throw problems.conflict(`inventory ${id} is closed: it takes no more edits`, 'inventory-closed');
        requireAssignee(user, issue, 'edit');
        if (ifMatch === undefined) {
          throw new ProblemError(428, 'precondition-required', `send If-Match with the ETag of inventory ${id} (now ${etag(row.version)})`, [
            { field: 'header.if-match', message: 'required' },
          ]);
        }
        if (!ifMatchAccepts(ifMatch, row.version)) {
          throw new ProblemError(412, 'precondition-failed', `inventory ${id} is at version ${etag(row.version)}, not ${ifMatch}: read it again and redo the change`);
        }
        const existing = new Map(
          (await tx.select().from(inventoryLines).where(eq(inventoryLines.inventoryId, id))).map((line) => [line.sku, line]),
        );
        let nextPosition = Math.max(-1, ...[...existing.values()].map((line) => line.position)) + 1;
        const now = new Date();
        for (const [index, line] of (patch.lines ?? []).entries()) {
          const current = existing.get(line.sku);
          if (current) {
            await tx
              .update(inventoryLines)
              .set({
                ...(line.name !== undefined ? { name: line.name } : {}),
                ...(line.countedQuantity !== undefined ? { countedQuantity: line.countedQuantity } : {}),
                updatedAt: now,
              })
              .where(and(eq(inventoryLines.inventoryId, id), eq(inventoryLines.sku, line.sku)));
          } else {
            if (line.name === undefined) throw problems.invalid(`body.lines.${index}.name`, `sku ${line.sku} is not listed: name the item to add it`);
            await tx.insert(inventoryLines).values({
              inventoryId: id,
              sku: line.sku,
              position: nextPosition++,
              name: line.name,
              expectedQuantity: 0,
              countedQuantity: line.countedQuantity ?? null,
              updatedAt: now,
            });
          }
        }
        const [updated] = await tx
          .update(inventories)
          .set({ ...(patch.note !== undefined ? { note: patch.note } : {}), updatedAt: now, version: sql`${inventories.version} + 1` })
          .where(eq(inventories.id, id))
          .returning();
        await appendEvent(tx, {
          name: 'inventory.updated',
          version: 1,
          producer: 'inventory',
          data: { inventoryId: id, issueId: row.issueId, version: updated!.version, by: user.id, note: patch.note ?? null, lines: patch.lines ?? [] },
        });
        return toJson(tx, updated!);
      });
    },
  };
}

export function inventoryRoutes(deps: ApiDeps) {
  const app = createRouter();
  const service = inventoryService(deps);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/inventories/{id}',
      operationId: 'getInventory',
      tags: ['inventory'],
      summary: 'An inventory with its lines; the ETag is its version',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: {
        200: { ...jsonContent(InventorySchema, 'The inventory'), headers: etagHeader },
        ...authResponses,
        403: problemContent('Only users involved in its issue, managers and admins read an inventory'),
        404: problemContent('No such inventory'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const inventory = await service.get(c.get('user'), c.req.valid('param').id);
      c.header('ETag', etag(inventory.version));
      return c.json(inventory, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/inventories/{id}/start',
      operationId: 'startInventory',
      tags: ['inventory'],
      summary: 'Start the inventory (the assignee of its issue); the issue hears of it on topic inventory/<id>',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: {
        200: { ...jsonContent(InventorySchema, 'The started inventory'), headers: etagHeader },
        401: authResponses[401],
        403: problemContent('Only the assignee of the inventory issue starts it'),
        404: problemContent('No such inventory'),
        409: problemContent('The inventory is already started (its start is announced again) or closed'),
        503: problemContent('Started, but the issue could not be told yet: send start again'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const inventory = await service.start(c.get('user'), c.req.valid('param').id);
      c.header('ETag', etag(inventory.version));
      return c.json(inventory, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/inventories/{id}',
      operationId: 'updateInventory',
      tags: ['inventory'],
      summary: 'Record counts, add found items, change the note (never the status); needs If-Match',
      ...signedIn(deps),
      request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(PatchInventoryBody) },
      responses: {
        200: { ...jsonContent(InventorySchema, 'The edited inventory'), headers: etagHeader },
        401: authResponses[401],
        403: problemContent('Only the assignee of the inventory issue edits it'),
        404: problemContent('No such inventory'),
        409: problemContent('The inventory is closed'),
        412: problemContent('If-Match names a version that is no longer current: read it again'),
        428: problemContent('If-Match is missing'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const inventory = await service.edit(c.get('user'), c.req.valid('param').id, c.req.valid('header')['if-match'], c.req.valid('json'));
      c.header('ETag', etag(inventory.version));
      return c.json(inventory, 200);
    },
  );

  return app;
}
