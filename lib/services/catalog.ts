// The service catalog: what clients can order, at which price. Each change appends its domain event in the same
// transaction.
import { asc, eq, inArray } from 'drizzle-orm';
import { transaction, type Db, type Tx } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { services, type ServiceRow } from '../../db/schema/services.js';

export type NewService = Pick<typeof services.$inferInsert, 'name' | 'description' | 'priceCents' | 'active'>;

/** A service as the API shows it and its events carry it. */
export const serviceJson = (row: ServiceRow) => ({ ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() });

/** The catalog by name, or only its active (or inactive) services. */
export const listServices = (db: Tx, filter: { active?: boolean }) =>
  db
    .select()
    .from(services)
    .where(filter.active === undefined ? undefined : eq(services.active, filter.active))
    .orderBy(asc(services.name));

export const serviceById = async (db: Tx, id: string): Promise<ServiceRow | undefined> => (await db.select().from(services).where(eq(services.id, id)))[0];

/** Whether each of the services is active, by id; a service not in the catalog is not in the map. */
export const activeByService = async (db: Tx, ids: string[]): Promise<Map<string, boolean>> =>
  new Map((await db.select({ id: services.id, active: services.active }).from(services).where(inArray(services.id, ids))).map((s) => [s.id, s.active]));

/** Adds a service with its `service.created` event; undefined when the name is taken. */
export async function addService(tx: Tx, service: NewService): Promise<ServiceRow | undefined> {
  const [created] = await tx.insert(services).values(service).onConflictDoNothing({ target: services.name }).returning();
  if (created) await appendEvent(tx, { name: 'service.created', version: 1, producer: 'services', data: serviceJson(created) });
  return created;
}

/**
 * Changes a service with its `service.updated` event; undefined when there is no such service. A name another
 * service has fails with PostgreSQL's unique_violation.
 */
export const changeService = (db: Db, id: string, changes: Partial<NewService>): Promise<ServiceRow | undefined> =>
  transaction(db, 'services.service.change', async (tx) => {
    const [changed] = await tx
      .update(services)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(services.id, id))
      .returning();
    if (changed) await appendEvent(tx, { name: 'service.updated', version: 1, producer: 'services', data: { ...serviceJson(changed), changed: Object.keys(changes) } });
    return changed;
  });
