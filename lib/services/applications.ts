// Workers' applications to perform services: submitted by a worker, decided once by an admin. An approval
// qualifies the worker for the application's services. Each change appends its domain event in the same transaction.
import { and, eq, getTableColumns, inArray } from 'drizzle-orm';
import { transaction, type Db, type Tx } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import type { Keyset } from '../../db/paging.js';
import {
  workerApplications,
  workerApplicationServices,
  workerQualifications,
  type WorkerApplicationRow,
  type WorkerApplicationStatus,
} from '../../db/schema/services.js';

/** The keyset the applications are listed in: oldest first. */
export const applicationOrder = [workerApplications.createdAt, workerApplications.id] as const;

/** The services each application names, by application id. */
export async function servicesOf(db: Tx, applicationIds: string[]): Promise<Map<string, string[]>> {
  const rows = applicationIds.length
    ? await db.select().from(workerApplicationServices).where(inArray(workerApplicationServices.applicationId, applicationIds))
    : [];
  const byApplication = new Map<string, string[]>(applicationIds.map((id) => [id, []]));
  for (const row of rows) byApplication.get(row.applicationId)!.push(row.serviceId);
  return byApplication;
}

/** A pending application of the worker for the services, with its `worker_application.submitted` event. */
export async function submitApplication(tx: Tx, workerId: string, application: { serviceIds: string[]; note: string }): Promise<WorkerApplicationRow> {
  const [created] = await tx.insert(workerApplications).values({ workerId, note: application.note }).returning();
  await tx.insert(workerApplicationServices).values(application.serviceIds.map((serviceId) => ({ applicationId: created!.id, serviceId })));
  await appendEvent(tx, {
    name: 'worker_application.submitted',
    version: 1,
    producer: 'services',
    data: { applicationId: created!.id, workerId, serviceIds: application.serviceIds },
  });
  return created!;
}

/** A page of applications in `pages` (ordered by `applicationOrder`), only the worker's own when `workerId` is given. */
export async function listApplications(
  db: Tx,
  pages: Keyset,
  query: { workerId?: string; status?: WorkerApplicationStatus; after?: string; limit: number },
): Promise<{ items: { row: WorkerApplicationRow; serviceIds: string[] }[]; nextCursor: string | null }> {
  const rows = await db
    .select(pages.select(getTableColumns(workerApplications)))
    .from(workerApplications)
    .where(
      and(
        query.workerId ? eq(workerApplications.workerId, query.workerId) : undefined,
        query.status && eq(workerApplications.status, query.status),
        pages.after(query.after),
      ),
    )
    .orderBy(...pages.orderBy)
    .limit(pages.fetch(query.limit));
  const { items, nextCursor } = pages.page(rows, query.limit);
  const serviceIds = await servicesOf(db, items.map((row) => row.id));
  return { items: items.map((row) => ({ row, serviceIds: serviceIds.get(row.id)! })), nextCursor };
}

export type Decision = { status: 'approved' } | { status: 'rejected'; rejectionReason: string };

/**
 * Moves a pending application to its decision, once, with its `worker_application.<status>` event; an approval
 * qualifies the worker for the application's services. Answers what was decided before when it was not pending,
 * and nothing when there is no such application.
 */
export const decideApplication = (
  db: Db,
  id: string,
  deciderId: string,
  decision: Decision,
): Promise<{ decided: { row: WorkerApplicationRow; serviceIds: string[] } } | { before: WorkerApplicationStatus } | undefined> =>
  transaction(db, 'services.application.decide', async (tx) => {
    const [row] = await tx
      .update(workerApplications)
      .set({ ...decision, decidedBy: deciderId, decidedAt: new Date() })
      .where(and(eq(workerApplications.id, id), eq(workerApplications.status, 'pending')))
      .returning();
    if (!row) {
      const [existing] = await tx.select({ status: workerApplications.status }).from(workerApplications).where(eq(workerApplications.id, id));
      return existing && { before: existing.status };
    }
    const serviceIds = (await servicesOf(tx, [id])).get(id)!;
    if (decision.status === 'approved') {
      await tx
        .insert(workerQualifications)
        .values(serviceIds.map((serviceId) => ({ serviceId, workerId: row.workerId, applicationId: id })))
        .onConflictDoNothing();
    }
    await appendEvent(tx, {
      name: `worker_application.${decision.status}`,
      version: 1,
      producer: 'services',
      data: { applicationId: id, workerId: row.workerId, serviceIds, decidedBy: deciderId, reason: row.rejectionReason },
    });
    return { decided: { row, serviceIds } };
  });

